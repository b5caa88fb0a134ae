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
  along the first axis (:func:`napari_medimg.progress.map_chunks`, with a halo). 3D
  :func:`canny` reuses both: smoothing by those pieces, Sobel and magnitude in slabs,
  suppression slab by slab, bit-identical to whole-array calls (16 M voxels at sigma
  10 mm: 106 steps, none longer than 0.3 s on 2 loaded cores).
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


class _Span:
    """The part ``[start, stop]`` of a run's progress that one step of it fills.

    Steps run one after another: :meth:`part` gives a sub-step its share, :meth:`counter`
    a thread-safe ``done()`` that fills the span in ``total`` equal pieces, :meth:`end`
    reports it full. Without a ``progress`` callback nothing is reported.
    """

    def __init__(self, progress: ProgressCallback | None, start: float = 0.0, stop: float = 1.0) -> None:
        self.progress, self.start, self.stop = progress, start, stop

    def part(self, low: float, high: float) -> "_Span":
        """The sub-span from fraction ``low`` to ``high`` of this one."""
        width = self.stop - self.start
        return _Span(self.progress, self.start + low * width, self.start + high * width)

    def share(self, index: int, count: int) -> "_Span":
        """The ``index``-th of ``count`` equal sub-spans."""
        return self.part(index / count, (index + 1) / count)

    def counter(self, total: int) -> Callable[[], None]:
        """``done()``: one more of ``total`` pieces finished (callable from any thread)."""
        count = [0]
        lock = threading.Lock()

        def done() -> None:
            with lock:
                count[0] += 1
                report(self.progress, self.start + (self.stop - self.start) * min(count[0] / total, 1.0))

        return done

    def end(self) -> None:
        """Report the span full."""
        report(self.progress, self.stop)


_CHUNKS_PER_PASS = 8  # pieces of each 1D pass: progress and Cancel between them


def _run_pieces(
    function: Callable[[tuple[int, int]], None], pieces: list[tuple[int, int]], cancel: CancelCheck | None
) -> None:
    """``function(piece)`` for each piece, in threads; one piece runs here (starting a thread
    costs ~3 ms on a loaded machine: more than a 2D slice's whole step)."""
    if len(pieces) == 1:
        function(pieces[0])
    else:
        run_in_threads(function, pieces, workers=min(default_workers(), len(pieces)), cancel=cancel)


def _gaussian_1d_passes(
    block: np.ndarray,
    sigmas: Sequence[float],
    orders: Sequence[int],
    dtype: np.dtype,
    done: Callable[[], None],
    cancel: CancelCheck | None,
    pieces: int = _CHUNKS_PER_PASS,
) -> np.ndarray:
    """``ndimage.gaussian_filter(block, sigmas, order=orders, output=dtype, mode="nearest")``.

    The same 1D passes in the same order as scipy (each pass writes into the output and
    the next reads it back), each cut into (at most) ``pieces`` pieces across another
    axis: a 1D filter needs no overlap between pieces, so the result is identical, and
    Cancel and progress act between pieces instead of after a whole slab with its wide
    halo. ``done()`` is called after each piece (:func:`_pieces` of them in all).
    """
    out = np.empty(block.shape, dtype)
    source = block
    for axis, (sigma, order) in enumerate(zip(sigmas, orders)):
        across = 1 if axis == 0 else 0
        edges = np.linspace(0, block.shape[across], min(pieces, block.shape[across]) + 1).astype(int)

        def piece(bounds: tuple[int, int], axis: int = axis, sigma: float = sigma, order: int = order) -> None:
            check_cancel(cancel)
            cut = [slice(None)] * block.ndim
            cut[across] = slice(*bounds)
            cut = tuple(cut)
            ndimage.gaussian_filter1d(source[cut], sigma, axis=axis, order=order, output=out[cut], mode="nearest")
            done()

        _run_pieces(piece, list(zip(edges[:-1], edges[1:])), cancel)
        source = out
    return out


def _pieces(shape: Sequence[int], pieces: int = _CHUNKS_PER_PASS) -> int:
    """Pieces of one :func:`_gaussian_1d_passes` call on an array of ``shape`` (all its passes)."""
    return sum(min(pieces, shape[1 if axis == 0 else 0]) for axis in range(len(shape)))


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
        done = _Span(sub).counter(n * _pieces(block.shape))
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


_SLABS = 16  # slabs of the Sobel / magnitude step along the first axis
#: Blocks from this many voxels on are smoothed and differentiated in pieces (progress and
#: Cancel within them); smaller ones (a 2D slice: ~10 ms) in one piece each, where the
#: pieces' threads would cost more than they save.
_PIECES_FROM = 1 << 20


_Found = tuple[list[np.ndarray], np.ndarray, np.ndarray]  # gradients, magnitude, trusted voxels of a block


def _pieces_for(shape: Sequence[int], pieces: int) -> int:
    """``pieces`` for a block of :data:`_PIECES_FROM` voxels or more, else 1."""
    return pieces if math.prod(shape) >= _PIECES_FROM else 1
_NMS_SLABS = 64  # slabs of the non-maximum suppression (a few planes of candidates each)


def _smooth(
    block: np.ndarray,
    sigmas: Sequence[float],
    mask: np.ndarray | None,
    dtype: np.dtype,
    span: _Span,
    cancel: CancelCheck | None,
) -> np.ndarray:
    """Gaussian smoothing; with a mask, normalised convolution (masked-out voxels ignored).

    ``ndimage.gaussian_filter(..., mode="nearest")`` run pass by pass in pieces
    (:func:`_gaussian_1d_passes`, bit-identical), so Cancel acts within a piece.
    """
    if not any(sigmas):
        span.end()
        return block.astype(dtype, copy=True)
    zeros = [0] * block.ndim
    pieces = _pieces_for(block.shape, _CHUNKS_PER_PASS)
    done = span.counter((1 if mask is None else 2) * _pieces(block.shape, pieces))
    if mask is None:
        return _gaussian_1d_passes(block, sigmas, zeros, dtype, done, cancel, pieces)
    masked = np.where(mask, block, 0).astype(dtype, copy=False)
    num = _gaussian_1d_passes(masked, sigmas, zeros, dtype, done, cancel, pieces)
    den = _gaussian_1d_passes(mask.astype(dtype), sigmas, zeros, dtype, done, cancel, pieces)
    den += np.finfo(dtype).eps
    num /= den
    return num


def _slab_bounds(length: int, slabs: int) -> list[tuple[int, int]]:
    """``(start, stop)`` of at most ``slabs`` slabs covering ``range(length)``."""
    edges = np.linspace(0, length, min(slabs, length) + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]


def _gradients_and_magnitude(
    smoothed: np.ndarray, spacing: Sequence[float], dtype: np.dtype, span: _Span, cancel: CancelCheck | None
) -> tuple[list[np.ndarray], np.ndarray]:
    """Sobel derivatives per mm along every axis and their magnitude, slab by slab in threads.

    Each slab along the first axis is extended by one voxel on each side (the Sobel
    kernel's reach) and cropped: the same values as the whole-array call.
    """
    length = smoothed.shape[0]
    gradients = [np.empty(smoothed.shape, dtype) for _ in range(smoothed.ndim)]
    magnitude = np.empty(smoothed.shape, dtype)
    bounds = _slab_bounds(length, _pieces_for(smoothed.shape, _SLABS))
    done = span.counter(len(bounds))

    def slab(limits: tuple[int, int]) -> None:
        check_cancel(cancel)
        start, stop = limits
        lo, hi = max(0, start - 1), min(length, stop + 1)
        whole = _sobel_gradients(smoothed[lo:hi], spacing, range(smoothed.ndim), dtype)
        parts = [d[start - lo : stop - lo] for d in whole]
        for out, part in zip(gradients, parts):
            out[start:stop] = part
        magnitude[start:stop] = _magnitude(parts)
        done()

    _run_pieces(slab, bounds, cancel)
    return gradients, magnitude


def _inner(shape: tuple[int, ...], mask: np.ndarray | None, cancel: CancelCheck | None) -> np.ndarray:
    """Voxels whose gradient is trusted: not on the border, and inside the eroded mask."""
    if mask is None:
        inner = np.zeros(shape, bool)
        inner[tuple(slice(1, -1) for _ in shape)] = True
        return inner
    structure = np.ones((3,) * len(shape), bool)
    return map_chunks(
        lambda part: ndimage.binary_erosion(part, structure, border_value=0), mask, halo=1, cancel=cancel
    )


def _canny_gradients(
    block: np.ndarray,
    mask: np.ndarray | None,
    sigmas: Sequence[float],
    spacing: Sequence[float],
    dtype: np.dtype,
    span: _Span,
    cancel: CancelCheck | None,
) -> _Found:
    """Sobel gradients per mm of the smoothed block, their magnitude and the trusted voxels."""
    smoothed = _smooth(block, sigmas, mask, dtype, span.part(0.0, 0.35), cancel)
    gradients, magnitude = _gradients_and_magnitude(smoothed, spacing, dtype, span.part(0.35, 0.95), cancel)
    del smoothed
    inner = _inner(block.shape, mask, cancel)
    span.end()
    return gradients, magnitude, inner


def _non_maximum(
    magnitude: np.ndarray,
    gradients: Sequence[np.ndarray],
    spacing: Sequence[float],
    candidate: np.ndarray,
    span: _Span,
    cancel: CancelCheck | None,
) -> np.ndarray:
    """Keep candidates not smaller than the magnitude one step either way along the normal.

    The edge normal in index units is ``g_a / spacing_a`` (``g`` per mm); it is scaled
    so that its largest component is one voxel and the magnitude is sampled at
    ``p ± step`` by linear interpolation, which in 2D is scikit-image's interpolation
    between the two neighbours in the gradient's octant. Each candidate is decided on
    its own, so they are taken slab by slab along the first axis (the same result).
    """
    out = np.zeros(candidate.shape, bool)
    bounds = _slab_bounds(candidate.shape[0], _pieces_for(candidate.shape, _NMS_SLABS))
    done = span.counter(len(bounds))
    for start, stop in bounds:
        check_cancel(cancel)
        points = np.nonzero(candidate[start:stop])
        points = (points[0] + start,) + points[1:]
        step = np.stack([g[points] / s for g, s in zip(gradients, spacing)]).astype(np.float64)
        step /= np.abs(step).max(axis=0, keepdims=True)
        centre = np.stack(points).astype(np.float64)
        m = magnitude[points]
        keep = np.ones(m.shape, bool)
        for sign in (1.0, -1.0):
            sample = ndimage.map_coordinates(magnitude, centre + sign * step, order=1, mode="nearest")
            keep &= m >= sample
        out[tuple(p[keep] for p in points)] = True
        done()
    return out


def _hysteresis(
    thin: np.ndarray, magnitude: np.ndarray, high: float, cancel: CancelCheck | None
) -> np.ndarray:
    """uint8 mask of the connected components (all neighbours) of ``thin`` with a voxel above ``high``."""
    labels, count = ndimage.label(thin, np.ones((3,) * thin.ndim, bool))
    if count == 0:
        return thin.view(np.uint8)
    check_cancel(cancel)
    good = np.zeros(count + 1, bool)
    good[np.unique(labels[thin & (magnitude >= high)])] = True
    good[0] = False
    return good[labels].view(np.uint8)


def _canny_edges(
    found: _Found,
    spacing: Sequence[float],
    thresholds: tuple[float, float],
    span: _Span,
    cancel: CancelCheck | None,
) -> np.ndarray:
    """The edge mask from :func:`_canny_gradients`' result: suppression, then hysteresis."""
    gradients, magnitude, inner = found
    low, high = thresholds
    candidate = inner & (magnitude >= low) & (magnitude > 0)
    thin = _non_maximum(magnitude, gradients, spacing, candidate, span.part(0.0, 0.8), cancel)
    check_cancel(cancel)
    edges = _hysteresis(thin, magnitude, high, cancel)
    span.end()
    return edges


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
        Progress callback (fraction 0..1) and cancel check. Per slice for slices; a 3D
        volume (or 2D image) of a million voxels or more reports and checks Cancel per
        piece of each gaussian pass, per slab of the Sobel and suppression steps and
        around the labelling, and keeps its gradients between the threshold and edge
        passes (the same edges as whole-array calls).

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

    def gradients_of(i: int, span: _Span):
        return _canny_gradients(*block_of(*blocks[i]), sigmas, work_spacing, dtype, span, cancel)

    relative = low_threshold is None or high_threshold is None or use_quantiles
    # one block (a 2D image or one 3D volume): its gradients are kept between the two passes;
    # slices or several volumes are computed again in the second pass instead of kept
    keep = len(blocks) == 1
    split = (0.7 if keep else 0.5) if relative else 0.0  # progress share of the first pass
    first, second = _Span(progress, 0.0, split), _Span(progress, split, 1.0)
    kept = None
    if relative:
        # pass 1: the gradient magnitude of the whole image, for global thresholds
        values = []
        for i in range(len(blocks)):
            check_cancel(cancel)
            found = gradients_of(i, first.share(i, len(blocks)))
            values.append(_threshold_values(found, use_quantiles))
            kept = found if keep else None
        low, high = _relative_thresholds(np.concatenate(values), low_threshold, high_threshold, use_quantiles)
    else:
        low, high = float(low_threshold), float(high_threshold)
    low = min(low, high)

    out = np.zeros(volumes.shape, np.uint8)
    for i, (v, z) in enumerate(blocks):
        check_cancel(cancel)
        span, found = second.share(i, len(blocks)), kept
        if found is None:
            found = gradients_of(i, span.part(0.0, 0.7))
            span = span.part(0.7, 1.0)
        edges = _canny_edges(found, work_spacing, (low, high), span, cancel)
        if z is None:
            out[v] = edges
        else:
            out[v, z] = edges
    return out.reshape(image.shape)


def _threshold_values(found: _Found, use_quantiles: bool) -> np.ndarray:
    """What a block adds to the relative thresholds: its trusted magnitudes, or their peak."""
    _, magnitude, inner = found
    if use_quantiles:
        return magnitude[inner]
    return np.array([np.max(magnitude, where=inner, initial=0.0)])


def _relative_thresholds(
    values: np.ndarray, low: float | None, high: float | None, use_quantiles: bool
) -> tuple[float, float]:
    """Thresholds as quantiles of the trusted magnitudes, or by default 0.1 and 0.2 of the largest peak."""
    if use_quantiles:
        q = [0.1 if low is None else low, 0.2 if high is None else high]
        low, high = (float(x) for x in np.quantile(values, q))
        return low, high
    peak = float(values.max())
    return (0.1 * peak if low is None else float(low)), (0.2 * peak if high is None else float(high))
