"""Threshold segmentation and connected components."""

from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy import ndimage

from ..dtypes import as_labels

__all__ = ["threshold_range", "connected_components", "clear_border", "keep_largest"]


def threshold_range(array: np.ndarray, *, lower: float = -1000.0, upper: float = -400.0) -> np.ndarray:
    """Label 1 where ``lower <= value <= upper``.

    Parameters
    ----------
    array : numpy.ndarray
        Image values.
    lower, upper : float
        Inclusive range in image units (HU for CT).

    Returns
    -------
    numpy.ndarray
        uint8 mask.
    """
    if lower > upper:
        raise ValueError(f"lower ({lower}) must not exceed upper ({upper})")
    return ((array >= lower) & (array <= upper)).view(np.uint8)


def connected_components(
    mask: np.ndarray, *, min_volume: float = 0.0, spacing: Sequence[float] | None = None
) -> np.ndarray:
    """Label face-connected components of a mask, dropping those below a volume in mm³.

    Parameters
    ----------
    mask : numpy.ndarray
        Non-zero voxels are foreground.
    min_volume : float
        Components smaller than this (mm³; mm² in 2D) are removed.
    spacing : sequence of float, optional
        Voxel spacing in mm (numpy order).

    Returns
    -------
    numpy.ndarray
        Labels 1..N ordered by decreasing size, in the smallest unsigned dtype.
    """
    spacing = tuple(spacing) if spacing is not None else (1.0,) * mask.ndim
    labels, count = ndimage.label(mask != 0)
    if count == 0:
        return np.zeros(mask.shape, np.uint8)
    sizes = np.bincount(labels.ravel())[1:] * float(np.prod(spacing))
    order = np.argsort(-sizes, kind="stable")
    keep = sizes[order] >= min_volume
    lookup = np.zeros(count + 1, dtype=np.int64)
    lookup[order[keep] + 1] = np.arange(1, int(keep.sum()) + 1)
    return as_labels(lookup[labels])


def clear_border(labels: np.ndarray, *, in_plane_only: bool = True) -> np.ndarray:
    """Remove labelled objects that touch the image border.

    Parameters
    ----------
    labels : numpy.ndarray
        Label image (0 background). A mask is labelled into components first.
    in_plane_only : bool
        Look only at the borders of the last two axes (rows and columns), so that
        objects cut by the first or last slice of a volume are kept.

    Returns
    -------
    numpy.ndarray
        Labels with border objects set to 0, renumbered 1..N by decreasing size.
    """
    labels = np.asarray(labels)
    if labels.max(initial=0) <= 1:
        labels, _ = ndimage.label(labels != 0)
    axes = range(labels.ndim - 2, labels.ndim) if in_plane_only else range(labels.ndim)
    touching: set[int] = set()
    for axis in axes:
        for index in (0, -1):
            touching.update(np.unique(np.take(labels, index, axis=axis)).tolist())
    touching.discard(0)
    kept = np.where(np.isin(labels, list(touching)), 0, labels)
    return connected_components(kept != 0)


def keep_largest(labels: np.ndarray, *, count: int = 1) -> np.ndarray:
    """Keep the ``count`` largest connected components of a mask or label image.

    Parameters
    ----------
    labels : numpy.ndarray
        Mask or labels; non-zero is foreground.
    count : int
        How many components to keep (at least 1).

    Returns
    -------
    numpy.ndarray
        Labels 1..count by decreasing size, smallest unsigned dtype.
    """
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    components = connected_components(np.asarray(labels) != 0)
    return as_labels(np.where(components <= count, components, 0))
