"""Small checks shared by the feature modules of :mod:`napari_medimg.analysis`.

Private: input checks with clear messages, spacing handling and the float dtype rule.
:func:`check_image` is the package-wide image check of
:mod:`napari_medimg.processing._validate`, re-exported here.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np

from ..dtypes import float_dtype_for
from ..processing._validate import check_image
from ..progress import CancelCheck, ProgressCallback, check_cancel, report

__all__ = [
    "check_image",
    "as_float",
    "spatial_spacing",
    "check_positive",
    "over_leading",
    "feature_matrix",
]


def as_float(array: np.ndarray) -> np.ndarray:
    """float32 view/copy of ``array`` (float64 stays float64); no copy when already so."""
    dtype = float_dtype_for(array.dtype)
    return array if array.dtype == dtype else array.astype(dtype)


def spatial_spacing(
    array: np.ndarray, spacing: Sequence[float] | None, *, allowed: tuple[int, ...] = (2, 3)
) -> tuple[float, ...]:
    """Spacing of the last ``len(spacing)`` (spatial) axes, checked.

    Without ``spacing`` every axis is spatial with 1 mm voxels (the array must then
    have an allowed number of axes).
    """
    if spacing is None:
        if array.ndim not in allowed:
            raise ValueError(
                f"array has {array.ndim} axes; give spacing= for its spatial axes "
                f"({' or '.join(map(str, allowed))} of them), leading axes are then processed one by one"
            )
        return (1.0,) * array.ndim
    spacing = tuple(float(s) for s in np.atleast_1d(spacing))
    if len(spacing) not in allowed or len(spacing) > array.ndim:
        raise ValueError(
            f"spacing {spacing} does not fit an array of shape {array.shape}: give one value per "
            f"spatial axis ({' or '.join(map(str, allowed))} axes)"
        )
    if any(not math.isfinite(s) or s <= 0 for s in spacing):
        raise ValueError(f"spacing must be positive and finite, got {spacing}")
    return spacing


def check_positive(value: float, name: str, *, allow_zero: bool = False) -> float:
    """A finite float > 0 (or >= 0)."""
    value = float(value)
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{name} must be a finite number {'>=' if allow_zero else '>'} 0, got {value}")
    return value


def over_leading(
    function: Callable[[np.ndarray, ProgressCallback | None], np.ndarray],
    array: np.ndarray,
    n_spatial: int,
    out_dtype: np.dtype,
    progress: ProgressCallback | None,
    cancel: CancelCheck | None,
) -> np.ndarray:
    """Apply ``function(spatial_block, sub_progress)`` to every leading index (e.g. time)."""
    if array.ndim == n_spatial:
        result = function(array, progress)
        report(progress, 1.0)
        return result
    lead = array.shape[: array.ndim - n_spatial]
    stack = array.reshape((-1,) + array.shape[-n_spatial:])
    out = np.empty(stack.shape, out_dtype)
    n = stack.shape[0]
    for i in range(n):
        check_cancel(cancel)
        sub = None if progress is None else (lambda f, i=i: report(progress, (i + f) / n))
        out[i] = function(stack[i], sub)
    report(progress, 1.0)
    return out.reshape(lead + array.shape[-n_spatial:])


def feature_matrix(
    X, names: Sequence[str] | None = None, *, name: str = "X"
) -> tuple[np.ndarray, list[str]]:
    """``(n_samples, n_features)`` float array and feature names from an array or DataFrame.

    A pandas DataFrame gives its column names; otherwise ``names`` or ``f0, f1, ...``.
    float32 and float64 are kept, other dtypes become float64 (tables are small).
    """
    if hasattr(X, "columns") and hasattr(X, "to_numpy"):  # pandas DataFrame, no import needed
        if names is None:
            names = [str(c) for c in X.columns]
        X = X.to_numpy()
    X = np.asarray(X)
    if X.ndim == 1:
        X = X[:, np.newaxis]
    if X.ndim != 2:
        raise ValueError(f"{name} must be a table (n_samples, n_features), got shape {X.shape}")
    if X.dtype not in (np.float32, np.float64):
        try:
            X = X.astype(np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"{name} must hold numbers, got dtype {X.dtype}") from None
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {X.shape})")
    if not np.all(np.isfinite(X)):
        bad = np.flatnonzero(~np.all(np.isfinite(X), axis=0))
        raise ValueError(
            f"{name} has NaN or infinite values in {len(bad)} column(s) (first: column {int(bad[0])}); "
            "impute or drop them first"
        )
    if names is None:
        names = [f"f{i}" for i in range(X.shape[1])]
    names = [str(n) for n in names]
    if len(names) != X.shape[1]:
        raise ValueError(f"{len(names)} names given for {X.shape[1]} columns of {name}")
    if len(set(names)) != len(names):
        raise ValueError("feature names must be unique")
    return X, names
