"""Slice previews: run an operation on a slab around the slice in view, show one slice."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..volume import Volume
from .display import image_display_kwargs
from .layers import layer_snapshot, volume_to_layer_data

__all__ = ["PREVIEW_LAYER_SUFFIX", "preview_slab", "preview_layer_data", "slab_of", "PREVIEW_HALO"]

PREVIEW_LAYER_SUFFIX = "(preview)"
# Slices on each side of the previewed one: enough for kernels up to 17 slices across.
PREVIEW_HALO = 8


def preview_slab(layer: Any, world_point: Sequence[float], halo: int = PREVIEW_HALO) -> tuple[Volume, int] | None:
    """The slab of ``layer`` around the slice at ``world_point``, as a Volume.

    Parameters
    ----------
    layer : napari layer
        A 3D (or 4D, using the time point in view) image or labels layer.
    world_point : sequence of float
        ``viewer.dims.point``.
    halo : int
        Slices on each side.

    Returns
    -------
    (Volume, int) or None
        The slab and the index of the previewed slice inside it; None for 2D layers
        (the whole image is the preview then: returned as a one-slice slab).
    """
    volume = layer_snapshot(layer)
    if volume.spatial_ndim == 2:
        return volume, -1
    point = np.asarray(world_point)[-layer.ndim :]
    index = np.round(layer.world_to_data(point)).astype(int)
    lead = len(volume.leading_shape)
    array = volume.array
    for axis in range(lead):  # pick the time point in view
        array = array[int(np.clip(index[axis], 0, array.shape[0] - 1))]
    z = int(np.clip(index[lead], 0, array.shape[0] - 1))
    start, stop = max(0, z - halo), min(array.shape[0], z + halo + 1)
    origin = volume.index_to_world([start, 0, 0])
    slab = Volume(array[start:stop], volume.spacing, tuple(origin), volume.direction, dict(volume.metadata), rgb=volume.rgb)
    # napari shows an oblique layer on its own voxel grid: the slab's first slice is
    # drawn at origin + spacing * start there, not at its true oblique position
    slab.metadata["display_origin"] = tuple(np.asarray(volume.origin) + np.asarray(volume.spacing) * [start, 0, 0])
    slab.metadata["preview_z"] = z
    slab.metadata["leading_index"] = [int(i) for i in index[:lead]]
    return slab, z - start


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


def slab_of(other: Volume, slab: Volume, keep: int) -> Volume:
    """The part of ``other`` (a second input on the full input's grid) under ``slab``.

    Volumes on another grid, and 2D previews (``keep`` < 0), are returned unchanged.
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
