"""Edge and gradient maps in physical units.

All functions take the image first and keyword-only options. ``spacing`` (mm per
spatial axis, numpy order ``(z, y, x)`` or ``(y, x)``) makes the results physical:
gradients are in image units per mm and every sigma is in mm, converted per axis
(2 mm on 0.5 x 0.5 x 5 mm voxels is 4 voxels in-plane and 0.4 across slices). The last
``len(spacing)`` axes are spatial; leading axes (time) are processed one by one.
Without ``spacing`` the array must be 2D or 3D with 1 mm voxels.

Shared conventions
------------------
* **dtype**: float32 out (float64 for float64 input); :func:`canny` returns a uint8
  mask (1 = edge). No float64 copy of the input is made; scipy works in double
  internally per line and writes float32.
* **Border**: edge replication (``mode="nearest"``).
* **NaN** is rejected with a ValueError.
* **Speed**: gaussian derivatives (gradient magnitude, LoG) run scipy's 1D passes one
  at a time, each in pieces across another axis on all cores (no halo: identical to the
  whole-array call), reporting progress and checking Cancel per piece; Sobel runs in slabs
  along the first axis (:func:`napari_medimg.progress.map_chunks`, with a halo).
"""

from __future__ import annotations

import math
import threading
from typing import Callable, Sequence

import numpy as np
from scipy import ndimage

from ..progress import CancelCheck, ProgressCallback, check_cancel, default_workers, map_chunks, report, run_in_threads
from ..dtypes import float_dtype_for
from ._util import check_image, check_positive, over_leading, spatial_spacing

__all__ = ["sobel", "gradient_magnitude", "laplacian_of_gaussian", "canny"]


def _sobel_gradients(block: np.ndarray, spacing: Sequence[float], axes: Sequence[int], dtype) -> list[np.ndarray]:
    """Per-mm derivatives along ``axes`` of ``block`` by normalised Sobel kernels.

    ``scipy.ndimage.sobel`` is a central difference ``[-1, 0, 1]`` along the axis times
    ``[1, 2, 1]`` smoothing along every other axis of ``block``: a ramp of slope ``a``
    per voxel gives ``2 a 4^(n-1)``; dividing by that and by the spacing gives units/mm.
    """
    n = block.ndim
    scale = 2.0 * 4.0 ** (n - 1)
    out = []
    for axis in axes:
        d = ndimage.sobel(block, axis=axis, output=dtype, mode="nearest")
        d /= dtype.type(scale * spacing[axis])
        out.append(d)
    return out


def _magnitude(parts: Sequence[np.ndarray]) -> np.ndarray:
    out = parts[0] * parts[0]
    for p in parts[1:]:
        out += p * p
    np.sqrt(out, out=out)
    return out


def sobel(
    image: np.ndarray,
    *,
    axis: int | None = None,
    spacing: Sequence[float] | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelCheck | None = None,
) -> np.ndarray:
    """Sobel gradient magnitude (or one derivative) in image units per mm.

    Parameters
    ----------
    image : numpy.ndarray
        2D or 3D image (numpy order); leading axes when ``spacing`` is given.
    axis : int, optional
        Spatial axis (0 = first spatial axis) for a signed derivative; by default the
        gradient magnitude over all spatial axes.
    spacing : sequence of float, optional
        Voxel spacing in mm, numpy order; 1 mm when not given.
    progress, cancel : callable, optional
        Progress callback (fraction 0..1) and cancel check.

    Returns
    -------
    numpy.ndarray
        float32 (float64 for float64 input), same shape. The 3x3(x3) Sobel kernel is
        normalised so that a linear ramp gives its exact slope: on 2 mm voxels, a ramp
        rising by 1 per voxel gives 0.5 per mm.

    Examples
    --------
    >>> ramp = np.tile(np.arange(8, dtype=np.float32), (8, 1))
    >>> float(sobel(ramp, spacing=(2.0, 2.0))[4, 4])
    0.5
    """
    image = check_image(image)
    spacing = spatial_spacing(image, spacing)
    n = len(spacing)
    if axis is not None and not -n <= axis < n:
        raise ValueError(f"axis must be one of the {n} spatial axes (0..{n - 1}), got {axis}")
    dtype = float_dtype_for(image.dtype)
    axes = [axis % n] if axis is not None else list(range(n))

    def run(block: np.ndarray, sub):
        def one(slab: np.ndarray) -> np.ndarray:
            parts = _sobel_gradients(slab, spacing, axes, dtype)
            return parts[0] if axis is not None else _magnitude(parts)

        return map_chunks(one, block, halo=1, out_dtype=dtype, progress=sub, cancel=cancel)

    return over_leading(run, image, n, dtype, progress, cancel)


_CHUNKS_PER_PASS = 8  # pieces of each 1D pass: progress and Cancel between them


def _gaussian_1d_passes(
    block: np.ndarray,
    sigmas: Sequence[float],
    orders: Sequence[int],
    dtype: np.dtype,
    done: Callable[[], None],
    cancel: CancelCheck | None,
) -> np.ndarray:
    """``ndimage.gaussian_filter(block, sigmas, order=orders, output=dtype, mode="nearest")``.

    The same 1D passes in the same order as scipy (each pass writes into the output and
    the next reads it back), each cut into pieces across another axis: a 1D filter needs
    no overlap between pieces, so the result is identical, and Cancel and progress act
    between pieces instead of after a whole slab with its wide halo.
    """
    out = np.empty(block.shape, dtype)
    source = block
    for axis, (sigma, order) in enumerate(zip(sigmas, orders)):
        across = 1 if axis == 0 else 0
        edges = np.linspace(0, block.shape[across], min(_CHUNKS_PER_PASS, block.shape[across]) + 1).astype(int)

        def piece(bounds: tuple[int, int], axis: int = axis, sigma: float = sigma, order: int = order) -> None:
            check_cancel(cancel)
            cut = [slice(None)] * block.ndim
            cut[across] = slice(*bounds)
            cut = tuple(cut)
            ndimage.gaussian_filter1d(source[cut], sigma, axis=axis, order=order, output=out[cut], mode="nearest")
            done()

        run_in_threads(piece, list(zip(edges[:-1], edges[1:])), workers=default_workers(), cancel=cancel)
        source = out
    return out


def _gaussian_derivative_sum(
    image: np.ndarray,
    sigma: float,
    spacing: Sequence[float],
    order: int,
    progress: ProgressCallback | None,
    cancel: CancelCheck | None,
) -> np.ndarray:
    """Sum over axes of squared first derivatives (order 1) or of second derivatives (order 2).

    Each derivative is computed by :func:`_gaussian_1d_passes` (scipy's gaussian_filter,
    pass by pass), so large sigmas report progress and cancel within a piece of one pass.
    """
    n = len(spacing)
    dtype = float_dtype_for(image.dtype)
    sigmas = [sigma / s for s in spacing]

    def run(block: np.ndarray, sub: ProgressCallback | None) -> np.ndarray:
        steps = n * sum(min(_CHUNKS_PER_PASS, block.shape[1 if axis == 0 else 0]) for axis in range(n))
        count = [0]
        lock = threading.Lock()

        def done() -> None:
            with lock:
                count[0] += 1
                report(sub, count[0] / steps)

        total = None
        for axis in range(n):
            orders = [0] * n
            orders[axis] = order
            d = _gaussian_1d_passes(block, sigmas, orders, dtype, done, cancel)
            d /= dtype.type(spacing[axis] ** order)
            if order == 1:
                d *= d
            total = d if total is None else np.add(total, d, out=total)
        if order == 1:
            np.sqrt(total, out=total)
        return total

    return over_leading(run, image, n, dtype, progress, cancel)


def gradient_magnitude(
    image: np.ndarray,
    *,
    sigma: float = 1.0,
    spacing: Sequence[float] | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelCheck | None = None,
) -> np.ndarray:
    """Gradient magnitude with gaussian derivatives, in image units per mm.

    Each derivative is ``scipy.ndimage.gaussian_filter(order=1)`` along one axis with
    the per-axis sigma ``sigma / spacing`` (voxels), divided by that axis' spacing;
    the magnitude is the root of their sum of squares. On isotropic 1 mm voxels this
    equals ``scipy.ndimage.gaussian_gradient_magnitude(image, sigma, mode="nearest")``.

    Parameters
    ----------
    image : numpy.ndarray
        2D or 3D image (numpy order); leading axes when ``spacing`` is given.
    sigma : float
        Standard deviation of the gaussian in mm (> 0).
    spacing : sequence of float, optional
        Voxel spacing in mm, numpy order; 1 mm when not given.
    progress, cancel : callable, optional
        Progress callback (fraction 0..1) and cancel check.

    Returns
    -------
    numpy.ndarray
        float32 (float64 for float64 input), same shape.

    Examples
    --------
    >>> ramp = np.tile(np.arange(32, dtype=np.float32) * 3, (32, 1))
    >>> round(float(gradient_magnitude(ramp, sigma=2.0, spacing=(1.5, 1.5))[16, 16]), 2)
    2.0
    """
    image = check_image(image)
    spacing = spatial_spacing(image, spacing)
    sigma = check_positive(sigma, "sigma (mm)")
    return _gaussian_derivative_sum(image, sigma, spacing, 1, progress, cancel)


def laplacian_of_gaussian(
    image: np.ndarray,
    *,
    sigma: float = 1.0,
    normalize: bool = True,
    spacing: Sequence[float] | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelCheck | None = None,
) -> np.ndarray:
    """Laplacian of Gaussian with sigma in mm, optionally scale-normalised.

    The sum over axes of ``scipy.ndimage.gaussian_filter(order=2)`` along each axis
    (per-axis sigma ``sigma / spacing`` voxels) divided by that axis' spacing squared:
    the Laplacian in image units per mm². With ``normalize`` it is multiplied by
    ``sigma²`` (mm²), so responses at different scales are comparable: the response at
    the centre of a gaussian blob of standard deviation ``t`` mm is most negative (bright
    blob) when ``sigma = t`` in 2D and ``sigma = t * sqrt(2/3)`` in 3D (``sigma = r /
    sqrt(d)`` for a ball of radius ``r`` in d dimensions).

    Parameters
    ----------
    image : numpy.ndarray
        2D or 3D image (numpy order); leading axes when ``spacing`` is given.
    sigma : float
        Standard deviation of the gaussian in mm (> 0).
    normalize : bool
        Multiply by ``sigma**2`` (scale-normalised LoG, units of the image).
    spacing : sequence of float, optional
        Voxel spacing in mm, numpy order; 1 mm when not given.
    progress, cancel : callable, optional
        Progress callback (fraction 0..1) and cancel check.

    Returns
    -------
    numpy.ndarray
        float32 (float64 for float64 input), same shape. Bright blobs give negative
        values at their centres, dark blobs positive ones (the mathematical sign).
    """
    image = check_image(image)
    spacing = spatial_spacing(image, spacing)
    sigma = check_positive(sigma, "sigma (mm)")
    out = _gaussian_derivative_sum(image, sigma, spacing, 2, progress, cancel)
    if normalize:
        out *= out.dtype.type(sigma * sigma)
    return out


# ----------------------------------------------------------------------------- canny


def _smooth(block: np.ndarray, sigmas: Sequence[float], mask: np.ndarray | None, dtype) -> np.ndarray:
    """Gaussian smoothing; with a mask, normalised convolution (masked-out voxels ignored)."""
    if mask is None:
        if not any(sigmas):
            return block.astype(dtype, copy=True)
        return ndimage.gaussian_filter(block, sigmas, output=dtype, mode="nearest")
    weights = mask.astype(dtype)
    num = ndimage.gaussian_filter(np.where(mask, block, 0).astype(dtype, copy=False), sigmas, output=dtype, mode="nearest")
    den = ndimage.gaussian_filter(weights, sigmas, output=dtype, mode="nearest")
    den += np.finfo(dtype).eps
    num /= den
    return num


def _inner(shape: tuple[int, ...], mask: np.ndarray | None) -> np.ndarray:
    """Voxels whose gradient is trusted: not on the border, and inside the eroded mask."""
    if mask is None:
        inner = np.zeros(shape, bool)
        inner[tuple(slice(1, -1) for _ in shape)] = True
        return inner
    return ndimage.binary_erosion(mask, np.ones((3,) * len(shape), bool), border_value=0)


def _non_maximum(
    magnitude: np.ndarray, gradients: Sequence[np.ndarray], spacing: Sequence[float], candidate: np.ndarray
) -> np.ndarray:
    """Keep candidates not smaller than the magnitude one step either way along the normal.

    The edge normal in index units is ``g_a / spacing_a`` (``g`` per mm); it is scaled
    so that its largest component is one voxel and the magnitude is sampled at
    ``p ± step`` by linear interpolation, which in 2D is scikit-image's interpolation
    between the two neighbours in the gradient's octant.
    """
    points = np.nonzero(candidate)
    if points[0].size == 0:
        return candidate
    step = np.stack([g[points] / s for g, s in zip(gradients, spacing)]).astype(np.float64)
    step /= np.abs(step).max(axis=0, keepdims=True)
    centre = np.stack(points).astype(np.float64)
    m = magnitude[points]
    keep = np.ones(m.shape, bool)
    for sign in (1.0, -1.0):
        sample = ndimage.map_coordinates(magnitude, centre + sign * step, order=1, mode="nearest")
        keep &= m >= sample
    out = np.zeros(candidate.shape, bool)
    out[tuple(p[keep] for p in points)] = True
    return out


def _canny_block(
    block: np.ndarray,
    mask: np.ndarray | None,
    sigmas: Sequence[float],
    spacing: Sequence[float],
    dtype,
    thresholds: tuple[float, float] | None,
):
    """Smoothed gradient magnitude, or with ``thresholds`` the edge mask, of one block."""
    smoothed = _smooth(block, sigmas, mask, dtype)
    gradients = _sobel_gradients(smoothed, spacing, range(block.ndim), dtype)
    magnitude = _magnitude(gradients)
    inner = _inner(block.shape, mask)
    if thresholds is None:
        return magnitude, inner
    low, high = thresholds
    candidate = inner & (magnitude >= low) & (magnitude > 0)
    thin = _non_maximum(magnitude, gradients, spacing, candidate)
    labels, count = ndimage.label(thin, np.ones((3,) * block.ndim, bool))
    if count == 0:
        return thin.view(np.uint8)
    good = np.zeros(count + 1, bool)
    good[np.unique(labels[thin & (magnitude >= high)])] = True
    good[0] = False
    return good[labels].view(np.uint8)


def canny(
    image: np.ndarray,
    *,
    sigma: float = 1.0,
    low_threshold: float | None = None,
    high_threshold: float | None = None,
    use_quantiles: bool = False,
    per_slice: bool = True,
    mask: np.ndarray | None = None,
    spacing: Sequence[float] | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelCheck | None = None,
) -> np.ndarray:
    """Canny edges with sigma in mm and thresholds on the gradient in units per mm.

    The steps of :func:`skimage.feature.canny` in n dimensions with physical units:
    gaussian smoothing (sigma in mm per axis), normalised Sobel gradients in image
    units per mm (as :func:`sobel`), non-maximum suppression along the edge normal
    with linear interpolation, and hysteresis (edges are connected components,
    8-connected in 2D / 26-connected in 3D, of non-maximum-suppressed voxels above
    ``low_threshold`` that contain a voxel above ``high_threshold``). On 1 mm pixels and
    with ``mode="nearest"`` it gives the same edges as scikit-image with its thresholds
    multiplied by 8 (its unnormalised Sobel). One-voxel borders are never edges.

    Parameters
    ----------
    image : numpy.ndarray
        2D or 3D image (numpy order); leading axes when ``spacing`` is given.
    sigma : float
        Standard deviation of the smoothing gaussian in mm (0 = no smoothing).
    low_threshold, high_threshold : float, optional
        Hysteresis thresholds on the smoothed gradient magnitude in image units per mm,
        or quantiles in [0, 1] of the magnitude with ``use_quantiles``. By default 0.1
        and 0.2 times the largest magnitude in the whole image (inside ``mask``), the
        same for every slice.
    use_quantiles : bool
        Read the thresholds as quantiles of the gradient magnitude over the whole image.
    per_slice : bool
        For 3D input, detect 2D edges in each slice (last two axes; no smoothing
        across slices), as scikit-image does for a 2D image. False gives 3D edges
        (surfaces) with 3D smoothing, gradients and suppression.
    mask : numpy.ndarray, optional
        Spatial mask; outside it nothing is an edge and smoothing ignores it.
    spacing : sequence of float, optional
        Voxel spacing in mm, numpy order; 1 mm when not given.
    progress, cancel : callable, optional
        Progress callback (fraction 0..1) and cancel check, per slice (per volume in 3D).

    Returns
    -------
    numpy.ndarray
        uint8 mask, 1 on edges, same shape as ``image``.
    """
    image = check_image(image)
    spacing = spatial_spacing(image, spacing)
    sigma = check_positive(sigma, "sigma (mm)", allow_zero=True)
    dtype = float_dtype_for(image.dtype)
    n = len(spacing)
    if mask is not None:
        mask = np.asarray(mask).astype(bool, copy=False)
        if mask.shape != image.shape[-n:]:
            raise ValueError(f"mask shape {mask.shape} differs from the image's spatial shape {image.shape[-n:]}")
        if not mask.any():
            raise ValueError("mask is empty: nothing to detect edges in")
    for name, value in (("low_threshold", low_threshold), ("high_threshold", high_threshold)):
        if value is not None and (not math.isfinite(value) or value < 0 or (use_quantiles and value > 1)):
            raise ValueError(f"{name} must be >= 0{' and <= 1 (a quantile)' if use_quantiles else ''}, got {value}")
    if low_threshold is not None and high_threshold is not None and high_threshold < low_threshold:
        raise ValueError(f"low_threshold ({low_threshold}) must not exceed high_threshold ({high_threshold})")

    slices = per_slice and n == 3
    work_spacing = spacing[1:] if slices else spacing
    sigmas = [sigma / s for s in work_spacing]
    volumes = image.reshape((-1,) + image.shape[-n:])  # leading axes flattened
    blocks: list[tuple[int, int | None]] = [
        (v, z) for v in range(volumes.shape[0]) for z in (range(image.shape[-3]) if slices else [None])
    ]

    def block_of(v: int, z: int | None):
        data = volumes[v] if z is None else volumes[v, z]
        sub_mask = None if mask is None else (mask if z is None else mask[z])
        return data, sub_mask

    relative = low_threshold is None or high_threshold is None or use_quantiles
    if relative:
        # pass 1: the gradient magnitude of the whole image, for global thresholds
        values = []
        for i, (v, z) in enumerate(blocks):
            check_cancel(cancel)
            data, sub_mask = block_of(v, z)
            magnitude, inner = _canny_block(data, sub_mask, sigmas, work_spacing, dtype, None)
            values.append(magnitude[inner] if use_quantiles else np.array([magnitude[inner].max(initial=0.0)]))
            report(progress, 0.5 * (i + 1) / len(blocks))
        values = np.concatenate(values)
        if use_quantiles:
            q = [0.1 if low_threshold is None else low_threshold, 0.2 if high_threshold is None else high_threshold]
            low, high = (float(x) for x in np.quantile(values, q))
        else:
            peak = float(values.max())
            low = 0.1 * peak if low_threshold is None else float(low_threshold)
            high = 0.2 * peak if high_threshold is None else float(high_threshold)
    else:
        low, high = float(low_threshold), float(high_threshold)
    low = min(low, high)

    out = np.zeros(volumes.shape, np.uint8)
    start = 0.5 if relative else 0.0
    for i, (v, z) in enumerate(blocks):
        check_cancel(cancel)
        data, sub_mask = block_of(v, z)
        edges = _canny_block(data, sub_mask, sigmas, work_spacing, dtype, (low, high))
        if z is None:
            out[v] = edges
        else:
            out[v, z] = edges
        report(progress, start + (1 - start) * (i + 1) / len(blocks))
    return out.reshape(image.shape)
