"""Resampling onto a new voxel grid: new spacing, another volume's grid, an axis-aligned grid.

These operations change the grid, so they take a :class:`~napari_medimg.volume.Volume`
and return a new one (geometry ``world = origin + direction @ (spacing * index)``,
numpy order). The work is done by SimpleITK's ``ResampleImageFilter``; the conversion
to ITK order happens in :mod:`napari_medimg.io.sitk_convert` only.

Interpolation
-------------
``"linear"``
    Trilinear. Images come out float32 (float64 for float64 input).
``"bspline"``
    Cubic B-spline (SimpleITK's ``sitkBSpline``): sharper, may overshoot. float32 output
    as for linear. The spline coefficients are computed once per volume (in float64,
    as ITK itself does), not once per slab.
``"nearest"``
    Nearest neighbour; the dtype is kept (int16 CT stays int16, labels keep theirs).
``"label"``
    Label-preserving interpolation for integer label volumes: every label's one-hot
    mask is interpolated linearly (only around the label's bounding box) and each
    output voxel takes the label with the largest weight, background included;
    **ties go to the foreground / the larger label id**. A structure one voxel thick
    therefore survives a 2x downsampling (where nearest neighbour keeps only every
    other input voxel and loses it half of the time), boundaries between slices are
    smoother than with nearest neighbour, and the dtype is kept. As for any
    interpolation, a structure much thinner than half an output voxel can vanish.

How the work is split (progress and cancel)
-------------------------------------------
SimpleITK cannot be interrupted inside a call, so the output grid is cut into slabs
along its first array axis; every slab is its own SimpleITK resample onto a sub-grid,
slabs run in a thread pool, and ``cancel`` is checked / ``progress`` reported between
slabs. The sub-grids are expressed in output *index* space (an exact integer offset)
with an affine transform from output index to input world coordinates, so every output
voxel is computed from exactly the same numbers whatever the number of slabs: the result
is bit-identical to a single call. (It agrees with a direct ``sitk.Resample`` on the
physical grid to floating-point rounding of the voxel positions.)
"""

from __future__ import annotations

import copy
import dataclasses
import math
from typing import Callable, Sequence

import numpy as np
import SimpleITK as sitk

from ..dtypes import float_dtype_for
from ..io.sitk_convert import volume_to_sitk
from ..progress import CancelCheck, ProgressCallback, check_cancel, default_workers, report, run_in_threads
from ..volume import Volume

__all__ = [
    "INTERPOLATIONS",
    "Grid",
    "resample_to_spacing",
    "resample_isotropic",
    "resample_to_reference",
    "resample_axis_aligned",
    "resample_to_grid",
    "spacing_grid",
    "axis_aligned_grid",
]

INTERPOLATIONS = ("linear", "bspline", "nearest", "label")

_SITK_INTERPOLATOR = {
    "linear": sitk.sitkLinear,
    "bspline": sitk.sitkBSplineResampler,  # on precomputed coefficients, see _prepare_image
    "nearest": sitk.sitkNearestNeighbor,
}

# Below this many output voxels per time point a single slab is used.
_MIN_VOXELS_PER_SLAB = 1 << 20


@dataclasses.dataclass(frozen=True)
class Grid:
    """A voxel grid in numpy order: ``world = origin + direction @ (spacing * index)``.

    Attributes
    ----------
    shape : tuple of int
        Number of voxels along each spatial array axis.
    spacing : tuple of float
        Voxel size in mm along each axis.
    origin : tuple of float
        World position (mm) of the centre of the first voxel.
    direction : numpy.ndarray
        ``(n, n)``; column ``j`` is the world direction of array axis ``j``.
    """

    shape: tuple[int, ...]
    spacing: tuple[float, ...]
    origin: tuple[float, ...]
    direction: np.ndarray

    @classmethod
    def of(cls, volume: Volume) -> "Grid":
        """The spatial grid of a volume."""
        return cls(
            tuple(int(s) for s in volume.spatial_shape),
            tuple(volume.spacing),
            tuple(volume.origin),
            np.array(volume.direction, dtype=np.float64),
        )

    @property
    def ndim(self) -> int:
        """Number of spatial axes."""
        return len(self.shape)

    @property
    def index_to_world_matrix(self) -> np.ndarray:
        """``direction * spacing`` (columns scaled), numpy order."""
        return np.asarray(self.direction, dtype=np.float64) * np.asarray(self.spacing)[np.newaxis, :]


# ----------------------------------------------------------------------------- grids
def _check_interpolation(interpolation: str) -> str:
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"interpolation must be one of {', '.join(INTERPOLATIONS)}, got {interpolation!r}")
    return interpolation


def _spacing_tuple(spacing: float | Sequence[float], ndim: int) -> tuple[float, ...]:
    if np.isscalar(spacing):
        values = (float(spacing),) * ndim  # type: ignore[arg-type]
    else:
        values = tuple(float(s) for s in spacing)  # type: ignore[union-attr]
    if len(values) != ndim:
        raise ValueError(
            f"spacing needs one value per spatial axis ({ndim}, numpy order) or a single float, "
            f"got {spacing!r}"
        )
    if any(not math.isfinite(s) or s <= 0 for s in values):
        raise ValueError(f"spacing must be positive and finite (mm), got {spacing!r}")
    return values


def spacing_grid(volume: Volume, spacing: float | Sequence[float]) -> Grid:
    """The grid of :func:`resample_to_spacing`: same physical box, new spacing.

    Parameters
    ----------
    volume : Volume
        Source volume.
    spacing : float or sequence of float
        New spacing in mm (numpy order), or one float for all axes.

    Returns
    -------
    Grid
        ``shape[i] = floor(n[i] * s[i] / new_s[i] + 0.5)`` (at least 1);
        ``origin = old_origin + direction @ ((new_s - s) / 2)``; same direction.

    Examples
    --------
    >>> import numpy as np
    >>> v = Volume(np.zeros((10, 20, 20)), (5.0, 2.0, 2.0), (0.0, 0.0, 0.0), np.eye(3))
    >>> g = spacing_grid(v, 1.0)
    >>> g.shape, g.origin
    ((50, 40, 40), (-2.0, -0.5, -0.5))
    """
    new = np.asarray(_spacing_tuple(spacing, volume.spatial_ndim))
    old = np.asarray(volume.spacing)
    shape = np.floor(np.asarray(volume.spatial_shape) * old / new + 0.5).astype(int).clip(min=1)
    origin = np.asarray(volume.origin) + volume.direction @ ((new - old) / 2.0)
    return Grid(tuple(int(s) for s in shape), tuple(float(s) for s in new), tuple(float(o) for o in origin),
                np.array(volume.direction, dtype=np.float64))


def axis_aligned_grid(volume: Volume) -> Grid:
    """The identity-direction grid of :func:`resample_axis_aligned`.

    The volume is first reoriented without loss (axes permuted and flipped so each
    array axis follows its nearest world axis, :func:`napari_medimg.io.orientation.to_nearest_axes`);
    the new grid keeps that volume's spacing per axis and covers the world bounding box
    of its outer voxel edges, centred on it.

    Parameters
    ----------
    volume : Volume
        Any volume.

    Returns
    -------
    Grid
        ``shape[i] = ceil(extent[i] / spacing[i])`` where ``extent`` is the size of the
        bounding box along world axis ``i``; ``direction`` is the identity.
    """
    from ..io.orientation import to_nearest_axes

    reoriented, _ = to_nearest_axes(volume)
    n = volume.spatial_ndim
    spacing = np.asarray(reoriented.spacing)
    shape = np.asarray(reoriented.spatial_shape)
    corners = np.array(np.meshgrid(*[[-0.5, s - 0.5] for s in shape], indexing="ij")).reshape(n, -1).T
    world = reoriented.index_to_world(corners)
    low, high = world.min(axis=0), world.max(axis=0)
    extent = high - low
    new_shape = np.ceil(extent / spacing - 1e-6).astype(int).clip(min=1)
    centre = (low + high) / 2.0
    origin = centre - (new_shape - 1) * spacing / 2.0
    return Grid(tuple(int(s) for s in new_shape), tuple(float(s) for s in spacing),
                tuple(float(o) for o in origin), np.eye(n))


# ------------------------------------------------------------------- the engine
def _output_dtype(dtype: np.dtype, interpolation: str) -> np.dtype:
    if interpolation in ("nearest", "label"):
        return np.dtype(dtype)
    return float_dtype_for(dtype)


def _sitk_pixel_type(dtype: np.dtype) -> int:
    """The SimpleITK pixel type that holds ``dtype`` (bool as uint8, float16 as float32)."""
    storage = {np.dtype(bool): np.dtype(np.uint8), np.dtype(np.float16): np.dtype(np.float32)}.get(
        np.dtype(dtype), np.dtype(dtype)
    )
    return sitk.GetImageFromArray(np.zeros((1, 1), storage)).GetPixelID()


def _index_filter(
    grid: Grid,
    start: Sequence[int],
    size: Sequence[int],
    interpolator: int,
    pixel_type: int,
    default_value: float,
    extrapolate: bool,
    threads: int,
) -> sitk.ResampleImageFilter:
    """A resample filter onto the sub-grid ``[start, start + size)`` of ``grid``.

    The output image lives in index space (unit spacing, identity direction, integer
    origin ``start``) and the affine transform maps an output index to world mm, so that
    each voxel's position is computed identically whatever sub-grid it belongs to.
    """
    n = grid.ndim
    transform = sitk.AffineTransform(n)
    transform.SetMatrix([float(v) for v in grid.index_to_world_matrix[::-1, ::-1].ravel()])
    transform.SetTranslation([float(v) for v in grid.origin[::-1]])
    f = sitk.ResampleImageFilter()
    f.SetSize([int(s) for s in size[::-1]])
    f.SetOutputOrigin([float(s) for s in start[::-1]])
    f.SetOutputSpacing([1.0] * n)
    f.SetOutputDirection([float(v) for v in np.eye(n).ravel()])
    f.SetTransform(transform)
    f.SetInterpolator(interpolator)
    f.SetOutputPixelType(pixel_type)
    f.SetDefaultPixelValue(float(default_value))
    f.SetUseNearestNeighborExtrapolator(bool(extrapolate))
    f.SetNumberOfThreads(int(threads))
    return f


def _slab_bounds(grid: Grid, slabs: int | None, workers: int) -> list[tuple[int, int]]:
    length = grid.shape[0]
    if slabs is None:
        voxels = int(np.prod(grid.shape))
        slabs = 1 if voxels < 2 * _MIN_VOXELS_PER_SLAB else min(4 * workers, voxels // _MIN_VOXELS_PER_SLAB)
    slabs = max(1, min(int(slabs), length))
    edges = np.linspace(0, length, slabs + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:]) if b > a]


def _run_tasks(
    tasks: list[Callable[[], None]],
    workers: int,
    progress: ProgressCallback | None,
    cancel: CancelCheck | None,
) -> None:
    """Run ``tasks`` in a thread pool, reporting progress and checking cancel between them."""
    check_cancel(cancel)
    total = len(tasks)
    if workers <= 1 or total <= 1:
        for done, task in enumerate(tasks, 1):
            check_cancel(cancel)
            task()
            report(progress, done / total)
        return

    def guarded(task: Callable[[], None]) -> None:
        check_cancel(cancel)
        task()

    run_in_threads(guarded, tasks, workers=workers, progress=progress, cancel=cancel)


def _spatial_volume(volume: Volume, array: np.ndarray) -> Volume:
    return Volume(array, volume.spacing, volume.origin, volume.direction)


def _image_tasks(
    source: Volume,
    grid: Grid,
    out: np.ndarray,
    interpolation: str,
    default_value: float,
    extrapolate: bool,
    bounds: list[tuple[int, int]],
    threads: int,
) -> list[Callable[[], None]]:
    """Tasks that resample a 2D/3D image (one time point) slab by slab into ``out``."""
    image = volume_to_sitk(source)
    if interpolation == "bspline":
        # float64 coefficients, as ITK's own sitkBSpline allocates them: computed once
        # here instead of once per slab, and bit-identical to sitkBSpline.
        image = sitk.BSplineDecomposition(sitk.Cast(image, sitk.sitkFloat64))
    pixel_type = _sitk_pixel_type(out.dtype)
    interpolator = _SITK_INTERPOLATOR[interpolation]

    def task(lo: int, hi: int) -> Callable[[], None]:
        def run() -> None:
            size = (hi - lo,) + grid.shape[1:]
            start = (lo,) + (0,) * (grid.ndim - 1)
            f = _index_filter(
                grid, start, size, interpolator, pixel_type, default_value, extrapolate, threads
            )
            result = f.Execute(image)  # keep a reference: the array view does not
            out[lo:hi] = sitk.GetArrayViewFromImage(result)

        return run

    return [task(lo, hi) for lo, hi in bounds]


def _label_boxes(labels: np.ndarray) -> list[tuple[int, tuple[slice, ...]]]:
    """``(label, bounding-box slices)`` for every non-zero label value."""
    from scipy import ndimage

    values = labels
    if values.dtype == bool:
        values = values.view(np.uint8)
    if values.size == 0:
        return []
    low, high = int(values.min()), int(values.max())
    if low >= 0 and high <= 65535:
        if values.dtype.itemsize > 4:
            values = values.astype(np.int32)
        boxes = ndimage.find_objects(values)
        return [(i + 1, box) for i, box in enumerate(boxes) if box is not None]
    unique, inverse = np.unique(values, return_inverse=True)
    inverse = inverse.reshape(values.shape).astype(np.int32) + 1
    boxes = ndimage.find_objects(inverse)
    return [(int(unique[i]), box) for i, box in enumerate(boxes) if box is not None and unique[i] != 0]


def _label_tasks(
    source: Volume,
    grid: Grid,
    out: np.ndarray,
    default_value: float,
    extrapolate: bool,
    bounds: list[tuple[int, int]],
    threads: int,
) -> list[Callable[[], None]]:
    """Tasks for label-preserving interpolation (per-label linear one-hot, argmax)."""
    labels = source.array
    shape_in = np.asarray(labels.shape)
    to_output_index = np.linalg.inv(grid.index_to_world_matrix)
    # Does output axis i run along input axis i (resample_to_spacing)?
    grid_follows_source = bool(np.allclose(grid.direction, source.direction, atol=1e-6))
    crops = []  # (label, sitk one-hot crop, output start, output stop)
    for value, box in _label_boxes(labels):
        lo = np.array([max(0, s.start - 1) for s in box])  # one zero voxel around for the linear tails
        hi = np.array([min(n, s.stop + 1) for n, s in zip(shape_in, box)])
        onehot = (labels[tuple(slice(a, b) for a, b in zip(lo, hi))] == value).view(np.uint8)
        crop = Volume(onehot, source.spacing, tuple(source.index_to_world(lo)), source.direction)
        # Output voxels that can get weight: those whose centre lies within the crop's
        # outer edges (plus one voxel for safety), everything else is exactly 0.
        n = grid.ndim
        corners = np.array(np.meshgrid(*[[a - 1.5, b + 0.5] for a, b in zip(lo, hi)], indexing="ij"))
        world = source.index_to_world(corners.reshape(n, -1).T)
        index = (world - np.asarray(grid.origin)) @ to_output_index.T
        start = np.floor(index.min(axis=0)).astype(int) - 1
        stop = np.ceil(index.max(axis=0)).astype(int) + 2
        if extrapolate and grid_follows_source:
            # the nearest-neighbour extrapolator carries an edge voxel's weight beyond the
            # image: a crop touching an image edge extends to the grid's edge on that side.
            start = np.where(lo == 0, 0, start)
            stop = np.where(hi == shape_in, np.asarray(grid.shape), stop)
        elif extrapolate and (np.any(lo == 0) or np.any(hi == shape_in)):
            start, stop = np.zeros(n, int), np.asarray(grid.shape)
        start = np.clip(start, 0, grid.shape)
        stop = np.clip(stop, 0, grid.shape)
        if np.any(stop <= start):
            continue
        crops.append((value, volume_to_sitk(crop), start, stop))

    best = np.zeros(out.shape, np.float32)
    total = np.zeros(out.shape, np.float32)
    winner = np.zeros(out.shape, labels.dtype if labels.dtype != bool else np.uint8)
    # Voxels outside the input get ``default_value``: found by resampling an all-ones image.
    ones = None
    if default_value != 0:
        ones = volume_to_sitk(_spatial_volume(source, np.ones(labels.shape, np.uint8)))

    def task(lo_row: int, hi_row: int) -> Callable[[], None]:
        def run() -> None:
            for value, image, start, stop in crops:
                a, b = max(lo_row, int(start[0])), min(hi_row, int(stop[0]))
                if b <= a:
                    continue
                sub_start = (a,) + tuple(int(s) for s in start[1:])
                size = (b - a,) + tuple(int(e - s) for s, e in zip(start[1:], stop[1:]))
                f = _index_filter(
                    grid, sub_start, size, sitk.sitkLinear, sitk.sitkFloat32, 0.0, extrapolate, threads
                )
                result = f.Execute(image)  # keep a reference: the array view does not
                weight = sitk.GetArrayViewFromImage(result)
                region = tuple(slice(s, s + k) for s, k in zip(sub_start, size))
                total[region] += weight
                take = (weight >= best[region]) & (weight > 0)
                best[region][take] = weight[take]
                winner[region][take] = value
            rows = slice(lo_row, hi_row)
            background = best[rows] < 1.0 - total[rows]
            winner[rows][background] = 0
            if ones is not None:
                size = (hi_row - lo_row,) + grid.shape[1:]
                start0 = (lo_row,) + (0,) * (grid.ndim - 1)
                f = _index_filter(
                    grid, start0, size, sitk.sitkNearestNeighbor, sitk.sitkUInt8, 0.0, False, threads
                )
                result = f.Execute(ones)
                outside = sitk.GetArrayViewFromImage(result) == 0
                winner[rows][outside] = default_value
            out[rows] = winner[rows]

        return run

    return [task(lo, hi) for lo, hi in bounds]


def resample_to_grid(
    volume: Volume,
    grid: Grid,
    *,
    interpolation: str = "linear",
    default_value: float = 0.0,
    extrapolate: bool = False,
    progress: ProgressCallback | None = None,
    cancel: CancelCheck | None = None,
    slabs: int | None = None,
    workers: int | None = None,
) -> Volume:
    """Resample a volume onto any grid (the engine behind the other functions).

    Parameters
    ----------
    volume : Volume
        2D or 3D volume, or a ``(t, z, y, x)`` series (each time point is resampled).
        Colour images are not supported.
    grid : Grid
        The output grid (same number of spatial axes).
    interpolation : {"linear", "bspline", "nearest", "label"}
        See the module docstring. ``"label"`` needs integer or boolean values.
    default_value : float
        Value of output voxels whose centre lies outside the input volume (unless
        ``extrapolate``).
    extrapolate : bool
        Give such voxels the value of the nearest input voxel instead.
    progress, cancel : callable, optional
        Progress in [0, 1] and a cancel check, called between slabs.
    slabs : int, optional
        Number of slabs along the output's first axis per time point (by default one
        slab below about 2 M output voxels, otherwise up to 4 per worker). The result is
        bit-identical for every choice.
    workers : int, optional
        Threads (default: the cores available).

    Returns
    -------
    Volume
        On ``grid``, with the leading (time) axes of the input, a copy of the metadata,
        and dtype: float32 for linear/bspline (float64 for float64 input), the input's
        for nearest and label.

    Raises
    ------
    ValueError
        Unknown interpolation, colour input, float labels for ``"label"``, a grid with
        another number of axes, or a labels volume with linear/bspline.
    napari_medimg.progress.OperationCancelled
        When ``cancel()`` returned True.
    """
    _check_interpolation(interpolation)
    if volume.rgb:
        raise ValueError("colour (RGB) volumes cannot be resampled; convert to grey levels first")
    if grid.ndim != volume.spatial_ndim:
        raise ValueError(f"the grid has {grid.ndim} spatial axes but the volume has {volume.spatial_ndim}")
    dtype = volume.array.dtype
    if dtype.kind not in "biuf":
        raise ValueError(f"cannot resample values of dtype {dtype}; use integers or floats")
    if interpolation == "label" and dtype.kind not in "biu":
        raise ValueError(
            f"interpolation='label' is for integer label volumes, got dtype {dtype}; "
            "use 'linear' or 'bspline' for images"
        )
    if interpolation in ("linear", "bspline") and volume.metadata.get("kind") == "labels":
        raise ValueError(
            f"interpolation={interpolation!r} would mix label values; use 'label' or 'nearest' for labels"
        )
    out_dtype = _output_dtype(dtype, interpolation)
    workers = int(workers or default_workers())
    bounds = _slab_bounds(grid, slabs, workers)
    pool = min(workers, len(bounds))
    threads = 1 if pool > 1 else workers  # parallel slabs, or one slab on all cores
    leading = volume.leading_shape
    from ..budget import Cost, enforce

    enforce("resampling", Cost(  # refuse before allocating what cannot fit
        int(np.prod(leading + grid.shape, dtype=np.float64)) * out_dtype.itemsize,
        detail=f"output {' x '.join(map(str, leading + grid.shape))} voxels of {out_dtype}",
        advice="choose a larger spacing or a smaller reference grid, or crop the image first",
    ))
    out = np.empty(leading + grid.shape, out_dtype)

    # Time points one after the other (their slabs in parallel), so that only one time
    # point's SimpleITK copy (and B-spline coefficients or label weights) exists at a time.
    points = list(np.ndindex(*leading)) if leading else [()]
    for number, lead in enumerate(points):
        source = _spatial_volume(volume, volume.array[lead] if lead else volume.array)
        target = out[lead] if lead else out
        if interpolation == "label":
            tasks = _label_tasks(source, grid, target, default_value, extrapolate, bounds, threads)
        else:
            tasks = _image_tasks(
                source, grid, target, interpolation, default_value, extrapolate, bounds, threads
            )
        scaled = None if progress is None else (lambda f, n=number: progress((n + f) / len(points)))
        _run_tasks(tasks, pool, scaled, cancel)
    return Volume(out, grid.spacing, grid.origin, np.array(grid.direction), copy.deepcopy(volume.metadata))


# --------------------------------------------------------------------- public API
def resample_to_spacing(
    volume: Volume,
    *,
    spacing: float | Sequence[float],
    interpolation: str = "linear",
    progress: ProgressCallback | None = None,
    cancel: CancelCheck | None = None,
) -> Volume:
    """Resample to a new voxel spacing, keeping the physical extent.

    The new grid covers the same physical box as the old one, from the outer edge of the
    first voxel to the outer edge of the last: along each axis ``i`` the new size is
    ``floor(n[i] * spacing_old[i] / spacing[i] + 0.5)`` (rounded half up, at least 1),
    the direction is unchanged and the origin (centre of the first voxel) moves by half
    the difference of spacings along the axis's direction,
    ``origin_new = origin + direction @ ((spacing - spacing_old) / 2)``, so that the
    lower box edges coincide exactly; the upper edges differ by the rounding of the size
    (less than half a new voxel). Voxels centred within that half voxel beyond the
    last input voxel centre take the edge value (nearest-neighbour extrapolation), so
    no artificial background appears at the borders.

    Parameters
    ----------
    volume : Volume
        Image or labels, 2D, 3D or ``(t, z, y, x)`` (each time point is resampled).
    spacing : float or sequence of float
        New spacing in mm, numpy order ``(z, y, x)``, or one float for isotropic voxels.
    interpolation : {"linear", "bspline", "nearest", "label"}
        ``"linear"`` / ``"bspline"`` for images (float32 output, float64 for float64
        input); ``"nearest"`` keeps the dtype (e.g. int16 CT stays int16);
        ``"label"`` (label-preserving, see the module docstring) for integer labels,
        keeps their dtype.
    progress, cancel : callable, optional
        Progress in [0, 1]; cancel check, between slabs.

    Returns
    -------
    Volume
        New array and geometry, metadata copied.

    Examples
    --------
    >>> import numpy as np
    >>> ct = Volume(np.zeros((4, 10, 10), np.int16), (5.0, 2.0, 2.0), (0.0, 0.0, 0.0), np.eye(3))
    >>> out = resample_to_spacing(ct, spacing=1.0)
    >>> out.array.shape, out.array.dtype, out.origin
    ((20, 20, 20), dtype('float32'), (-2.0, -0.5, -0.5))
    >>> resample_to_spacing(ct, spacing=(5.0, 1.0, 1.0), interpolation="nearest").array.dtype
    dtype('int16')
    """
    grid = spacing_grid(volume, spacing)
    return resample_to_grid(
        volume, grid, interpolation=interpolation, extrapolate=True, progress=progress, cancel=cancel
    )


def resample_isotropic(
    volume: Volume,
    *,
    spacing: float | None = None,
    interpolation: str = "linear",
    progress: ProgressCallback | None = None,
    cancel: CancelCheck | None = None,
) -> Volume:
    """Resample to cubic voxels, keeping the physical extent.

    Parameters
    ----------
    volume : Volume
        Image or labels.
    spacing : float, optional
        Voxel size in mm; by default the smallest current spacing (no axis loses
        resolution).
    interpolation : {"linear", "bspline", "nearest", "label"}
        As for :func:`resample_to_spacing`, whose geometry rules apply.
    progress, cancel : callable, optional
        Progress and cancel callbacks.

    Returns
    -------
    Volume

    Examples
    --------
    >>> import numpy as np
    >>> mr = Volume(np.ones((3, 8, 8), np.float32), (6.5, 0.5, 0.5), (0.0, 0.0, 0.0), np.eye(3))
    >>> out = resample_isotropic(mr)
    >>> out.spacing, out.array.shape
    ((0.5, 0.5, 0.5), (39, 8, 8))
    """
    if spacing is None:
        spacing = min(volume.spacing)
    return resample_to_spacing(volume, spacing=float(spacing), interpolation=interpolation,
                               progress=progress, cancel=cancel)


def resample_to_reference(
    volume: Volume,
    reference: Volume,
    *,
    interpolation: str = "linear",
    default_value: float | None = 0.0,
    progress: ProgressCallback | None = None,
    cancel: CancelCheck | None = None,
) -> Volume:
    """Put an image or labels onto another volume's grid.

    Every output voxel takes the value of ``volume`` at the same physical point (world
    mm): the result has ``reference``'s spatial shape, spacing, origin and direction, and
    ``volume``'s leading (time) axes, values and metadata (copied). Typical use: a label
    map saved on a different grid put onto the image it belongs to.

    Parameters
    ----------
    volume : Volume
        What to resample (image or labels).
    reference : Volume
        Whose grid to use (only its geometry is read; a 4D reference gives its spatial grid).
    interpolation : {"linear", "bspline", "nearest", "label"}
        Use ``"label"`` or ``"nearest"`` for labels (dtype kept); images give float32.
    default_value : float or None
        Value where the reference grid lies outside ``volume`` (0 by default; None: the
        minimum of ``volume``, e.g. air for CT).
    progress, cancel : callable, optional
        Progress and cancel callbacks.

    Returns
    -------
    Volume

    Examples
    --------
    >>> import numpy as np
    >>> big = Volume(np.arange(27, dtype=np.uint8).reshape(3, 3, 3), (1.0,) * 3, (0.0,) * 3, np.eye(3))
    >>> small = Volume(np.zeros((1, 1, 2)), (1.0,) * 3, (1.0, 1.0, 1.0), np.eye(3))
    >>> resample_to_reference(big, small, interpolation="nearest").array.tolist()
    [[[13, 14]]]
    """
    if reference.spatial_ndim != volume.spatial_ndim:
        raise ValueError(
            f"the reference has {reference.spatial_ndim} spatial axes "
            f"but the volume has {volume.spatial_ndim}"
        )
    if default_value is None:
        default_value = _minimum(volume)
    return resample_to_grid(volume, Grid.of(reference), interpolation=interpolation,
                            default_value=float(default_value), progress=progress, cancel=cancel)


def resample_axis_aligned(
    volume: Volume,
    *,
    interpolation: str = "linear",
    default_value: float | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelCheck | None = None,
) -> Volume:
    """Resample an oblique volume onto an axis-aligned grid (identity direction).

    The axes are first permuted and flipped without loss so that each array axis follows
    its nearest world axis; what remains of the direction is a true obliquity, which is
    removed by resampling onto the grid of :func:`axis_aligned_grid`: identity
    direction, the same spacing per axis, covering the world bounding box of the oblique
    volume's outer voxel edges (centred on it). Then napari's ``scale`` and
    ``translate`` describe the voxels exactly and overlays line up. A volume that needs
    no resampling (identity direction, or only permuted / flipped axes) is returned
    reoriented, with a copy of its array and no interpolation.

    Parameters
    ----------
    volume : Volume
        Oblique image or labels (2D, 3D or ``(t, z, y, x)``).
    interpolation : {"linear", "bspline", "nearest", "label"}
        As for :func:`resample_to_spacing`.
    default_value : float or None
        Value of the corners of the box outside the oblique volume; None (default): 0
        for ``"label"`` interpolation, the minimum of the volume otherwise (air for CT).
    progress, cancel : callable, optional
        Progress and cancel callbacks.

    Returns
    -------
    Volume
        Identity direction; ``metadata["resampled_from_direction"]`` keeps the original
        direction (numpy order, nested lists) when a resampling was done.

    Examples
    --------
    >>> import numpy as np
    >>> c, s = np.cos(np.radians(10)), np.sin(np.radians(10))
    >>> tilted = Volume(np.ones((10, 10, 10), np.float32), (1.0,) * 3, (0.0,) * 3,
    ...                 np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]]))
    >>> out = resample_axis_aligned(tilted)
    >>> out.is_axis_aligned, out.array.shape
    (True, (12, 12, 10))
    """
    from ..io.orientation import to_nearest_axes

    reoriented, _ = to_nearest_axes(volume)
    if reoriented.is_axis_aligned:
        return dataclasses.replace(
            reoriented, array=np.array(reoriented.array, copy=True), direction=np.eye(volume.spatial_ndim),
            metadata=copy.deepcopy(volume.metadata),
        )
    if default_value is None:
        default_value = 0.0 if interpolation == "label" else _minimum(volume)
    grid = axis_aligned_grid(volume)
    out = resample_to_grid(reoriented, grid, interpolation=interpolation, default_value=float(default_value),
                           progress=progress, cancel=cancel)
    out.metadata["resampled_from_direction"] = np.asarray(volume.direction).tolist()
    return out


def _minimum(volume: Volume) -> float:
    return float(volume.array.min()) if volume.array.size else 0.0



def estimate_isotropic(volume: Volume, *, spacing: float | None = None, interpolation: str = "linear", **_: object):
    """Memory of :func:`resample_isotropic`'s result, without allocating it.

    Parameters
    ----------
    volume : Volume
        The input.
    spacing : float, optional
        Output voxel size in mm (default: the smallest input spacing).
    interpolation : str
        ``"label"`` adds float32 vote buffers to the result.

    Returns
    -------
    napari_medimg.budget.Cost
    """
    from ..budget import Cost

    spacing = min(volume.spacing) if spacing is None else float(spacing)
    grid = spacing_grid(volume, spacing)
    voxels = int(np.prod(grid.shape, dtype=np.float64)) * int(np.prod(volume.leading_shape or (1,)))
    itemsize = _output_dtype(volume.array.dtype, interpolation).itemsize
    per_voxel = itemsize + (8 if interpolation == "label" else 0)
    return Cost(
        memory_bytes=voxels * per_voxel,
        detail=f"output {' x '.join(map(str, grid.shape))} voxels of {spacing:g} mm",
        advice="choose a larger spacing, or crop the image first",
    )
