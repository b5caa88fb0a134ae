"""dtype rules shared by the whole package.

Images stay float32 (float64 only where the input already is); labels use the smallest
unsigned integer type that holds their largest value.
"""

from __future__ import annotations

import numpy as np

__all__ = ["smallest_label_dtype", "as_labels", "float_dtype_for"]


def smallest_label_dtype(max_label: int) -> np.dtype:
    """The smallest unsigned integer dtype that holds ``max_label``."""
    for dtype in (np.uint8, np.uint16, np.uint32, np.uint64):
        if max_label <= np.iinfo(dtype).max:
            return np.dtype(dtype)
    raise ValueError(f"label value {max_label} does not fit in 64 bits")


def as_labels(array: np.ndarray) -> np.ndarray:
    """Cast a label array to the smallest unsigned integer dtype that fits.

    Parameters
    ----------
    array : numpy.ndarray
        Integer or boolean labels (0 is background).

    Returns
    -------
    numpy.ndarray
        The same values in uint8, uint16, uint32 or uint64 (no copy when already so).

    Raises
    ------
    ValueError
        For negative or non-integer labels.
    """
    array = np.asarray(array)
    if array.dtype == bool:
        return array.view(np.uint8)
    if not np.issubdtype(array.dtype, np.integer):
        if np.issubdtype(array.dtype, np.floating) and np.all(np.isfinite(array)) and np.array_equal(
            array, np.round(array)
        ):
            array = array.astype(np.int64)
        else:
            raise ValueError(f"labels must be whole numbers, got dtype {array.dtype} with fractions or NaN")
    if array.size == 0:
        return array.astype(np.uint8)
    low, high = int(array.min()), int(array.max())
    if low < 0:
        raise ValueError(f"labels must not be negative (found {low}); 0 is background, 1.. are objects")
    dtype = smallest_label_dtype(high)
    return array if array.dtype == dtype else array.astype(dtype)


def float_dtype_for(dtype: np.dtype) -> np.dtype:
    """float64 for float64 input, float32 for everything else."""
    return np.dtype(np.float64) if np.dtype(dtype) == np.float64 else np.dtype(np.float32)
