"""napari writer contributions: images and labels with the source geometry restored."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..io import write
from .layers import MEDIMG_KEY, layer_kind, layer_to_volume

__all__ = ["write_image", "write_labels", "find_source_metadata"]


def find_source_metadata(data: Any, meta: dict[str, Any]) -> dict[str, Any] | None:
    """Geometry metadata of the image a labels layer was drawn on, found in the open viewer.

    A labels layer made with napari's "new labels" button carries no metadata of its
    own; it shares the image's grid. The image layer read by this plugin whose spatial
    shape, scale and translate equal the labels layer's is taken as its source.
    """
    try:
        import napari
    except ImportError:  # pragma: no cover - the writer only runs inside napari
        return None
    viewer = napari.current_viewer()
    if viewer is None:
        return None
    shape = np.shape(data[0] if isinstance(data, (list, tuple)) else data)
    scale = np.asarray(meta.get("scale", np.ones(len(shape))), dtype=float)
    translate = np.asarray(meta.get("translate", np.zeros(len(shape))), dtype=float)
    for layer in viewer.layers:
        medimg = (layer.metadata or {}).get(MEDIMG_KEY)
        if not medimg or layer_kind(layer) != "image":
            continue
        layer_shape = layer.data.shape[:-1] if layer.rgb else layer.data.shape
        if (
            tuple(layer_shape) == tuple(shape)
            and np.allclose(layer.scale, scale)
            and np.allclose(layer.translate, translate)
        ):
            return medimg
    return None


def write_image(path: str, data: Any, meta: dict[str, Any]) -> list[str]:
    """Write an image layer to .nii.gz, .nii, .nrrd or .mha with its source geometry."""
    volume = layer_to_volume(data, meta)
    return [str(write(volume, Path(path)))]


def write_labels(path: str, data: Any, meta: dict[str, Any]) -> list[str]:
    """Write a labels layer in the smallest unsigned integer type, on its source's grid."""
    source = None
    if not (meta.get("metadata") or {}).get(MEDIMG_KEY):
        source = find_source_metadata(data, meta)
    volume = layer_to_volume(data, meta, labels=True, source=source)
    return [str(write(volume, Path(path)))]
