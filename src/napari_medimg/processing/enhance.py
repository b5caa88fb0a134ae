"""Intensity enhancement: windowing, point transforms, histogram equalization, CLAHE, sharpening.

Every function takes an array in numpy order (``(z, y, x)`` or ``(y, x)``) first and
keyword-only options. Sizes a person chooses (CLAHE kernel, unsharp radius) are in mm
and converted with ``spacing=`` (mm per axis, numpy order; 1 mm when not given).

dtype rule: results are float32, float64 only for float64 input
(:func:`~napari_medimg.dtypes.float_dtype_for`); no function makes a float64 copy of a
volume. NaN voxels are ignored in ranges, percentiles and histograms and stay NaN in the
output. Input for which a result would be meaningless (empty, all NaN, constant, infinite
values) raises ``ValueError`` saying so.

Functions that can take longer than a moment on a CT volume (:func:`equalize_histogram`,
:func:`clahe`, :func:`unsharp_mask`) accept ``progress`` and ``cancel`` callables (see
:mod:`napari_medimg.progress`) and work slab by slab in threads.
"""

from __future__ import annotations

import inspect
import math
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import Sequence

import numpy as np

from ..dtypes import float_dtype_for
from ..progress import CancelCheck, ProgressCallback, check_cancel, default_workers, map_chunks, report
from ._validate import check_image, check_mask, check_spacing

__all__ = [
    "WINDOW_PRESETS",
    "window",
    "window_preset",
    "auto_window",
    "percentile_window",
    "contrast_stretch",
    "log_transform",
    "gamma",
    "equalize_histogram",
    "clahe",
    "clahe_kernel_voxels",
    "unsharp_mask",
]

# CT window presets, name -> (center, width) in HU.
# Source: Radiopaedia, "Windowing (CT)", https://radiopaedia.org/articles/windowing-ct
# (W = width, L = level/centre), cross-checked with common PACS/viewer defaults:
#   lung         W 1500 L -600   (Radiopaedia: lungs W:1500 L:-600)
#   mediastinum  W  400 L   40   (Radiopaedia lists W:350 L:50; 400/40 is the usual
#   soft_tissue  W  400 L   40    viewer "soft tissue" preset and this package's default)
#   bone         W 1800 L  400   (Radiopaedia: bone W:1800 L:400)
#   brain        W   80 L   40   (Radiopaedia: brain W:80 L:40)
#   stroke       W   40 L   40   (Radiopaedia: stroke W:40 L:40, or the narrow W:8 L:32
#   stroke_narrow W   8 L   32    of Lev et al., Radiology 1999;213:150-155)
#   liver        W  160 L   60   (Radiopaedia lists W:150 L:30; 160/60 is the common
#                                 contrast-enhanced liver preset)
#   abdomen      W  350 L   40   (Radiopaedia abdomen soft tissues W:400 L:50)
WINDOW_PRESETS: dict[str, tuple[float, float]] = {
    "lung": (-600.0, 1500.0),
    "mediastinum": (40.0, 400.0),
    "soft_tissue": (40.0, 400.0),
    "bone": (400.0, 1800.0),
    "brain": (40.0, 80.0),
    "stroke": (40.0, 40.0),
    "stroke_narrow": (32.0, 8.0),
    "liver": (60.0, 160.0),
    "abdomen": (40.0, 350.0),
}

_CHUNK = 1 << 20  # elements per block in single-threaded streaming loops


# ----------------------------------------------------------------------------- helpers
def _finite_range(array: np.ndarray) -> tuple[float, float]:
    """(min, max) ignoring NaN; raises for all-NaN or infinite values."""
    if array.dtype.kind == "f":
        low, high = float(np.fmin.reduce(array, axis=None)), float(np.fmax.reduce(array, axis=None))
        if math.isnan(low):
            raise ValueError("the image is all NaN; nothing to enhance")
        if math.isinf(low) or math.isinf(high):
            raise ValueError("the image contains infinite values; replace them first (e.g. numpy.nan_to_num)")
    else:
        low, high = float(array.min()), float(array.max())
    return low, high


def _constant_error(value: float) -> ValueError:
    return ValueError(f"the image is constant (every value is {value:g}); there is no contrast to enhance")


def _nonconstant_range(array: np.ndarray) -> tuple[float, float]:
    low, high = _finite_range(array)
    if high <= low:
        raise _constant_error(low)
    return low, high


def _check_percentiles(lower: float, upper: float) -> None:
    if not (0.0 <= lower < upper <= 100.0):
        raise ValueError(
            f"percentiles must satisfy 0 <= lower < upper <= 100, got lower={lower}, upper={upper}"
        )


def _small_int_percentiles(values: np.ndarray, percentiles: Sequence[float]) -> list[float]:
    """Exact ``np.percentile`` (linear) of 8/16-bit integers from a histogram: no sort, no copy."""
    if values.dtype == bool:
        values = values.view(np.uint8)
    offset = int(np.iinfo(values.dtype).min)
    size = int(np.iinfo(values.dtype).max) - offset + 1
    flat = values.reshape(-1)
    counts = np.zeros(size, np.int64)
    for start in range(0, flat.size, _CHUNK):
        chunk = flat[start : start + _CHUNK]
        if offset:
            chunk = chunk.astype(np.int32) - offset
        counts += np.bincount(chunk, minlength=size)
    cumulative = np.cumsum(counts)
    n = int(cumulative[-1])
    result = []
    for q in percentiles:
        position = q / 100.0 * (n - 1)
        below = math.floor(position)
        fraction = position - below
        ranks = np.array([below, min(below + 1, n - 1)])
        low, high = (np.searchsorted(cumulative, ranks, side="right") + offset).tolist()
        result.append(float(low + fraction * (high - low)))
    return result


def _percentiles(
    array: np.ndarray, percentiles: Sequence[float], *, mask: np.ndarray | None = None
) -> list[float]:
    """Percentiles (numpy's linear method) ignoring NaN."""
    values = array if mask is None else array[mask]
    if values.dtype.kind in "biu" and values.dtype.itemsize <= 2:
        return _small_int_percentiles(values, percentiles)
    if values.dtype.kind == "f":
        _finite_range(values)  # all NaN / infinite -> clear error
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return [float(v) for v in np.nanpercentile(values, percentiles)]
    return [float(v) for v in np.percentile(values, percentiles)]


def _normalised(array: np.ndarray) -> np.ndarray:
    """``(x - min) / (max - min)`` in a new float32 (float64) array; NaN stay NaN."""
    low, high = _nonconstant_range(array)
    dtype = float_dtype_for(array.dtype)
    out = np.subtract(array, low, dtype=dtype)
    out *= dtype.type(1.0 / (high - low))
    return np.clip(out, 0, 1, out=out)  # rounding may step a hair outside [0, 1]


# ----------------------------------------------------------------------------- windows
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
        ``clip((value - (center - width / 2)) / width, 0, 1)``; NaN stay NaN.

    Examples
    --------
    >>> import numpy as np
    >>> window(np.array([-1000, -600, 0, 200], dtype=np.int16), center=-600, width=1500).round(3)
    array([0.233, 0.5  , 0.9  , 1.   ], dtype=float32)
    """
    if not (width > 0 and math.isfinite(width)):
        raise ValueError(f"window width must be positive and finite, got {width}")
    if not math.isfinite(center):
        raise ValueError(f"window center must be finite, got {center}")
    array = np.asarray(array)
    dtype = float_dtype_for(array.dtype)
    out = np.subtract(array, center - width / 2.0, dtype=dtype)  # the only allocation
    out /= dtype.type(width)
    return np.clip(out, 0, 1, out=out)


def window_preset(array: np.ndarray, *, preset: str = "lung") -> np.ndarray:
    """Apply a standard CT window (see ``WINDOW_PRESETS``) to HU values.

    Parameters
    ----------
    array : numpy.ndarray
        CT image in Hounsfield units.
    preset : str
        One of ``WINDOW_PRESETS``: lung, mediastinum, soft_tissue, bone, brain, stroke,
        stroke_narrow, liver, abdomen.

    Returns
    -------
    numpy.ndarray
        As :func:`window`: float32 (float64 for float64 input) in [0, 1].

    Examples
    --------
    >>> import numpy as np
    >>> window_preset(np.array([-1000, 40, 1300], dtype=np.int16), preset="bone").round(3)
    array([0. , 0.3, 1. ], dtype=float32)
    """
    try:
        center, width = WINDOW_PRESETS[preset]
    except KeyError:
        known = ", ".join(WINDOW_PRESETS)
        raise ValueError(f"unknown window preset {preset!r}; choose one of {known}") from None
    return window(array, center=center, width=width)


def auto_window(
    array: np.ndarray, *, lower_percentile: float = 0.5, upper_percentile: float = 99.5
) -> tuple[float, float]:
    """A window (center, width) spanning two percentiles of the image.

    For images without calibrated units (MR, ultrasound, radiographs). NaN are ignored.

    Parameters
    ----------
    array : numpy.ndarray
        Image.
    lower_percentile, upper_percentile : float
        Percentiles (0-100) that become the window's lower and upper edge.

    Returns
    -------
    center, width : float
        ``((p_low + p_high) / 2, p_high - p_low)`` in image units.

    Raises
    ------
    ValueError
        For empty, all-NaN or constant images, or when both percentiles coincide.

    Examples
    --------
    >>> import numpy as np
    >>> auto_window(np.arange(101, dtype=np.uint8), lower_percentile=10, upper_percentile=90)
    (50.0, 80.0)
    """
    array = check_image(array, allow_nan=True)
    _check_percentiles(lower_percentile, upper_percentile)
    low, high = _percentiles(array, (lower_percentile, upper_percentile))
    if not high > low:
        minimum, maximum = _finite_range(array)
        if maximum <= minimum:
            raise _constant_error(minimum)
        raise ValueError(
            f"the {lower_percentile} and {upper_percentile} percentiles are both {low:g} (most voxels share "
            "that value); widen the percentiles, e.g. 0 and 100"
        )
    return (low + high) / 2.0, high - low


def percentile_window(
    array: np.ndarray, *, lower_percentile: float = 0.5, upper_percentile: float = 99.5
) -> np.ndarray:
    """Window between two percentiles of the image (:func:`auto_window` + :func:`window`).

    Parameters
    ----------
    array : numpy.ndarray
        Image.
    lower_percentile, upper_percentile : float
        Percentiles (0-100) mapped to 0 and 1.

    Returns
    -------
    numpy.ndarray
        float32 (float64 for float64 input) in [0, 1]; NaN stay NaN.

    Examples
    --------
    >>> import numpy as np
    >>> out = percentile_window(np.arange(101, dtype=np.int16), lower_percentile=10, upper_percentile=90)
    >>> out[[0, 50, 100]]
    array([0. , 0.5, 1. ], dtype=float32)
    """
    center, width = auto_window(array, lower_percentile=lower_percentile, upper_percentile=upper_percentile)
    return window(array, center=center, width=width)


def contrast_stretch(
    array: np.ndarray, *, lower_percentile: float = 2.0, upper_percentile: float = 98.0
) -> np.ndarray:
    """Linear contrast stretch: the two percentiles go to 0 and 1, values beyond are clipped.

    The same map as :func:`percentile_window`, with the 2 / 98 defaults of
    ``skimage.exposure.rescale_intensity(image, in_range=(p2, p98))``.

    Parameters
    ----------
    array : numpy.ndarray
        Image.
    lower_percentile, upper_percentile : float
        Percentiles (0-100) mapped to 0 and 1.

    Returns
    -------
    numpy.ndarray
        float32 (float64 for float64 input) in [0, 1]; NaN stay NaN.

    Examples
    --------
    >>> import numpy as np
    >>> contrast_stretch(np.arange(101, dtype=np.uint8))[[0, 2, 50, 98, 100]]
    array([0. , 0. , 0.5, 1. , 1. ], dtype=float32)
    """
    return percentile_window(array, lower_percentile=lower_percentile, upper_percentile=upper_percentile)


# ----------------------------------------------------------------------------- point transforms
def log_transform(array: np.ndarray) -> np.ndarray:
    """Logarithmic intensity transform, normalised to [0, 1].

    ``out = c * log(1 + x - min)`` with ``c = 1 / log(1 + max - min)``, so the minimum
    maps to 0 and the maximum to 1; dark values are spread, bright ones compressed.
    The curve depends on the image units (``x - min`` is not rescaled first).

    Parameters
    ----------
    array : numpy.ndarray
        Image; NaN are ignored for min/max and stay NaN.

    Returns
    -------
    numpy.ndarray
        float32 (float64 for float64 input) in [0, 1].

    Examples
    --------
    >>> import numpy as np
    >>> log_transform(np.array([0, 1, 3, 15], dtype=np.uint8)).round(3)
    array([0.  , 0.25, 0.5 , 1.  ], dtype=float32)
    """
    array = check_image(array, allow_nan=True)
    low, high = _nonconstant_range(array)
    dtype = float_dtype_for(array.dtype)
    out = np.subtract(array, low, dtype=dtype)
    np.log1p(out, out=out)
    out *= dtype.type(1.0 / math.log1p(high - low))
    return np.clip(out, 0, 1, out=out)


def gamma(array: np.ndarray, *, gamma: float = 1.0) -> np.ndarray:
    """Gamma (power-law) transform of the min-max normalised image.

    ``out = ((x - min) / (max - min)) ** gamma``: gamma < 1 brightens dark regions,
    gamma > 1 darkens; gamma = 1 only normalises to [0, 1].

    Parameters
    ----------
    array : numpy.ndarray
        Image; NaN are ignored for min/max and stay NaN.
    gamma : float
        Exponent, positive.

    Returns
    -------
    numpy.ndarray
        float32 (float64 for float64 input) in [0, 1].

    Examples
    --------
    >>> import numpy as np
    >>> gamma(np.array([0, 25, 100], dtype=np.int16), gamma=0.5)
    array([0. , 0.5, 1. ], dtype=float32)
    """
    exponent = gamma
    if not (exponent > 0 and math.isfinite(exponent)):
        raise ValueError(f"gamma must be positive and finite, got {exponent}")
    out = _normalised(check_image(array, allow_nan=True))
    if exponent != 1.0:
        np.power(out, out.dtype.type(exponent), out=out)
    return out


# ----------------------------------------------------------------------------- histograms
def equalize_histogram(
    array: np.ndarray,
    *,
    bins: int = 256,
    mask: np.ndarray | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelCheck | None = None,
) -> np.ndarray:
    """Global histogram equalization.

    The same map as ``skimage.exposure.equalize_hist``: the cumulative histogram of
    ``bins`` equal bins between the image minimum and maximum (inside ``mask`` when
    given), linearly interpolated at the bin centres. Unlike skimage it uses ``bins``
    for integer images too (skimage uses one bin per integer value there), returns
    float32, ignores NaN (they stay NaN) and works slab by slab in threads.

    Parameters
    ----------
    array : numpy.ndarray
        Image.
    bins : int
        Number of histogram bins (at least 2).
    mask : numpy.ndarray, optional
        Voxels (same shape, nonzero = inside) whose histogram defines the map, e.g. the
        body; the map is applied to every voxel.
    progress, cancel : callable, optional
        Progress callback (fraction in [0, 1]) and cancel check.

    Returns
    -------
    numpy.ndarray
        float32 (float64 for float64 input) in [0, 1].

    Examples
    --------
    >>> import numpy as np
    >>> out = equalize_histogram(np.repeat(np.arange(4, dtype=np.uint8), [1, 1, 1, 5]), bins=4)
    >>> [round(float(v), 3) for v in out]
    [0.125, 0.229, 0.479, 1.0, 1.0, 1.0, 1.0, 1.0]
    """
    array = check_image(array, allow_nan=True)
    bins = int(bins)
    if bins < 2:
        raise ValueError(f"bins must be at least 2, got {bins}")
    mask = check_mask(mask, array.shape)
    values = array if mask is None else array[mask]
    low, high = _nonconstant_range(values)
    dtype = float_dtype_for(array.dtype)
    # edges in the image's float type, as np.histogram / skimage do for float images
    edge_type = array.dtype.type if array.dtype.kind == "f" else np.float64
    hist_range = (edge_type(low), edge_type(high))

    def count(slab: np.ndarray) -> np.ndarray:
        return np.histogram(slab, bins=bins, range=hist_range)[0]

    check_cancel(cancel)
    parts = [p for p in np.array_split(values.reshape(-1), 4 * default_workers()) if p.size]
    with ThreadPoolExecutor(max_workers=default_workers()) as pool:
        hist = sum(pool.map(count, parts))
    edges = np.histogram_bin_edges(np.empty(0, edge_type), bins=bins, range=hist_range)
    centers = (edges[:-1] + edges[1:]) / 2.0
    cdf = np.cumsum(hist) / float(np.sum(hist))
    report(progress, 0.2)
    check_cancel(cancel)

    if array.dtype.kind in "biu" and array.dtype.itemsize <= 2:
        # look-up table over the integer values present: exact and far faster than np.interp
        offset = int(low) if mask is None else int(array.min())
        top = int(high) if mask is None else int(array.max())
        lut = np.interp(np.arange(offset, top + 1), centers, cdf).astype(dtype)

        def apply(slab: np.ndarray) -> np.ndarray:
            return lut[slab.astype(np.int32) - offset] if offset else lut[slab]

    else:
        # np.interp on uniform bin centres, by arithmetic instead of a binary search (agrees
        # with skimage to ~2e-5: its float32 centres are not exactly uniform)
        start, inverse_step = float(centers[0]), float(bins / (high - low))
        levels = cdf.astype(dtype)
        slopes = np.append(np.diff(cdf), 0.0).astype(dtype)

        def apply(slab: np.ndarray) -> np.ndarray:
            position = np.subtract(slab, start, dtype=dtype)
            position *= dtype.type(inverse_step)
            np.clip(position, 0, bins - 1, out=position)  # NaN stay NaN
            with np.errstate(invalid="ignore"):
                index = position.astype(np.int32)
            np.clip(index, 0, bins - 1, out=index)  # (NaN cast to garbage; their result is NaN anyway)
            position -= index
            position *= slopes[index]
            position += levels[index]
            return position

    return map_chunks(
        apply,
        array,
        out_dtype=dtype,
        progress=lambda f: report(progress, 0.2 + 0.8 * f),
        cancel=cancel,
    )


# ----------------------------------------------------------------------------- CLAHE
def clahe_kernel_voxels(
    shape: Sequence[int], *, kernel_size: float | None = None, spacing: Sequence[float] | None = None
) -> tuple[int, ...]:
    """The CLAHE tile (kernel) size in voxels per axis for a size in mm.

    Parameters
    ----------
    shape : sequence of int
        Image shape (numpy order).
    kernel_size : float, optional
        Edge of the contextual region in mm. None or 0: skimage's default, 1/8 of the
        image along each axis.
    spacing : sequence of float, optional
        Voxel spacing in mm (numpy order); 1 mm when not given.

    Returns
    -------
    tuple of int
        ``max(1, round(kernel_size / spacing))`` per axis, at most the axis length.

    Examples
    --------
    >>> clahe_kernel_voxels((40, 512, 512), kernel_size=50.0, spacing=(5.0, 0.7, 0.7))
    (10, 71, 71)
    """
    shape = tuple(int(s) for s in shape)
    if not kernel_size:
        return tuple(max(s // 8, 1) for s in shape)
    if not (kernel_size > 0 and math.isfinite(kernel_size)):
        raise ValueError(f"kernel_size must be positive (mm), got {kernel_size}")
    spacing = tuple(float(s) for s in spacing) if spacing is not None else (1.0,) * len(shape)
    if len(spacing) != len(shape):
        raise ValueError(f"spacing has {len(spacing)} entries for an image with {len(shape)} axes")
    return tuple(min(max(1, int(round(kernel_size / s))), n) for s, n in zip(spacing, shape))


def _clahe_nd(
    image: np.ndarray,
    kernel: tuple[int, ...],
    clip_limit: float,
    bins: int,
    progress: ProgressCallback | None = None,
    cancel: CancelCheck | None = None,
) -> np.ndarray:
    """skimage CLAHE of a [0, 1] image; a constant image (e.g. padding) gives 0.

    With ``progress`` or ``cancel`` (3D, one call on the whole volume) the work runs in
    :func:`_clahe_in_steps`, the same arithmetic as ``equalize_adapthist`` split by rows
    of contextual regions; otherwise scikit-image is called directly.
    """
    from skimage.exposure import equalize_adapthist

    if image.max() <= image.min():
        return np.zeros_like(image)
    if progress is None and cancel is None:
        return equalize_adapthist(image, kernel_size=kernel, clip_limit=clip_limit, nbins=bins)
    return _clahe_in_steps(image, kernel, clip_limit, bins, progress, cancel)


_CLAHE_HIST_SHARE = 0.3


def _clahe_in_steps(image, kernel, clip_limit, bins, progress, cancel) -> np.ndarray:
    """``skimage.exposure.equalize_adapthist`` (0.26, gray image) with progress and Cancel.

    The histograms of the contextual regions are computed as skimage does, in 10 groups
    of regions (progress up to 0.3: many small regions make this part long); the
    interpolation runs one row of regions along the first axis and one of the 2**ndim
    corner maps at a time (progress after each, Cancel before each). Every voxel gets the same float32 operations in the same
    order, so the result is identical (tested against ``equalize_adapthist``).
    """
    import math

    from skimage._shared.utils import _supported_float_type
    from skimage.exposure import rescale_intensity
    from skimage.exposure._adapthist import NR_OF_GRAY, clip_histogram, map_histogram
    from skimage.util import img_as_uint

    float_dtype = _supported_float_type(image.dtype)
    image = img_as_uint(image)
    image = np.round(rescale_intensity(image, out_range=(0, NR_OF_GRAY - 1))).astype(np.min_scalar_type(NR_OF_GRAY))
    kernel_size = [int(k) for k in kernel]
    ndim = image.ndim
    dtype = image.dtype
    check_cancel(cancel)
    pad_start = [k // 2 for k in kernel_size]
    pad_end = [(k - s % k) % k + int(np.ceil(k / 2.0)) for k, s in zip(kernel_size, image.shape)]
    image = np.pad(image, [[a, b] for a, b in zip(pad_start, pad_end)], mode="reflect")
    bin_size = 1 + NR_OF_GRAY // bins
    lut = np.arange(NR_OF_GRAY, dtype=np.min_scalar_type(NR_OF_GRAY))
    lut //= bin_size
    image = lut[image]
    # histograms of the contextual regions (skimage's code)
    ns_hist = [int(s / k) - 1 for s, k in zip(image.shape, kernel_size)]
    hist_blocks_shape = np.array([ns_hist, kernel_size]).T.flatten()
    axis_order = np.array([np.arange(0, ndim * 2, 2), np.arange(1, ndim * 2, 2)]).flatten()
    hist_slices = [slice(k // 2, k // 2 + n * k) for k, n in zip(kernel_size, ns_hist)]
    hist_blocks = image[tuple(hist_slices)].reshape(hist_blocks_shape)
    hist_blocks = np.transpose(hist_blocks, axes=axis_order)
    hist_block_assembled_shape = hist_blocks.shape
    hist_blocks = hist_blocks.reshape((math.prod(ns_hist), -1))
    kernel_elements = math.prod(kernel_size)
    clim = int(np.clip(clip_limit * kernel_elements, 1, None)) if clip_limit > 0.0 else kernel_elements
    parts = []  # region by region as skimage does, in 10 groups of regions (Cancel between)
    for i, group in enumerate(np.array_split(np.arange(hist_blocks.shape[0]), 10)):
        check_cancel(cancel)
        if len(group):
            part = np.apply_along_axis(np.bincount, -1, hist_blocks[group], minlength=bins)
            parts.append(np.apply_along_axis(clip_histogram, -1, part, clip_limit=clim))
        report(progress, _CLAHE_HIST_SHARE * (i + 1) / 10)
    del hist_blocks
    hist = np.concatenate(parts)
    hist = map_histogram(hist, 0, NR_OF_GRAY - 1, kernel_elements)
    hist = hist.reshape(hist_block_assembled_shape[:ndim] + (-1,))
    map_array = np.pad(hist, [[1, 1] for _ in range(ndim)] + [[0, 0]], mode="edge")
    # interpolation, one row of regions (kernel_size[0] planes of the padded image) at a time
    ns_proc = [int(s / k) for s, k in zip(image.shape, kernel_size)]
    coeffs = np.meshgrid(*tuple([np.arange(k) / k for k in kernel_size[::-1]]), indexing="ij")
    coeffs = [np.transpose(c).flatten() for c in coeffs]
    inv_coeffs = [1 - c for c in coeffs]
    edges = list(np.ndindex(*([2] * ndim)))
    edge_coeffs = [np.prod([[inv_coeffs, coeffs][e][d] for d, e in enumerate(edge[::-1])], 0) for edge in edges]
    row_shape = [1] + ns_proc[1:]
    blocks_shape = np.array([row_shape, kernel_size]).T.flatten()
    rebuild_order = np.array([np.arange(0, ndim), np.arange(ndim, ndim * 2)]).T.flatten()
    k0 = kernel_size[0]
    result_image = np.empty((ns_proc[0] * k0,) + image.shape[1:], dtype)
    steps = ns_proc[0] * len(edges)
    for row in range(ns_proc[0]):
        blocks = image[row * k0 : (row + 1) * k0].reshape(blocks_shape)
        blocks = np.transpose(blocks, axes=axis_order)
        blocks_flattened_shape = blocks.shape
        blocks = np.reshape(blocks, (math.prod(row_shape), math.prod(blocks.shape[ndim:])))
        result = np.zeros(blocks.shape, dtype=np.float32)
        for iedge, edge in enumerate(edges):
            check_cancel(cancel)
            first = (edge[0] + row,) + tuple(edge[1:])  # this row's maps (skimage: all rows)
            edge_maps = map_array[tuple(slice(e, e + n) for e, n in zip(first, row_shape))]
            edge_maps = edge_maps.reshape((math.prod(row_shape), -1))
            edge_mapped = np.take_along_axis(edge_maps, blocks, axis=-1)
            result += (edge_mapped * edge_coeffs[iedge]).astype(result.dtype)
            report(progress, _CLAHE_HIST_SHARE + (1 - _CLAHE_HIST_SHARE) * (row * len(edges) + iedge + 1) / steps)
        result = result.astype(dtype).reshape(blocks_flattened_shape)
        result_image[row * k0 : (row + 1) * k0] = np.transpose(result, axes=rebuild_order).reshape((k0,) + image.shape[1:])
    unpad = tuple(slice(a, s - b) for a, b, s in zip(pad_start, pad_end, image.shape))
    out = result_image[unpad].astype(float_dtype, copy=False)
    return rescale_intensity(out)


def clahe(
    array: np.ndarray,
    *,
    kernel_size: float | None = None,
    clip_limit: float = 0.01,
    bins: int = 256,
    spacing: Sequence[float] | None = None,
    per_slice: bool = False,
    progress: ProgressCallback | None = None,
    cancel: CancelCheck | None = None,
) -> np.ndarray:
    """Contrast-limited adaptive histogram equalization (CLAHE) in 2D or 3D.

    scikit-image's algorithm (``skimage.exposure.equalize_adapthist``, Zuiderveld 1994)
    with the contextual region given in mm: on anisotropic data the region has the same
    physical size along every axis, so it spans fewer voxels along thick slices. The
    image is first mapped to [0, 1] with its own min and max (skimage clips negative
    integers otherwise, losing e.g. everything below 0 HU). 3D CLAHE is one skimage call
    (its temporaries take about 25 bytes per voxel; progress comes at the end only);
    ``per_slice`` reports and can be cancelled after every slice.

    Parameters
    ----------
    array : numpy.ndarray
        2D image or 3D volume.
    kernel_size : float, optional
        Edge of the square/cubic contextual region in mm, converted per axis with
        ``spacing`` (:func:`clahe_kernel_voxels`). None or 0: 1/8 of the image along
        each axis (skimage's default).
    clip_limit : float
        Contrast limit in (0, 1]; higher gives more contrast, 0 or 1 is unlimited AHE.
    bins : int
        Number of gray-level bins of the local histograms.
    spacing : sequence of float, optional
        Voxel spacing in mm (numpy order); 1 mm when not given.
    per_slice : bool
        For a 3D volume: equalize each slice along axis 0 as an independent 2D image
        (each then spans [0, 1]; constant slices become 0) instead of using 3D regions.
        Suits thick-slice CT / MR. Ignored for 2D images.
    progress, cancel : callable, optional
        Progress callback (fraction in [0, 1]) and cancel check.

    Returns
    -------
    numpy.ndarray
        float32 (float64 for float64 input) in [0, 1]. NaN voxels take part as the image
        minimum and are NaN again in the output.

    Examples
    --------
    >>> import numpy as np
    >>> image = np.add.outer(np.arange(64), np.arange(64)).astype(np.uint8)
    >>> out = clahe(image, kernel_size=16.0, spacing=(1.0, 1.0))
    >>> out.dtype, float(out.min()), float(out.max())
    (dtype('float32'), 0.0, 1.0)
    """
    array = check_image(array, allow_nan=True)
    if array.ndim < 2:
        raise ValueError(f"CLAHE needs a 2D image or a 3D volume, got shape {array.shape}")
    if not (0.0 <= clip_limit <= 1.0):
        raise ValueError(f"clip_limit must be between 0 and 1, got {clip_limit}")
    bins = int(bins)
    if bins < 2:
        raise ValueError(f"bins must be at least 2, got {bins}")
    spacing = check_spacing(spacing, array.ndim)
    slicewise = bool(per_slice) and array.ndim == 3
    if bool(per_slice) and array.ndim > 3:
        raise ValueError(f"per_slice works on 3D volumes, got shape {array.shape}")
    if array.ndim == 3 and array.shape[-1] in (3, 4) and not slicewise:
        # skimage would take the last axis for colour channels
        raise ValueError(
            f"a volume of shape {array.shape} looks like a colour image to skimage's CLAHE; "
            "use per_slice=True, or convert a colour image to gray first"
        )
    check_cancel(cancel)

    work = _normalised(array)  # the one working copy, [0, 1]
    nan_mask = None
    if work.dtype.kind == "f" and array.dtype.kind == "f":
        nan_mask = np.isnan(work)
        if nan_mask.any():
            work[nan_mask] = 0.0
        else:
            nan_mask = None

    if slicewise:
        kernel = clahe_kernel_voxels(array.shape[1:], kernel_size=kernel_size, spacing=spacing[1:])

        def per_slab(slab: np.ndarray) -> np.ndarray:
            return np.stack([_clahe_nd(s, kernel, clip_limit, bins) for s in slab])

        out = map_chunks(
            per_slab, work, n_chunks=array.shape[0], out_dtype=work.dtype, progress=progress, cancel=cancel
        )
    else:
        # skimage's arithmetic, its interpolation one row of contextual regions and one
        # corner map at a time (progress and Cancel between them; identical result)
        kernel = clahe_kernel_voxels(array.shape, kernel_size=kernel_size, spacing=spacing)
        out = _clahe_nd(work, kernel, clip_limit, bins, progress, cancel).astype(work.dtype, copy=False)
    del work
    if nan_mask is not None:
        out[nan_mask] = np.nan
    report(progress, 1.0)
    return out


# ----------------------------------------------------------------------------- sharpening
def unsharp_mask(
    array: np.ndarray,
    *,
    radius: float = 1.0,
    amount: float = 1.0,
    spacing: Sequence[float] | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelCheck | None = None,
) -> np.ndarray:
    """Unsharp masking in the image's own units (e.g. HU stay HU).

    ``out = x + amount * (x - gaussian(x, sigma=radius))`` with the Gaussian of
    :func:`napari_medimg.processing.denoise.gaussian` (sigma in mm, ``mode="nearest"``).
    Unlike ``skimage.filters.unsharp_mask`` nothing is rescaled or clipped. NaN voxels
    are left out of the blur (normalised convolution) and stay NaN.

    Parameters
    ----------
    array : numpy.ndarray
        Image or volume.
    radius : float
        Standard deviation of the blur in mm (0 returns the image as float).
    amount : float
        Strength of the sharpening; 0 leaves the image unchanged, negative values blur.
    spacing : sequence of float, optional
        Voxel spacing in mm (numpy order); 1 mm when not given.
    progress, cancel : callable, optional
        Progress callback (fraction in [0, 1]) and cancel check.

    Returns
    -------
    numpy.ndarray
        float32 (float64 for float64 input), same shape and units.

    Examples
    --------
    >>> import numpy as np
    >>> step = np.repeat(np.array([0, 100], dtype=np.int16), 8)[None, :].repeat(3, 0)
    >>> out = unsharp_mask(step, radius=1.0, amount=1.0, spacing=(1.0, 1.0))
    >>> bool(out.min() < 0 and out.max() > 100), float(out[1, 0]), float(out[1, -1])
    (True, 0.0, 100.0)
    """
    array = check_image(array, allow_nan=True)
    if not (radius >= 0 and math.isfinite(radius)):
        raise ValueError(f"radius must be zero or positive (mm), got {radius}")
    if not math.isfinite(amount):
        raise ValueError(f"amount must be finite, got {amount}")
    spacing = check_spacing(spacing, array.ndim)
    dtype = float_dtype_for(array.dtype)
    if radius == 0 or amount == 0:
        return array.astype(dtype)
    if array.dtype.kind == "f":
        _finite_range(array)
    has_nan = array.dtype.kind == "f" and bool(np.isnan(array).any())
    check_cancel(cancel)
    if has_nan:  # normalised convolution: NaN neither spread nor count
        valid = ~np.isnan(array)
        filled = np.where(valid, array, 0).astype(dtype, copy=False)
        blurred = _blur(filled, radius, spacing, progress, cancel, 0.0, 0.45)
        del filled
        weights = _blur(valid.view(np.uint8), radius, spacing, progress, cancel, 0.45, 0.9)
        blurred /= weights
        del weights
    else:
        blurred = _blur(array, radius, spacing, progress, cancel, 0.0, 0.9)
    np.subtract(array, blurred, out=blurred, dtype=dtype)  # x - blur
    blurred *= dtype.type(amount)
    np.add(blurred, array, out=blurred, dtype=dtype)  # x + amount * (x - blur)
    report(progress, 1.0)
    return blurred


def _blur(
    array: np.ndarray,
    radius: float,
    spacing: tuple[float, ...],
    progress: ProgressCallback | None,
    cancel: CancelCheck | None,
    start: float,
    stop: float,
) -> np.ndarray:
    """:func:`~napari_medimg.processing.denoise.gaussian` with progress mapped to [start, stop]."""
    from .denoise import gaussian

    check_cancel(cancel)
    if "progress" in inspect.signature(gaussian).parameters:  # the threaded, reporting version
        return gaussian(
            array,
            sigma=radius,
            spacing=spacing,
            progress=lambda f: report(progress, start + (stop - start) * f),
            cancel=cancel,
        )
    out = gaussian(array, sigma=radius, spacing=spacing)
    report(progress, stop)
    return out
