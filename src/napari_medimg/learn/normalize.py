"""Intensity normalisation per modality, described by a plain dict (stored in model cards).

Kinds
-----
``{"kind": "ct", "window": [low, high]}``
    Clip to the window in HU and map it to [0, 1].
``{"kind": "mr"}``
    z-score over the body; background voxels become 0. The background is the voxels equal
    to 0, or, when at least 5 % of the voxels share the image's minimum (a skull-stripped
    volume stored z-scored, whose background is e.g. -3.6), those voxels.
``{"kind": "percentile", "low": 0.5, "high": 99.5}``
    Map the percentiles to [0, 1] and clip (radiographs, ultrasound, photographs).
``{"kind": "none"}``
    Cast to float32 only.
"""

from __future__ import annotations

import numpy as np

__all__ = ["normalize", "check_normalisation", "KINDS"]

KINDS = ("ct", "mr", "percentile", "none")


_FLAT_BACKGROUND = 0.05  # share of the voxels at the minimum that makes it a background


def _mr_background(data: np.ndarray) -> float:
    """The background value of an MR volume: its minimum when that is a flat plateau, else 0."""
    if data.size == 0:
        return 0.0
    low = float(np.nanmin(data))
    if low != 0.0 and np.count_nonzero(data == low) >= _FLAT_BACKGROUND * data.size:
        return low
    return 0.0


def check_normalisation(spec: dict | None) -> dict:
    """Validate a normalisation spec and fill in defaults.

    Parameters
    ----------
    spec : dict or None
        See the module docstring; None means ``{"kind": "none"}``.

    Returns
    -------
    dict
        A complete, JSON-serialisable spec.

    Raises
    ------
    ValueError
        For an unknown kind or invalid values.
    """
    spec = dict(spec or {"kind": "none"})
    kind = spec.get("kind")
    if kind not in KINDS:
        raise ValueError(f"unknown normalisation kind {kind!r}: one of {', '.join(KINDS)}")
    if kind == "ct":
        low, high = (float(v) for v in spec.get("window", (-1000.0, 1000.0)))
        if not high > low:
            raise ValueError(f"CT window must have high > low, got [{low}, {high}]")
        spec["window"] = [low, high]
    elif kind == "percentile":
        low, high = float(spec.get("low", 0.5)), float(spec.get("high", 99.5))
        if not 0.0 <= low < high <= 100.0:
            raise ValueError(f"percentiles must satisfy 0 <= low < high <= 100, got {low}, {high}")
        spec["low"], spec["high"] = low, high
    return spec


def normalize(image: np.ndarray, spec: dict | None) -> np.ndarray:
    """Normalise an image's intensities.

    Parameters
    ----------
    image : numpy.ndarray
        Any shape; for several channels each is normalised over the whole array.
    spec : dict or None
        The normalisation (see the module docstring).

    Returns
    -------
    numpy.ndarray
        float32 array of the same shape.
    """
    spec = check_normalisation(spec)
    data = np.asarray(image, dtype=np.float32)
    kind = spec["kind"]
    if kind == "ct":
        low, high = spec["window"]
        return ((np.clip(data, low, high) - low) / (high - low)).astype(np.float32)
    if kind == "mr":
        body = data != _mr_background(data)
        if not body.any():
            return np.zeros_like(data)
        values = data[body]
        std = float(values.std())
        out = np.zeros_like(data)
        out[body] = (values - float(values.mean())) / (std if std > 0 else 1.0)
        return out
    if kind == "percentile":
        low, high = np.percentile(data, [spec["low"], spec["high"]])
        if high <= low:
            return np.zeros_like(data)
        return ((np.clip(data, low, high) - low) / (high - low)).astype(np.float32)
    return data
