"""Denoising filters with sizes in millimetres."""

from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy import ndimage

from ..dtypes import float_dtype_for

__all__ = ["gaussian", "mm_to_voxels"]


def mm_to_voxels(size_mm: float, spacing: Sequence[float]) -> tuple[float, ...]:
    """Convert a size in mm to voxels along each axis of the given spacing (mm)."""
    return tuple(float(size_mm) / float(s) for s in spacing)


def gaussian(array: np.ndarray, *, sigma: float = 1.0, spacing: Sequence[float] | None = None) -> np.ndarray:
    """Gaussian smoothing with the standard deviation in mm.

    Parameters
    ----------
    array : numpy.ndarray
        Image in numpy order; its last ``len(spacing)`` axes are spatial.
    sigma : float
        Standard deviation in mm; 2 mm on 0.5 mm voxels is 4 voxels.
    spacing : sequence of float, optional
        Voxel spacing in mm (numpy order); 1 mm when not given.

    Returns
    -------
    numpy.ndarray
        float32 (float64 for float64 input), same shape.

    Examples
    --------
    >>> import numpy as np
    >>> impulse = np.zeros((1, 41, 41), np.float32); impulse[0, 20, 20] = 1
    >>> out = gaussian(impulse, sigma=2.0, spacing=(5.0, 0.5, 0.5))
    >>> round(float(out.sum()), 4)
    1.0
    """
    spacing = tuple(spacing) if spacing is not None else (1.0,) * array.ndim
    leading = array.ndim - len(spacing)
    sigmas = (0.0,) * leading + mm_to_voxels(sigma, spacing)
    dtype = float_dtype_for(array.dtype)
    return ndimage.gaussian_filter(np.asarray(array, dtype=dtype), sigma=sigmas, mode="nearest")
