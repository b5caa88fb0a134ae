"""Input checks shared by :mod:`napari_medimg.processing` and :mod:`napari_medimg.analysis`.

Private: one place for the image and spacing checks, so every function says the same
thing about the same mistake.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

__all__ = ["check_image", "check_mask", "check_spacing"]


def check_image(
    array: np.ndarray, name: str = "image", *, allow_nan: bool = False, nan_reason: str = ""
) -> np.ndarray:
    """A numeric, non-empty array (bool becomes a uint8 view); no copy.

    Parameters
    ----------
    array : array-like
        The image.
    name : str
        What to call it in error messages.
    allow_nan : bool
        Accept NaN values (the caller handles them); otherwise they are an error.
    nan_reason : str
        Appended to the NaN error message (e.g. why NaNs would do harm).
    """
    array = np.asarray(array)
    if array.dtype == bool:
        array = array.view(np.uint8)
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise ValueError(f"{name} must have an integer or floating dtype, got {array.dtype}")
    if array.size == 0:
        raise ValueError(f"{name} is empty (shape {array.shape})")
    if not allow_nan and np.issubdtype(array.dtype, np.floating) and np.isnan(array.min()):
        raise ValueError(
            f"{name} contains NaN values; fill them first (e.g. np.nan_to_num(image, nan=value))" + nan_reason
        )
    return array


def check_mask(mask: np.ndarray | None, shape: tuple[int, ...], *, name: str = "mask") -> np.ndarray | None:
    """A boolean mask of ``shape`` (None stays None); empty masks are an error."""
    if mask is None:
        return None
    mask = np.asarray(getattr(mask, "array", mask))  # a Volume (registry second input) or an array
    if mask.shape != tuple(shape):
        raise ValueError(f"{name} has shape {mask.shape} but the image has {tuple(shape)}; they must match")
    mask = mask.astype(bool, copy=False) if mask.dtype == bool else mask != 0
    if not mask.any():
        raise ValueError(f"{name} is empty: draw or compute a non-empty {name} first")
    return mask


def check_spacing(spacing: Sequence[float] | None, ndim: int) -> tuple[float, ...]:
    """One positive, finite spacing (mm) per array axis; 1 mm for every axis when None."""
    if spacing is None:
        return (1.0,) * ndim
    spacing = tuple(float(s) for s in spacing)
    if len(spacing) != ndim:
        raise ValueError(
            f"spacing has {len(spacing)} values but the array has {ndim} axes; "
            "give one spacing per axis in numpy order"
        )
    if any(not math.isfinite(s) or s <= 0 for s in spacing):
        raise ValueError(f"spacing must be positive and finite, got {spacing}")
    return spacing
