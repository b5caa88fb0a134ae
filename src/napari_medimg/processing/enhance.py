"""Intensity enhancement."""

from __future__ import annotations

import numpy as np

from ..dtypes import float_dtype_for

__all__ = ["window"]


def window(array: np.ndarray, *, center: float = 40.0, width: float = 400.0) -> np.ndarray:
    """Map an intensity window to [0, 1], clipping values outside it.

    Parameters
    ----------
    array : numpy.ndarray
        Image values, e.g. CT in HU.
    center : float
        Centre of the window in image units.
    width : float
        Width of the window in image units (positive).

    Returns
    -------
    numpy.ndarray
        float32 (float64 for float64 input) values in [0, 1]:
        ``clip((value - (center - width / 2)) / width, 0, 1)``.

    Examples
    --------
    >>> import numpy as np
    >>> window(np.array([-1000, -600, 0, 200], dtype=np.int16), center=-600, width=1500).round(3)
    array([0.233, 0.5  , 0.9  , 1.   ], dtype=float32)
    """
    if not width > 0:
        raise ValueError(f"window width must be positive, got {width}")
    dtype = float_dtype_for(array.dtype)
    out = np.asarray(array, dtype=dtype) - dtype.type(center - width / 2.0)
    out /= dtype.type(width)
    return np.clip(out, 0, 1, out=out)
