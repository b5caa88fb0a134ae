"""How an image layer looks: contrast limits from the study's window, 3D rendering presets.

Display is not data: a CT window or a 3D rendering preset changes the layer's
``contrast_limits``, ``colormap`` and ``rendering``, never its voxels (the window
*operations* in :mod:`napari_medimg.processing.enhance` stay available for pipelines that
need windowed values).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..processing.enhance import WINDOW_PRESETS
from ..volume import Volume

__all__ = [
    "image_display_kwargs",
    "looks_like_ct",
    "window_limits",
    "auto_window_limits",
    "apply_window",
    "set_contrast_limits",
    "RENDER_PRESETS",
    "apply_render_preset",
]

# Used for CT when the file names no window of its own (centre, width in HU).
_CT_DEFAULT_WINDOW = WINDOW_PRESETS["soft_tissue"]
_SAMPLE_SIZE = 2_000_000  # voxels looked at to choose a window (a strided sample)

# 3D rendering presets: napari Image layer attributes. Thresholds are in the image's
# own units (HU for CT). "iso" draws the surface where the values cross the threshold,
# "attenuated_mip" a maximum projection that fades with depth, "minip" the darkest value.
RENDER_PRESETS: dict[str, dict[str, Any]] = {
    "CT bone": {"rendering": "iso", "iso_threshold": 250.0, "colormap": "bone", "contrast_limits": (-200.0, 1500.0)},
    "CT lung and airways": {"rendering": "minip", "colormap": "gray", "contrast_limits": (-1000.0, -400.0)},
    "CT soft tissue (attenuated MIP)": {
        "rendering": "attenuated_mip",
        "attenuation": 0.02,
        "colormap": "gray",
        "contrast_limits": (-100.0, 300.0),
    },
    "CT angiography (vessels)": {"rendering": "mip", "colormap": "magma", "contrast_limits": (150.0, 600.0)},
    "MR (attenuated MIP)": {"rendering": "attenuated_mip", "attenuation": 0.5, "colormap": "gray"},
    "MR angiography (MIP)": {"rendering": "mip", "colormap": "gray"},
}
# the presets without fixed limits take the image's own 1-99.8 percentiles
_PRESET_PERCENTILES = (1.0, 99.8)


def _sample(array: Any) -> np.ndarray:
    """A strided sample of at most about two million finite values (no copy of the volume)."""
    flat = np.asarray(array).reshape(-1)
    sample = flat[:: max(1, flat.size // _SAMPLE_SIZE)]
    if np.issubdtype(sample.dtype, np.floating):
        sample = sample[np.isfinite(sample)]
    return sample


def looks_like_ct(volume: Volume) -> bool:
    """True for a CT in Hounsfield units, from its metadata or, for files that do not say
    (NIfTI, NRRD), from its values: a large share of air (below -900 HU) and nothing
    above the densest metal (about 30000 HU).

    Derived images (a gradient, a probability map) have dropped the HU units and are not CT.
    """
    if volume.rgb or volume.metadata.get("kind") == "labels":
        return False
    if volume.metadata.get("modality") == "CT":
        return volume.metadata.get("units", "HU") in ("HU", None)
    if "units" in volume.metadata and volume.metadata["units"] not in ("HU",):
        return False  # an operation's output, or a study that names other units
    sample = _sample(volume.array)
    if sample.size == 0 or sample.dtype.kind not in "iuf":
        return False
    low, high = np.percentile(sample, [1.0, 99.9])
    air = np.count_nonzero(sample < -900) / sample.size
    return bool(low < -900 and -900 < high < 30000 and air > 0.05)


def window_limits(center: float, width: float) -> tuple[float, float]:
    """Contrast limits of a window given by its centre and width."""
    return (float(center) - float(width) / 2.0, float(center) + float(width) / 2.0)


def auto_window_limits(array: Any, lower: float = 0.5, upper: float = 99.5) -> tuple[float, float]:
    """Contrast limits at two percentiles of the values (robust to hot pixels and padding)."""
    sample = _sample(array)
    if sample.size == 0:
        return (0.0, 1.0)
    low, high = np.percentile(sample, [lower, upper])
    if high <= low:
        low, high = float(sample.min()), float(sample.max()) + 1.0
    return (float(low), float(high))


def image_display_kwargs(volume: Volume) -> dict[str, Any]:
    """Layer keyword arguments (contrast limits, colormap, 3D rendering) for a first good view.

    ``metadata["window_presets"]`` is a list of ``{"name", "center", "width"}``. CT (also
    CT read from NIfTI or NRRD, recognised by :func:`looks_like_ct`) opens with the
    file's first window preset, or a soft-tissue window, and renders in 3D as a bone
    surface rather than a saturated maximum projection; other grey-level images open
    with their 0.5 and 99.5 percentiles and an attenuated maximum projection in 3D.
    """
    if volume.rgb:
        return {}
    if looks_like_ct(volume):
        presets = volume.metadata.get("window_presets") or []
        center, width = (presets[0]["center"], presets[0]["width"]) if presets else _CT_DEFAULT_WINDOW
        bone = RENDER_PRESETS["CT bone"]
        return {
            "contrast_limits": window_limits(center, width),
            "colormap": "gray",
            "rendering": bone["rendering"],
            "iso_threshold": bone["iso_threshold"],
        }
    kwargs: dict[str, Any] = {"colormap": "gray", "rendering": "attenuated_mip", "attenuation": 0.5}
    if _sample(volume.array).size:
        kwargs["contrast_limits"] = auto_window_limits(volume.array)
    return kwargs


def apply_window(layer: Any, preset: str) -> tuple[float, float]:
    """Show an image layer through a CT window preset (see ``WINDOW_PRESETS``).

    Returns
    -------
    tuple of float
        The contrast limits set.
    """
    try:
        center, width = WINDOW_PRESETS[preset]
    except KeyError:
        raise ValueError(f"unknown window preset {preset!r}; choose one of {', '.join(WINDOW_PRESETS)}") from None
    return set_contrast_limits(layer, window_limits(center, width))


def set_contrast_limits(layer: Any, limits: tuple[float, float]) -> tuple[float, float]:
    """Set a layer's contrast limits, widening its slider range first (napari clips to it)."""
    low, high = layer.contrast_limits_range
    if limits[0] < low or limits[1] > high:
        layer.contrast_limits_range = (min(low, limits[0]), max(high, limits[1]))
    layer.contrast_limits = limits
    return limits


def apply_render_preset(layer: Any, preset: str) -> dict[str, Any]:
    """Set a 3D rendering preset (see ``RENDER_PRESETS``) on an image layer.

    Returns
    -------
    dict
        The attributes set.
    """
    try:
        attributes = dict(RENDER_PRESETS[preset])
    except KeyError:
        raise ValueError(f"unknown rendering preset {preset!r}; choose one of {', '.join(RENDER_PRESETS)}") from None
    attributes.setdefault("contrast_limits", auto_window_limits(layer.data, *_PRESET_PERCENTILES))
    set_contrast_limits(layer, attributes["contrast_limits"])
    for name, value in attributes.items():
        if name != "contrast_limits":
            setattr(layer, name, value)
    return attributes
