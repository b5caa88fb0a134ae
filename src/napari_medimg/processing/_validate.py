"""Input checks shared by :mod:`napari_medimg.processing` and :mod:`napari_medimg.analysis`.

Private: one place for the image and spacing checks, so every function says the same
thing about the same mistake.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

__all__ = [
    "check_image",
    "check_mask",
    "check_spacing",
    "check_operation_input",
    "check_min_size",
    "count_nonfinite",
]

#: Elements per block of the finite-value scan: a 1 MiB boolean scratch, never a full-size mask.
_FINITE_CHUNK = 1 << 20


def _blocks(array: np.ndarray):
    """Views of ``array`` of about :data:`_FINITE_CHUNK` elements each (no copy)."""
    if array.ndim == 0:
        yield array.reshape(1)
    elif array.flags.c_contiguous:
        flat = array.reshape(-1)
        for start in range(0, flat.size, _FINITE_CHUNK):
            yield flat[start : start + _FINITE_CHUNK]
    else:
        step = max(1, _FINITE_CHUNK // max(1, array[0].size))
        for start in range(0, array.shape[0], step):
            yield array[start : start + step]


def count_nonfinite(array: np.ndarray) -> tuple[int, int]:
    """``(nan, inf)``: how many voxels are NaN and how many are +inf or -inf.

    One pass over the array in blocks of about a million values (``np.isfinite`` on a
    view, no float64 or full-size copy); the voxels are counted only when a block holds
    a non-finite value. Integer and boolean arrays are always ``(0, 0)``.
    """
    if not np.issubdtype(array.dtype, np.floating):
        return 0, 0
    nan = inf = 0
    for block in _blocks(array):
        finite = np.isfinite(block)
        if finite.all():
            continue
        bad = block[~finite]
        n_nan = int(np.count_nonzero(np.isnan(bad)))
        nan += n_nan
        inf += bad.size - n_nan
    return nan, inf


def _infinite_message(subject: str, inf: int, nan: int, size: int) -> str:
    also = f" (and {nan:,} NaN)" if nan else ""
    return (
        f"{subject} {inf:,} infinite voxel value{'s' if inf != 1 else ''} (+inf or -inf) out of "
        f"{size:,}{also}; replace them first (e.g. numpy.nan_to_num(image, posinf=..., neginf=...) "
        "or numpy.clip to the valid range): filters would spread them over the image and "
        "thresholds and histograms would have no finite range"
    )


def check_image(
    array: np.ndarray, name: str = "image", *, allow_nan: bool = False, nan_reason: str = ""
) -> np.ndarray:
    """A numeric, non-empty array (bool becomes a uint8 view); no copy except float16.

    float16 becomes a float32 copy: scipy.ndimage and ITK have no half-float kernels.

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
    if array.dtype == np.float16:  # scipy.ndimage and ITK have no half-float kernels
        array = array.astype(np.float32)
    if array.size == 0:
        raise ValueError(f"{name} is empty (shape {array.shape})")
    nan, inf = count_nonfinite(array)
    if inf:
        raise ValueError(_infinite_message(f"{name} contains", inf, nan, array.size))
    if nan and not allow_nan:
        raise ValueError(
            f"{name} contains NaN values; fill them first (e.g. np.nan_to_num(image, nan=value)): "
            f"{nan:,} of {array.size:,} voxels are NaN" + nan_reason
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


def check_operation_input(array: np.ndarray, operation: str, kind: str = "image") -> np.ndarray:
    """The input of a registered operation, checked before its function sees it.

    One check for every operation of :mod:`napari_medimg.operations`, so that no
    scipy, ITK or scikit-learn error about the array itself reaches the user.

    Parameters
    ----------
    array : numpy.ndarray
        The input array (any leading or colour axes included).
    operation : str
        The operation's name, used in messages.
    kind : str
        ``"image"`` or ``"labels"``, used in messages.

    Returns
    -------
    numpy.ndarray
        ``array`` itself, or a float32 copy of a float16 array.

    Raises
    ------
    TypeError
        For complex, object, string or date arrays.
    ValueError
        For an array with no voxels (a zero-length axis), or a floating array with
        +inf or -inf voxels (the message gives how many). NaN voxels are left to each
        operation: value operations (windows, thresholds, clustering, resampling) treat
        them as missing, neighbourhood filters refuse them with their own message.
        Infinite values are not a "missing" marker any operation can skip: smoothing
        spreads them over the image and they leave thresholds no finite range.
    """
    array = np.asarray(array)
    if np.issubdtype(array.dtype, np.complexfloating):
        raise TypeError(
            f"{operation}: the {kind} has complex values ({array.dtype}); take the magnitude "
            "(numpy.abs) or the real part first"
        )
    if not (array.dtype == bool or np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise TypeError(
            f"{operation}: the {kind} has dtype {array.dtype}; give integer, floating or boolean voxels"
        )
    if array.size == 0:
        raise ValueError(
            f"{operation}: the {kind} is empty (shape {tuple(array.shape)} has a zero-length axis); "
            "check how it was read or cropped"
        )
    if array.dtype == np.float16:  # scipy.ndimage, ITK and scikit-learn have no half-float kernels
        array = array.astype(np.float32)
    nan, inf = count_nonfinite(array)
    if inf:
        raise ValueError(_infinite_message(f"{operation}: the {kind} has", inf, nan, array.size))
    return array


def check_min_size(shape: Sequence[int], minimum: int, what: str, *, axes: Sequence[int] | None = None) -> None:
    """Refuse an image with fewer than ``minimum`` voxels along any (chosen) axis.

    Parameters
    ----------
    shape : sequence of int
        The image shape.
    minimum : int
        Voxels needed along each axis.
    what : str
        The method that needs them, e.g. ``"N4 bias correction"``.
    axes : sequence of int, optional
        The axes to check (default: all).

    Raises
    ------
    ValueError
        Naming the shape, the axis and the minimum.
    """
    shape = tuple(int(n) for n in shape)
    for axis in range(len(shape)) if axes is None else axes:
        if shape[axis] < minimum:
            raise ValueError(
                f"{what} needs at least {minimum} voxels along every axis; this image has shape "
                f"{shape} ({shape[axis]} along axis {axis}): use a larger image or region"
            )
