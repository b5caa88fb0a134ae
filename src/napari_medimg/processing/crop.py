"""Cropping a volume to an index box or to the bounding box of labels.

Cropping changes the grid, so these functions take a :class:`~napari_medimg.volume.Volume`
and return a new one. No voxel moves in the world: the origin moves to the new first
voxel, ``origin_new = origin + direction @ (spacing * start)``; spacing and direction are
unchanged. The cropped array is a **copy**, not a view, so that keeping the small result
does not keep the large source array in memory.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from typing import Sequence

import numpy as np

from ..volume import Volume, check_same_grid

__all__ = ["crop_to_box", "crop_to_labels", "labels_bounding_box", "mask_extent"]

# Tolerances for "the same grid": spacing relative, origin as a fraction of the smallest
# voxel (NIfTI stores geometry in float32), direction absolute.


def _as_index_tuple(values: Sequence[int | None] | None, ndim: int, name: str) -> tuple[int | None, ...]:
    if values is None:
        return (None,) * ndim
    values = tuple(values)
    if len(values) != ndim:
        raise ValueError(f"{name} needs one index per spatial axis ({ndim}, numpy order), got {values!r}")
    out: list[int | None] = []
    for v in values:
        if v is None:
            out.append(None)
        elif isinstance(v, (int, np.integer)) and not isinstance(v, bool):
            out.append(int(v))
        else:
            raise ValueError(f"{name} must hold whole voxel indices, got {v!r}")
    return tuple(out)


def crop_to_box(
    volume: Volume,
    *,
    start: Sequence[int | None] | None = None,
    stop: Sequence[int | None] | None = None,
) -> Volume:
    """Crop the spatial axes to the index box ``[start, stop)``.

    Parameters
    ----------
    volume : Volume
        Image or labels; leading (time) axes and a colour axis are kept whole.
    start : sequence of int, optional
        First voxel kept along each spatial axis, numpy order (None: 0).
    stop : sequence of int, optional
        One past the last voxel kept (None: to the end). Python's half-open convention,
        no negative indices.

    Returns
    -------
    Volume
        A **copy** of the box (not a view pinning the source array), same spacing and
        direction, ``origin = origin + direction @ (spacing * start)``, metadata copied.

    Raises
    ------
    ValueError
        For a box outside the volume or an empty box.

    Examples
    --------
    >>> import numpy as np
    >>> v = Volume(np.zeros((10, 20, 30), np.int16), (5.0, 0.5, 0.5), (0.0, 0.0, 0.0), np.eye(3))
    >>> out = crop_to_box(v, start=(2, 4, 6), stop=(5, 10, 30))
    >>> out.array.shape, out.origin
    ((3, 6, 24), (10.0, 2.0, 3.0))
    """
    n = volume.spatial_ndim
    shape = volume.spatial_shape
    starts = _as_index_tuple(start, n, "start")
    stops = _as_index_tuple(stop, n, "stop")
    first = [0 if s is None else s for s in starts]
    last = [size if s is None else s for s, size in zip(stops, shape)]
    for axis, (a, b, size) in enumerate(zip(first, last, shape)):
        if not 0 <= a < b <= size:
            raise ValueError(
                f"axis {axis}: box [{a}, {b}) is empty or outside the volume's 0..{size}; "
                f"give 0 <= start < stop <= {size} (numpy order, half-open)"
            )
    lead = len(volume.leading_shape)
    index = (slice(None),) * lead + tuple(slice(a, b) for a, b in zip(first, last))
    array = volume.array[index].copy()  # a copy: the result must not pin the source array
    origin = volume.index_to_world(np.asarray(first, dtype=np.float64))
    return dataclasses.replace(
        volume,
        array=array,
        origin=tuple(float(o) for o in origin),
        direction=np.array(volume.direction),
        metadata=copy.deepcopy(volume.metadata),
    )


def mask_extent(mask: np.ndarray) -> tuple[tuple[int, int], ...] | None:
    """Half-open ``(start, stop)`` of the True voxels along each axis; None for an empty mask.

    One pass over the whole mask finds the first axis's extent; the other axes are read
    from those slices only (a small object in a CT costs a fraction of a pass per axis).
    """
    mask = np.asarray(mask)
    rows = np.flatnonzero(mask.reshape(mask.shape[0], -1).any(axis=1))
    if rows.size == 0:
        return None
    box = [(int(rows[0]), int(rows[-1]) + 1)]
    if mask.ndim > 1:
        plane = mask[box[0][0] : box[0][1]].any(axis=0)
        for axis in range(plane.ndim):
            other = tuple(a for a in range(plane.ndim) if a != axis)
            hits = np.flatnonzero(plane.any(axis=other) if other else plane)
            box.append((int(hits[0]), int(hits[-1]) + 1))
    return tuple(box)


def labels_bounding_box(
    labels: Volume,
    *,
    margin_mm: float = 0.0,
    label: int | None = None,
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Index box ``(start, stop)`` around a label (or all non-zero labels) plus a margin.

    Parameters
    ----------
    labels : Volume
        Label volume (a ``(t, z, y, x)`` series counts a voxel labelled at any time).
    margin_mm : float
        Margin in mm added on every side, converted per axis with the spacing and
        rounded up: ``ceil(margin_mm / spacing[i])`` voxels (10 mm on 0.5 x 0.5 x 5 mm
        voxels is 2 slices and 20 rows / columns). The box is clipped to the volume.
    label : int, optional
        The label value to use; None or 0 (background, never a target): every non-zero voxel.

    Returns
    -------
    start, stop : tuple of int
        Half-open index box, numpy order.

    Raises
    ------
    ValueError
        For a negative margin or when the label does not occur.
    """
    if not math.isfinite(margin_mm) or margin_mm < 0:
        raise ValueError(f"margin_mm must be zero or positive (mm), got {margin_mm}")
    values = np.asarray(labels.array)
    if labels.rgb:
        raise ValueError("labels cannot be a colour image")
    if label is not None and int(label) == 0:
        label = None  # 0 is background: "all labels" (lets a registry use an int default)
    mask = values != 0 if label is None else values == label
    lead = len(labels.leading_shape)
    if lead:
        mask = mask.any(axis=tuple(range(lead)))
    if not mask.any():
        if label is None:
            raise ValueError(
                "the labels are empty (all zero): nothing to crop to; draw or segment something first"
            )
        present = np.unique(values)
        present = present[present != 0]
        shown = ", ".join(str(int(p)) for p in present[:20]) + (" ..." if len(present) > 20 else "")
        raise ValueError(f"label {label} does not occur in the labels (present: {shown or 'none'})")
    start, stop = [], []
    for axis, (lo, hi) in enumerate(mask_extent(mask)):  # type: ignore[union-attr]
        margin = int(math.ceil(margin_mm / labels.spacing[axis] - 1e-9)) if margin_mm else 0
        start.append(max(0, lo - margin))
        stop.append(min(mask.shape[axis], hi + margin))
    return tuple(start), tuple(stop)


def crop_to_labels(
    volume: Volume,
    labels: Volume,
    *,
    margin_mm: float = 10.0,
    label: int | None = None,
) -> Volume:
    """Crop a volume to the bounding box of a label plus a margin in mm.

    Parameters
    ----------
    volume : Volume
        Image (or labels) to crop; ``(t, z, y, x)`` is cropped at every time point.
    labels : Volume
        Labels on the same spatial grid (shape, spacing, origin and direction compared
        with small tolerances, see :func:`check_same_grid`).
    margin_mm : float
        Margin in mm on every side, ``ceil(margin_mm / spacing[i])`` voxels along axis
        ``i``, clipped to the volume.
    label : int, optional
        Crop to this label value only; None (default) or 0: all non-zero labels.

    Returns
    -------
    Volume
        A copy of the box; ``origin = origin + direction @ (spacing * start)``; spacing,
        direction and metadata (copied) unchanged. Crop the labels with
        ``crop_to_box(labels, start=..., stop=...)`` and :func:`labels_bounding_box` to
        keep them on the same grid.

    Raises
    ------
    ValueError
        When the grids differ, the label is absent or the labels are empty.

    Examples
    --------
    >>> import numpy as np
    >>> image = Volume(np.zeros((20, 100, 100), np.int16), (5.0, 0.5, 0.5), (0.0, 0.0, 0.0), np.eye(3))
    >>> seg = np.zeros((20, 100, 100), np.uint8); seg[10, 50, 50] = 1
    >>> out = crop_to_labels(image, image.with_array(seg), margin_mm=10.0)
    >>> out.array.shape, out.origin
    ((5, 41, 41), (40.0, 15.0, 15.0))
    """
    check_same_grid(volume, labels)
    start, stop = labels_bounding_box(labels, margin_mm=margin_mm, label=label)
    return crop_to_box(volume, start=start, stop=stop)
