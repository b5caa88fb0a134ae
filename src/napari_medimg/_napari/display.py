"""How an image layer should look at first: contrast limits from the study's own window."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..volume import Volume

__all__ = ["image_display_kwargs"]

# Used for CT when the file names no window of its own (centre, width in HU).
_CT_DEFAULT_WINDOW = (40.0, 400.0)


def image_display_kwargs(volume: Volume) -> dict[str, Any]:
    """Layer keyword arguments (contrast limits, colormap) for a first good view.

    ``metadata["window_presets"]`` is a list of ``{"name", "center", "width"}``.
    CT opens with the file's first window preset, or a soft-tissue window; other
    grey-level images with their 0.5 and 99.5 percentiles (robust to hot pixels and
    padding values).
    """
    if volume.rgb:
        return {}
    array = volume.array
    if volume.metadata.get("modality") == "CT":
        presets = volume.metadata.get("window_presets") or []
        center, width = (presets[0]["center"], presets[0]["width"]) if presets else _CT_DEFAULT_WINDOW
        return {"contrast_limits": (center - width / 2.0, center + width / 2.0), "colormap": "gray"}
    step = max(1, array.size // 2_000_000)
    sample = np.asarray(array).ravel()[::step]
    if np.issubdtype(sample.dtype, np.floating):
        sample = sample[np.isfinite(sample)]
    if sample.size == 0:
        return {"colormap": "gray"}
    low, high = np.percentile(sample, [0.5, 99.5])
    if high <= low:
        low, high = float(sample.min()), float(sample.max()) + 1.0
    return {"contrast_limits": (float(low), float(high)), "colormap": "gray"}
