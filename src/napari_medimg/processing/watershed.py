"""Watershed segmentation: from markers, and automatic splitting of touching objects.

:func:`watershed_markers` floods the gradient magnitude (gaussian derivative, sigma in
mm) or the image itself from seed points or a seed label image.
:func:`split_objects` separates touching objects of a mask: it floods the negated
Euclidean distance transform (in mm, ``sampling=spacing``) from its local maxima, where
two maxima must be at least ``min_distance`` mm apart along every axis (a box, as in
:func:`skimage.feature.peak_local_max`).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy import ndimage

from .._killable import call_killable
from ..dtypes import as_labels
from ..progress import CancelCheck, ProgressCallback, check_cancel, report
from .region_growing import seed_indices
from ._validate import check_image, check_mask, check_spacing

__all__ = ["gradient_magnitude", "watershed_markers", "split_objects"]

#: Relief (gradient) share of a marker watershed's progress; the flood is one step after it.
_RELIEF = 0.3
#: From this many voxels on (about half a second of flooding on 2 cores) the flood runs in
#: a child process that Cancel terminates (:func:`napari_medimg._killable.call_killable`);
#: smaller floods run here, where the child's start would cost more than they do.
CHILD_FROM_VOXELS = 1_000_000


def _part(progress: ProgressCallback | None, share: float) -> ProgressCallback | None:
    """``progress`` for a step that makes the first ``share`` of the run."""
    return None if progress is None else (lambda fraction: report(progress, share * fraction))


def gradient_magnitude(
    array: np.ndarray,
    *,
    sigma: float = 1.0,
    spacing: Sequence[float] | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelCheck | None = None,
) -> np.ndarray:
    """Gaussian gradient magnitude with sigma in mm, in image units per mm.

    :func:`napari_medimg.analysis.edges.gradient_magnitude` (scipy's gaussian
    derivatives pass by pass, reporting progress and checking Cancel per piece of a
    pass) after replacing NaNs by the image's mean.

    Parameters
    ----------
    array : numpy.ndarray
        2D or 3D image (NaNs are replaced by the mean first).
    sigma : float
        Gaussian standard deviation in mm (> 0).
    spacing : sequence of float, optional
        Voxel spacing in mm, numpy order.
    progress, cancel : callable, optional
        Progress callback and cancel check.

    Returns
    -------
    numpy.ndarray
        float32 (float64 for float64 input).
    """
    from ..analysis.edges import gradient_magnitude as gaussian_gradient  # analysis builds on processing

    array = check_image(array, allow_nan=True)
    spacing = check_spacing(spacing, array.ndim)
    if sigma <= 0:
        raise ValueError(f"sigma must be > 0 mm, got {sigma}")
    if np.issubdtype(array.dtype, np.floating) and np.isnan(array).any():
        array = np.where(np.isnan(array), np.nanmean(array), array).astype(array.dtype)
    return gaussian_gradient(array, sigma=sigma, spacing=spacing, progress=progress, cancel=cancel)


def _markers_from(markers, shape) -> np.ndarray:
    markers = np.asarray(getattr(markers, "array", markers))  # a Volume (registry second input) or an array
    if markers.shape == tuple(shape):
        labels = as_labels(markers)
        if labels.max(initial=0) == 0:
            raise ValueError("the marker label image is empty: draw at least one seed label")
        return labels
    if markers.ndim != 2 or markers.shape[1] != len(shape):
        raise ValueError(
            f"markers of shape {markers.shape} are neither a label image of the image's shape "
            f"{tuple(shape)} nor a list of (N, {len(shape)}) seed indices; put the markers on the image's grid"
        )
    index = seed_indices(markers, shape)
    labels = np.zeros(shape, np.int64)
    labels[tuple(index.T)] = np.arange(1, len(index) + 1)
    return as_labels(labels)


def watershed_markers(
    array: np.ndarray,
    markers: np.ndarray,
    *,
    sigma: float = 1.0,
    use_gradient: bool = True,
    mask: np.ndarray | None = None,
    compactness: float = 0.0,
    spacing: Sequence[float] | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelCheck | None = None,
) -> np.ndarray:
    """Marker-controlled watershed.

    Parameters
    ----------
    array : numpy.ndarray
        2D or 3D image.
    markers : numpy.ndarray
        Either a label image of the same shape (each non-zero label is a basin seed;
        the output keeps these label values), or seed points ``(n, ndim)`` as voxel
        indices in numpy order (seed ``i`` becomes label ``i + 1``).
    sigma : float
        Gradient scale in mm (used when ``use_gradient``).
    use_gradient : bool
        Flood the gradient magnitude (objects separated by edges); otherwise flood the
        image itself (objects separated by bright ridges).
    mask : numpy.ndarray, optional
        Flood only inside this mask (outside is 0).
    compactness : float
        skimage's compact watershed parameter (0: classic).
    spacing : sequence of float, optional
        Voxel spacing in mm, numpy order.
    progress, cancel : callable, optional
        Progress callback and cancel check. The gradient reports the first 30 % piece by
        piece; the flood is one indivisible scikit-image call (one priority queue over the
        whole image) reported as a single step to 100 %. With ``cancel``, a flood of
        :data:`CHILD_FROM_VOXELS` voxels or more runs in a child process that Cancel
        terminates (:func:`napari_medimg._killable.call_killable`; the same result).

    Returns
    -------
    numpy.ndarray
        Labels in the smallest unsigned dtype.
    """
    from skimage.segmentation import watershed

    array = check_image(array, allow_nan=True)
    spacing = check_spacing(spacing, array.ndim)
    mask = check_mask(mask, array.shape)
    seeds = _markers_from(markers, array.shape)
    check_cancel(cancel)
    if use_gradient:
        part = _part(progress, _RELIEF)
        relief = gradient_magnitude(array, sigma=sigma, spacing=spacing, progress=part, cancel=cancel)
    else:
        relief = array.astype(np.float32, copy=False) if array.dtype != np.float64 else array
        if np.isnan(relief).any():
            relief = np.where(np.isnan(relief), np.nanmax(relief), relief)
    report(progress, _RELIEF)
    labels = call_killable(
        watershed,
        (relief, seeds),
        {"mask": mask, "compactness": compactness},
        cancel=cancel,
        imports=("skimage.segmentation._watershed",),
        in_child=relief.size >= CHILD_FROM_VOXELS,
    )
    report(progress, 1.0)
    return as_labels(labels)


def _spaced_markers(points, distance, min_distance, spacing, shape) -> np.ndarray:
    """Greedy non-maximum suppression: keep the highest peaks, drop any peak within
    ``min_distance`` mm (along every axis) of a kept one, so ties and plateaus give one marker."""
    from scipy.spatial import cKDTree

    order = np.argsort(-distance[tuple(points.T)], kind="stable")
    points = points[order]
    tree = cKDTree(points * np.asarray(spacing))
    kept = np.ones(len(points), bool)
    for i in range(len(points)):
        if kept[i]:
            near = tree.query_ball_point(points[i] * np.asarray(spacing), r=min_distance * (1 - 1e-9), p=np.inf)
            for j in near:
                if j > i:
                    kept[j] = False
    markers = np.zeros(shape, np.int32)
    chosen = points[kept]
    markers[tuple(chosen.T)] = np.arange(1, len(chosen) + 1)
    return markers


def split_objects(
    mask: np.ndarray,
    *,
    min_distance: float = 5.0,
    spacing: Sequence[float] | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelCheck | None = None,
) -> np.ndarray:
    """Split touching objects with a watershed of the distance transform.

    Parameters
    ----------
    mask : numpy.ndarray
        2D or 3D mask (non-zero is foreground).
    min_distance : float
        Minimum distance in mm between two object centres (peaks of the distance map
        closer than this along every axis are one object).
    spacing : sequence of float, optional
        Voxel spacing in mm, numpy order.
    progress, cancel : callable, optional
        Progress callback and cancel check.

    Returns
    -------
    numpy.ndarray
        Labels 1..N, smallest unsigned dtype.
    """
    from skimage.segmentation import watershed

    mask = check_mask(mask, np.shape(mask))
    spacing = check_spacing(spacing, mask.ndim)
    if min_distance <= 0:
        raise ValueError(f"min_distance must be > 0 mm, got {min_distance}")
    distance = ndimage.distance_transform_edt(mask, sampling=spacing).astype(np.float32)
    report(progress, 0.3)
    check_cancel(cancel)
    size = [2 * int(np.floor(min_distance / s)) + 1 for s in spacing]
    peaks = (distance == ndimage.maximum_filter(distance, size=size, mode="constant")) & mask
    markers = _spaced_markers(np.argwhere(peaks), distance, min_distance, spacing, mask.shape)
    report(progress, 0.5)
    check_cancel(cancel)
    labels = watershed(-distance, markers, mask=mask)
    report(progress, 1.0)
    return as_labels(labels)
