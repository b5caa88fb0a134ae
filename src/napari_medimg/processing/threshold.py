"""Automatic global and local thresholds, optionally computed inside a mask.

Every function here ignores NaNs (they are never foreground) and, when ``mask`` is
given, computes its threshold from the voxels inside the mask only and labels only
voxels inside the mask (outside is 0).

Exact histograms, no subsampling
--------------------------------
The histogram-based methods (Otsu, multi-Otsu, Yen, isodata, triangle) build the very
histogram scikit-image would build from the selected voxels (one bin per integer for
integer images, ``nbins`` equal bins between the minimum and maximum for floats), but
slab by slab, without copying the selected voxels, and hand it to scikit-image's
``hist=`` argument. The result is therefore *identical* to calling scikit-image on
``array[mask]`` (the tests check this) at a fraction of the memory. Two documented
exceptions: an integer image spanning more than :data:`MAX_INTEGER_BINS` levels is
binned into ``nbins`` float bins, and multi-Otsu always bins integer images to at most
``nbins`` levels (its cost grows as ``levels ** (classes - 1)``).
Li's method iterates over the values themselves: it runs on all selected voxels up to
:data:`LI_SAMPLE_SIZE` of them and on a fixed-seed random sample above that (the
threshold then agrees to well under one grey level on real volumes, but not bit for bit).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..dtypes import as_labels
from ..progress import CancelCheck, ProgressCallback, check_cancel, map_chunks, report
from ._validate import check_image, check_mask

__all__ = [
    "THRESHOLD_METHODS",
    "threshold_value",
    "threshold_auto",
    "threshold_multi_otsu",
    "threshold_local",
    "MAX_INTEGER_BINS",
    "LI_SAMPLE_SIZE",
]

THRESHOLD_METHODS = ("otsu", "li", "yen", "triangle", "isodata", "mean")
MAX_INTEGER_BINS = 1 << 20
LI_SAMPLE_SIZE = 1 << 23
_SLAB_VOXELS = 1 << 22  # voxels per slab when scanning a volume


# ----------------------------------------------------------------- checks
def _slabs(shape: tuple[int, ...]):
    """Slices along axis 0 holding about ``_SLAB_VOXELS`` voxels each."""
    per_row = int(np.prod(shape[1:], dtype=np.int64)) or 1
    step = max(1, _SLAB_VOXELS // per_row)
    for start in range(0, shape[0], step):
        yield slice(start, min(shape[0], start + step))


def _selection(array: np.ndarray, mask: np.ndarray | None, sl: slice) -> np.ndarray:
    """Finite voxels of a slab inside the mask (a small copy of one slab)."""
    part = array[sl]
    keep = None if mask is None else mask[sl]
    if np.issubdtype(array.dtype, np.floating):
        finite = np.isfinite(part)
        keep = finite if keep is None else keep & finite
    return part.ravel() if keep is None else part[keep]


def _value_range(array: np.ndarray, mask: np.ndarray | None) -> tuple[np.generic, np.generic, int]:
    low = high = None
    count = 0
    for sl in _slabs(array.shape):
        values = _selection(array, mask, sl)
        if values.size:
            lo, hi = values.min(), values.max()
            low = lo if low is None else min(low, lo)
            high = hi if high is None else max(high, hi)
            count += values.size
    if count == 0:
        where = "inside the mask" if mask is not None else "in the image"
        raise ValueError(f"no finite voxel {where}: nothing to threshold")
    return low, high, count


def histogram(
    array: np.ndarray, *, mask: np.ndarray | None = None, nbins: int = 256, max_integer_bins: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """scikit-image's histogram of the finite voxels inside ``mask``, built slab by slab.

    Parameters
    ----------
    array : numpy.ndarray
        Image.
    mask : numpy.ndarray, optional
        Voxels to count (non-zero); all finite voxels when None.
    nbins : int
        Bins for float images (and integer images with too many levels).
    max_integer_bins : int, optional
        Integer images spanning more levels than this are binned into ``nbins`` bins;
        :data:`MAX_INTEGER_BINS` by default.

    Returns
    -------
    counts : numpy.ndarray
        int64 counts.
    centers : numpy.ndarray
        Bin centres (the integer levels for integer images).
    """
    array = check_image(array, allow_nan=True)
    mask = check_mask(mask, array.shape)
    low, high, _ = _value_range(array, mask)
    limit = MAX_INTEGER_BINS if max_integer_bins is None else max_integer_bins
    if np.issubdtype(array.dtype, np.integer) and int(high) - int(low) + 1 <= limit:
        low_i, length = int(low), int(high) - int(low) + 1
        counts = np.zeros(length, np.int64)
        for sl in _slabs(array.shape):
            values = _selection(array, mask, sl)
            counts += np.bincount((values.astype(np.int64) - low_i), minlength=length)
        return counts, np.arange(low_i, low_i + length)
    edges = np.histogram_bin_edges(np.empty(0, array.dtype), bins=nbins, range=(low, high))
    counts = np.zeros(nbins, np.int64)
    for sl in _slabs(array.shape):
        counts += np.histogram(_selection(array, mask, sl), bins=nbins, range=(low, high))[0]
    return counts, (edges[:-1] + edges[1:]) / 2.0


def _triangle_from_histogram(hist: np.ndarray, bin_centers: np.ndarray) -> float:
    """scikit-image's triangle algorithm, on a given histogram."""
    hist = hist.astype(np.float64)  # nbins counts, not a volume
    nbins = len(hist)
    arg_peak_height = int(np.argmax(hist))
    peak_height = hist[arg_peak_height]
    arg_low_level, arg_high_level = np.flatnonzero(hist)[[0, -1]]
    if arg_low_level == arg_high_level:
        return float(bin_centers[arg_low_level])
    flip = arg_peak_height - arg_low_level < arg_high_level - arg_peak_height
    if flip:
        hist = hist[::-1]
        arg_low_level = nbins - arg_high_level - 1
        arg_peak_height = nbins - arg_peak_height - 1
    width = arg_peak_height - arg_low_level
    x1 = np.arange(width)
    y1 = hist[x1 + arg_low_level]
    norm = np.sqrt(peak_height**2 + width**2)
    length = (peak_height / norm) * x1 - (width / norm) * y1
    arg_level = int(np.argmax(length)) + arg_low_level
    if flip:
        arg_level = nbins - arg_level - 1
    return float(bin_centers[arg_level])


def threshold_value(
    array: np.ndarray, *, method: str = "otsu", mask: np.ndarray | None = None, nbins: int = 256
) -> float:
    """The global threshold level of one automatic method.

    Parameters
    ----------
    array : numpy.ndarray
        Image (any shape, integer or float; NaNs are ignored).
    method : str
        One of ``"otsu"``, ``"li"``, ``"yen"``, ``"triangle"``, ``"isodata"``, ``"mean"``
        (scikit-image's definitions).
    mask : numpy.ndarray, optional
        Compute the level from the voxels inside this mask only.
    nbins : int
        Histogram bins for float images (integer images use one bin per level).

    Returns
    -------
    float
        Voxels strictly above the level are foreground.

    Raises
    ------
    ValueError
        Unknown method, empty mask, no finite voxel, or a constant image.

    Examples
    --------
    >>> import numpy as np
    >>> threshold_value(np.array([0, 0, 0, 10, 10, 10], np.uint8), method="otsu")
    0.0
    """
    from skimage import filters

    if method not in THRESHOLD_METHODS:
        raise ValueError(f"method must be one of {', '.join(THRESHOLD_METHODS)}, got {method!r}")
    array = check_image(array, allow_nan=True)
    mask = check_mask(mask, array.shape)
    low, high, count = _value_range(array, mask)
    if low == high:
        raise ValueError(f"all selected voxels have the value {low}: a threshold needs at least two values")
    if method == "mean":
        total = 0.0
        for sl in _slabs(array.shape):
            total += float(_selection(array, mask, sl).sum(dtype=np.float64))
        return total / count
    if method == "li":
        if mask is None and not np.issubdtype(array.dtype, np.floating):
            values = array.ravel()
        else:
            values = np.concatenate([_selection(array, mask, sl) for sl in _slabs(array.shape)])
        if values.size > LI_SAMPLE_SIZE:
            rng = np.random.default_rng(0)
            values = values[rng.choice(values.size, LI_SAMPLE_SIZE, replace=False)]
        return float(filters.threshold_li(values))
    counts, centers = histogram(array, mask=mask, nbins=nbins)
    if method == "triangle":
        return _triangle_from_histogram(counts, centers)
    function = {"otsu": filters.threshold_otsu, "yen": filters.threshold_yen, "isodata": filters.threshold_isodata}
    return float(function[method](hist=(counts, centers)))


def threshold_auto(
    array: np.ndarray,
    *,
    method: str = "otsu",
    mask: np.ndarray | None = None,
    invert: bool = False,
    nbins: int = 256,
) -> np.ndarray:
    """Binary segmentation with an automatic global threshold (Otsu, Li, Yen, ...).

    Parameters
    ----------
    array : numpy.ndarray
        Image; NaN voxels are never foreground.
    method : str
        ``"otsu"``, ``"li"``, ``"yen"``, ``"triangle"``, ``"isodata"`` or ``"mean"``.
    mask : numpy.ndarray, optional
        Compute the level from voxels inside this mask and label only inside it.
    invert : bool
        Label the voxels at or below the level instead (dark objects, e.g. lungs).
    nbins : int
        Histogram bins for float images.

    Returns
    -------
    numpy.ndarray
        uint8 mask, 1 above the level (``invert``: at or below it).

    Examples
    --------
    >>> import numpy as np
    >>> threshold_auto(np.array([0, 1, 9, 10], np.uint8)).tolist()
    [0, 0, 1, 1]
    """
    array = check_image(array, allow_nan=True)
    mask = check_mask(mask, array.shape)
    level = threshold_value(array, method=method, mask=mask, nbins=nbins)
    out = array <= level if invert else array > level
    if invert and np.issubdtype(array.dtype, np.floating):
        out &= ~np.isnan(array)
    if mask is not None:
        out &= mask
    return out.view(np.uint8)


def threshold_multi_otsu(
    array: np.ndarray, *, classes: int = 3, mask: np.ndarray | None = None, nbins: int = 256
) -> np.ndarray:
    """Split intensities into ``classes`` classes with multi-level Otsu.

    Parameters
    ----------
    array : numpy.ndarray
        Image; NaN voxels get label 0.
    classes : int
        Number of classes, 2 to 5.
    mask : numpy.ndarray, optional
        Compute the levels from voxels inside this mask and label only inside it.
    nbins : int
        Histogram bins. Integer images with more than ``nbins`` levels are binned too
        (the search costs ``nbins ** (classes - 1)``); the levels are then bin centres.

    Returns
    -------
    numpy.ndarray
        uint8 labels ``1..classes`` ordered by intensity (1 = darkest), 0 outside the
        mask and at NaNs.

    Examples
    --------
    >>> import numpy as np
    >>> threshold_multi_otsu(np.array([0, 0, 5, 5, 9, 9], np.uint8), classes=3).tolist()
    [1, 1, 2, 2, 3, 3]
    """
    from skimage.filters import threshold_multiotsu

    if not 2 <= int(classes) <= 5:
        raise ValueError(f"classes must be between 2 and 5, got {classes}")
    array = check_image(array, allow_nan=True)
    mask = check_mask(mask, array.shape)
    counts, centers = histogram(array, mask=mask, nbins=nbins, max_integer_bins=nbins)
    distinct = int(np.count_nonzero(counts))
    if distinct < int(classes):
        raise ValueError(
            f"multi-level Otsu cannot split an image with {distinct} distinct value(s) "
            f"(in {len(counts)} histogram bins) into {int(classes)} classes: use fewer classes, "
            "or check that the image (or its mask) holds more than a constant or a binary mask"
        )
    levels = threshold_multiotsu(classes=int(classes), hist=(counts, centers))
    labels = np.ones(array.shape, np.uint8)
    for level in levels:  # no int64 temporary as np.digitize would make
        labels += array > level
    valid = mask if mask is not None else None
    if np.issubdtype(array.dtype, np.floating):
        finite = np.isfinite(array)
        valid = finite if valid is None else valid & finite
    if valid is not None:
        labels[~valid] = 0
    return labels


def threshold_local(
    array: np.ndarray,
    *,
    block_size: float = 25.0,
    offset: float = 0.0,
    method: str = "gaussian",
    mask: np.ndarray | None = None,
    spacing: Sequence[float] | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelCheck | None = None,
) -> np.ndarray:
    """Adaptive (local) threshold in 2D, slice by slice for a volume.

    A pixel is foreground when it exceeds the weighted mean of its neighbourhood
    (:func:`skimage.filters.threshold_local`) plus ``offset``.

    Parameters
    ----------
    array : numpy.ndarray
        2D image ``(y, x)`` or volume ``(z, y, x)`` (then each slice is done in-plane).
    block_size : float
        Side of the neighbourhood in mm (converted to an odd number of pixels per axis,
        at least 3).
    offset : float
        Added to the local mean (image units): larger is stricter, negative is more
        permissive. (scikit-image *subtracts* its ``offset``; the sign is flipped here.)
    method : str
        ``"gaussian"``, ``"mean"`` or ``"median"``.
    mask : numpy.ndarray, optional
        Label only inside the mask.
    spacing : sequence of float, optional
        Pixel spacing in mm (numpy order); 1 mm when not given.
    progress, cancel : callable, optional
        Progress callback and cancel check (volumes are processed in slabs).

    Returns
    -------
    numpy.ndarray
        uint8 mask.
    """
    from skimage.filters import threshold_local as _local

    if method not in ("gaussian", "mean", "median"):
        raise ValueError(f"method must be gaussian, mean or median, got {method!r}")
    array = check_image(array, allow_nan=True)
    if array.ndim not in (2, 3):
        raise ValueError(f"threshold_local works on 2D images or (z, y, x) volumes, got {array.ndim} axes")
    mask = check_mask(mask, array.shape)
    spacing = tuple(spacing) if spacing is not None else (1.0,) * array.ndim
    in_plane = spacing[-2:]
    block = tuple(max(3, 2 * int(round(block_size / s / 2.0)) + 1) for s in in_plane)
    work = array.astype(np.float32, copy=False) if array.dtype != np.float64 else array
    nan = np.isnan(work) if np.issubdtype(work.dtype, np.floating) else None
    if nan is not None and nan.any():
        if nan.all():
            raise ValueError("the image is all NaN")
        work = np.where(nan, np.nanmean(work, dtype=np.float64), work).astype(work.dtype)

    def one(plane: np.ndarray) -> np.ndarray:
        return (plane > _local(plane, block, method=method, offset=-offset, mode="reflect")).view(np.uint8)

    if work.ndim == 2:
        check_cancel(cancel)
        out = one(work)
        report(progress, 1.0)
    else:
        out = map_chunks(
            lambda slab: np.stack([one(p) for p in slab]), work, out_dtype=np.uint8, progress=progress, cancel=cancel
        )
    if nan is not None:
        out[nan] = 0
    if mask is not None:
        out[~mask] = 0
    return as_labels(out)
