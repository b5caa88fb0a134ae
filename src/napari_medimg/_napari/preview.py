"""Slice previews: run an operation around the slice in view and show that one slice.

How an operation previews is a fact of the operation (``Operation.preview`` and
``Operation.preview_reach`` in :mod:`napari_medimg.operations`): "slab" runs it on the
slices within its reach of the one in view, "whole" runs it on the whole volume (its
result depends on all of it), "none" offers no preview. Either way the shown slice
equals the full run's slice. This module has no Qt; the widget calls
:func:`preview_input` and :func:`preview_result`, and tests call the latter directly.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from ..volume import Volume
from .display import image_display_kwargs
from .layers import layer_snapshot, volume_to_layer_data

__all__ = ["PREVIEW_LAYER_SUFFIX", "preview_input", "preview_result", "preview_layer_data", "slab_around", "slab_of"]

PREVIEW_LAYER_SUFFIX = "(preview)"


def preview_input(layer: Any, world_point: Sequence[float]) -> tuple[Volume, int]:
    """The frame of ``layer`` in view and the index of the slice in view.

    Parameters
    ----------
    layer : napari layer
        An image or labels layer (2D, 3D, or a 4D series: the time point in view is taken).
    world_point : sequence of float
        ``viewer.dims.point``.

    Returns
    -------
    (Volume, int)
        The spatial volume in view and the index of the slice in view along its first
        axis; -1 for a 2D image (the whole image is the preview then).
    """
    volume = layer_snapshot(layer)
    if volume.spatial_ndim == 2:
        return volume, -1
    point = np.asarray(world_point)[-layer.ndim :]
    index = np.round(layer.world_to_data(point)).astype(int)
    lead = len(volume.leading_shape)
    frame = tuple(int(np.clip(i, 0, n - 1)) for i, n in zip(index[:lead], volume.leading_shape))
    if lead:
        volume = volume.with_frame(frame)
    volume.metadata["leading_index"] = list(frame)
    # napari shows an oblique layer on its own voxel grid: slice k is drawn at
    # origin + spacing * k there, not at its true oblique position
    volume.metadata["display_origin"] = tuple(float(o) for o in volume.origin)
    z = int(np.clip(index[lead], 0, volume.spatial_shape[0] - 1))
    return volume, z


def slab_around(volume: Volume, z: int, halo: int) -> tuple[Volume, int]:
    """The slices of ``volume`` within ``halo`` of slice ``z`` (a view, no copy).

    Returns
    -------
    (Volume, int)
        The slab, with its geometry, and the index of slice ``z`` inside it. The slab's
        metadata records ``preview_z`` (``z``) so that :func:`slab_of` can cut second
        inputs alike, and shifts ``display_origin`` when the volume has one.
    """
    start, stop = max(0, z - halo), min(volume.spatial_shape[0], z + halo + 1)
    metadata = dict(volume.metadata)
    metadata["preview_z"] = z
    if "display_origin" in metadata:
        metadata["display_origin"] = tuple(np.asarray(metadata["display_origin"]) + np.asarray(volume.spacing) * [start, 0, 0])
    origin = tuple(volume.index_to_world([start, 0, 0]))
    return Volume(volume.array[start:stop], volume.spacing, origin, volume.direction, metadata, rgb=volume.rgb), z - start


def slab_of(other: Volume, slab: Volume, keep: int) -> Volume:
    """The part of ``other`` (a second input on the full input's grid) under ``slab``.

    The frame of a series is the one in ``slab.metadata["leading_index"]``. Volumes on
    another grid, and 2D previews (``keep`` < 0), are returned unchanged.
    """
    if keep < 0 or "preview_z" not in slab.metadata:
        return other
    start = int(slab.metadata["preview_z"]) - keep
    stop = start + slab.spatial_shape[0]
    array = other.array
    for index in slab.metadata.get("leading_index", [])[: len(other.leading_shape)]:
        array = array[int(np.clip(index, 0, array.shape[0] - 1))]
    if other.spatial_ndim != 3 or array.shape[1:3] != slab.spatial_shape[1:] or array.shape[0] < stop:
        return other
    origin = other.index_to_world([start, 0, 0])
    return Volume(array[start:stop], other.spacing, tuple(origin), other.direction, dict(other.metadata), rgb=other.rgb)


def preview_result(
    operation: Any,
    volume: Volume,
    values: dict[str, Any],
    z: int,
    *,
    cancel: Callable[[], bool] | None = None,
) -> tuple[Volume, int]:
    """Run ``operation`` as its preview does and say which slice of the result to show.

    Parameters
    ----------
    operation : Operation
        A previewable operation (``operation.previewable``).
    volume : Volume
        The spatial input (one frame of a series), e.g. from :func:`preview_input`.
    values : dict
        Parameter values as for :meth:`Operation.run`; second inputs on ``volume``'s grid
        are cut to the same slab, seed points stay in world coordinates.
    z : int
        Slice in view; -1 for a 2D image.
    cancel : callable, optional
        Returns True when a newer preview makes this one useless.

    Returns
    -------
    (Volume, int)
        The result and the index of the previewed slice in it (-1: the whole 2D image).
        Its slice equals slice ``z`` of ``operation.run(volume, values)``.

    Raises
    ------
    ValueError
        For an operation without a preview (the message says why), and for bad values.
    """
    if not operation.previewable:
        raise ValueError(f"{operation.name}: {operation.preview_note}")
    if z < 0 or volume.spatial_ndim == 2:
        return operation.run(volume, values, cancel=cancel), -1
    if operation.preview == "whole":
        halo = volume.spatial_shape[0]
    else:
        halo = operation.preview_halo(volume.spacing[0], operation.resolve(values))
    slab, keep = slab_around(volume, z, halo)
    values = {name: slab_of(value, slab, keep) if isinstance(value, Volume) else value for name, value in values.items()}
    return operation.run(slab, values, cancel=cancel), keep


def preview_layer_data(result: Volume, keep: int, kind: str, name: str) -> tuple[Any, dict[str, Any], str]:
    """Layer data for the previewed slice of ``result`` (one slice at its true depth)."""
    if keep >= 0:
        display = result.metadata.get("display_origin")
        if display is not None:
            origin = np.asarray(display) + np.asarray(result.spacing) * [keep, 0, 0]
        else:
            origin = result.index_to_world([keep, 0, 0])
        lead = result.metadata.get("leading_index", [])
        array = result.array[keep : keep + 1]
        for _ in lead:
            array = array[np.newaxis]
        shown = Volume(array, result.spacing, tuple(origin), np.eye(3), dict(result.metadata), rgb=result.rgb)
    else:
        shown = result
    extra: dict[str, Any] = {"name": name}
    if kind == "labels":
        data, kwargs, layer_type = volume_to_layer_data(shown, layer_type="labels", opacity=0.6, **extra)
    else:
        data, kwargs, layer_type = volume_to_layer_data(shown, **image_display_kwargs(shown), **extra)
    lead = len(result.metadata.get("leading_index", []))
    if lead:
        kwargs["translate"] = tuple(float(i) for i in result.metadata["leading_index"]) + tuple(kwargs["translate"][lead:])
    return data, kwargs, layer_type
