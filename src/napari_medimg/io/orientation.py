"""Lossless reorientation: permute and flip array axes so the direction is nearly identity.

napari slices arrays along their own axes, so a volume stored sagittally, or with flipped
rows as in most NIfTI files, is shown in a consistent patient orientation only after its
axes are permuted and flipped to follow the world axes. This moves no voxel value and
changes no physical position: the same point of the patient keeps the same world
coordinate. What remains of the direction afterwards is a true obliquity (a rotation by
less than 45 degrees), which :func:`to_nearest_axes` reports.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from ..volume import Volume

__all__ = ["AxisReorientation", "to_nearest_axes", "apply_reorientation", "undo_reorientation"]


@dataclasses.dataclass(frozen=True)
class AxisReorientation:
    """How to go from a source array to a reoriented one.

    Attributes
    ----------
    order : tuple of int
        New spatial axis ``i`` is source spatial axis ``order[i]``.
    flips : tuple of bool
        After permuting, new spatial axis ``i`` is reversed when ``flips[i]``.
    """

    order: tuple[int, ...]
    flips: tuple[bool, ...]

    @property
    def is_identity(self) -> bool:
        """True when nothing moves."""
        return self.order == tuple(range(len(self.order))) and not any(self.flips)

    def as_dict(self) -> dict[str, Any]:
        """Plain-data form, for layer metadata."""
        return {"order": list(self.order), "flips": list(self.flips)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "AxisReorientation":
        """Inverse of :meth:`as_dict`."""
        return cls(tuple(int(i) for i in data["order"]), tuple(bool(f) for f in data["flips"]))


def nearest_axes(direction: np.ndarray) -> AxisReorientation:
    """The permutation and flips that bring ``direction`` closest to the identity.

    Parameters
    ----------
    direction : numpy.ndarray
        ``(n, n)`` direction matrix in numpy order (columns are array axes).

    Returns
    -------
    AxisReorientation
    """
    direction = np.asarray(direction, dtype=np.float64)
    n = direction.shape[0]
    order = [-1] * n
    used: set[int] = set()
    # Assign the most decisive axes first so a 45-degree tie cannot take a world axis twice.
    weights = np.abs(direction)
    for _ in range(n):
        masked = weights.copy()
        masked[list(used), :] = -1
        for j in range(n):
            if j in order:
                masked[:, j] = -1
        world_axis, array_axis = np.unravel_index(np.argmax(masked), masked.shape)
        order[world_axis] = int(array_axis)
        used.add(int(world_axis))
    flips = tuple(bool(direction[i, order[i]] < 0) for i in range(n))
    return AxisReorientation(tuple(order), flips)


def apply_reorientation(volume: Volume, reorientation: AxisReorientation) -> Volume:
    """Permute and flip the spatial axes of a volume, keeping every voxel's world position.

    Parameters
    ----------
    volume : Volume
        Source volume (leading time axes and a trailing colour axis are kept in place).
    reorientation : AxisReorientation
        What to do.

    Returns
    -------
    Volume
        A view of the source array where possible (no copy).
    """
    if reorientation.is_identity:
        return volume
    n = volume.spatial_ndim
    lead = len(volume.leading_shape)
    tail = volume.array.ndim - lead - n
    axes = list(range(lead)) + [lead + i for i in reorientation.order]
    axes += list(range(lead + n, lead + n + tail))
    array = np.transpose(volume.array, axes)
    slices = [slice(None)] * array.ndim
    for i, flip in enumerate(reorientation.flips):
        if flip:
            slices[lead + i] = slice(None, None, -1)
    array = array[tuple(slices)]

    shape = np.asarray(volume.spatial_shape)
    spacing = np.asarray(volume.spacing)[list(reorientation.order)]
    direction = volume.direction[:, list(reorientation.order)].copy()
    corner = np.zeros(n)
    for i, flip in enumerate(reorientation.flips):
        if flip:
            corner[reorientation.order[i]] = shape[reorientation.order[i]] - 1
            direction[:, i] *= -1
    origin = volume.index_to_world(corner)
    return dataclasses.replace(
        volume, array=array, spacing=tuple(spacing), origin=tuple(origin), direction=direction
    )


def undo_reorientation(volume: Volume, reorientation: AxisReorientation) -> Volume:
    """Inverse of :func:`apply_reorientation`: back to the source array's axis order."""
    if reorientation.is_identity:
        return volume
    n = len(reorientation.order)
    # First undo the flips (they were applied after the permutation), then the permutation.
    unflipped = apply_reorientation(volume, AxisReorientation(tuple(range(n)), reorientation.flips))
    inverse = tuple(int(i) for i in np.argsort(reorientation.order))
    return apply_reorientation(unflipped, AxisReorientation(inverse, (False,) * n))


def to_nearest_axes(volume: Volume) -> tuple[Volume, AxisReorientation]:
    """Reorient a volume so that each array axis follows the nearest world axis.

    Parameters
    ----------
    volume : Volume
        Any volume.

    Returns
    -------
    Volume
        The reoriented volume; its direction is the identity unless the source is oblique.
    AxisReorientation
        What was done, for :func:`undo_reorientation`.
    """
    reorientation = nearest_axes(volume.direction)
    return apply_reorientation(volume, reorientation), reorientation
