"""A summary of an image's geometry and values, as ``napari-medimg info`` prints it."""

from __future__ import annotations

from typing import Any

import numpy as np

from .volume import Volume

__all__ = ["volume_info", "format_info"]

_SHOWN_METADATA = ("modality", "units", "series_description", "source_format", "photometric", "transfer_syntax")


def volume_info(volume: Volume) -> dict[str, Any]:
    """Geometry in ITK convention, dtype, value range and warnings of a Volume.

    Parameters
    ----------
    volume : Volume
        What to describe.

    Returns
    -------
    dict
        ``size`` and ``spacing`` in x, y, z order (a 4D series has a 4-entry size),
        ``origin`` in LPS mm, ``direction`` as SimpleITK's 9 (or 4) row-major numbers,
        ``dtype``, ``min``, ``max`` (NaNs ignored), ``rgb``, ``warnings`` and the safe
        metadata fields that are present.
    """
    info = volume.itk_geometry()
    array = volume.array
    if array.size:
        finite = array
        if np.issubdtype(array.dtype, np.floating):
            finite = array[np.isfinite(array)]
        low = finite.min() if finite.size else float("nan")
        high = finite.max() if finite.size else float("nan")
    else:
        low = high = float("nan")
    info.update(
        dtype=str(array.dtype),
        min=low.item() if hasattr(low, "item") else low,
        max=high.item() if hasattr(high, "item") else high,
        rgb=volume.rgb,
        warnings=list(volume.metadata.get("warnings", [])),
    )
    for key in _SHOWN_METADATA:
        if volume.metadata.get(key) not in (None, ""):
            info[key] = volume.metadata[key]
    if "other_series" in volume.metadata:
        info["other_series"] = volume.metadata["other_series"]
    return info


def format_info(info: dict[str, Any]) -> str:
    """Human-readable lines for :func:`volume_info`'s dictionary."""

    def numbers(values: list[float]) -> str:
        return " ".join(f"{v:.6g}" for v in values)

    axes = ("x", "y", "z", "t")[: len(info["size"])]
    lines = [
        f"size ({' '.join(axes)}): {' '.join(str(s) for s in info['size'])}",
        f"spacing (mm): {numbers(info['spacing'])}",
        f"origin (LPS mm): {numbers(info['origin'])}",
        f"direction: {numbers(info['direction'])}",
        f"dtype: {info['dtype']}{' (RGB)' if info.get('rgb') else ''}   min: {info['min']}   max: {info['max']}",
    ]
    for key in _SHOWN_METADATA:
        if info.get(key) not in (None, ""):
            lines.append(f"{key.replace('_', ' ')}: {info[key]}")
    if info["warnings"]:
        lines.append("warnings:")
        lines.extend(f"  - {w}" for w in info["warnings"])
    else:
        lines.append("warnings: none")
    return "\n".join(lines)
