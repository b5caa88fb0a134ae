"""napari reader contribution for DICOM, NIfTI, NRRD, MetaImage and pictures."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

from ..io import ImageReadError, can_read, read
from ..volume import Volume
from .display import image_display_kwargs, looks_like_ct
from .label_names import embedded_layer_kwargs, sidecar_layer_kwargs
from .layers import volume_to_layer_data

__all__ = ["get_reader", "read_layers"]

LayerData = tuple[Any, dict[str, Any], str]
_LABEL_HINTS = ("label", "seg", "mask", "roi")


def get_reader(path: str | list[str]) -> Callable[[Any], list[LayerData]] | None:
    """Return :func:`read_layers` when every path looks readable, else None.

    Only cheap checks happen here (extension, DICOM preamble); nothing is decoded.
    """
    paths = [path] if isinstance(path, (str, os.PathLike)) else list(path)
    if not paths:
        return None
    try:
        if all(can_read(p) for p in paths):
            return read_layers
    except OSError:
        return None
    return None


def _series_key(path: Path) -> str | None:
    """The opaque key of a DICOM file's series from its header alone (None otherwise)."""
    if not path.is_file() or path.name.lower().endswith((".nii", ".nii.gz", ".nrrd", ".nhdr", ".mha", ".mhd")):
        return None
    from ..io.dicom import series_key_of_file

    return series_key_of_file(path)


def _looks_like_labels(path: Path, volume: Volume) -> bool:
    """Integer data whose header says labels, or whose file name says label / seg / mask / roi."""
    if volume.rgb or volume.array.dtype.kind not in "ui" or int(volume.array.min(initial=0)) < 0:
        return False
    name = path.name.lower()
    return volume.metadata.get("kind") == "labels" or any(hint in name for hint in _LABEL_HINTS)


def _layer_name(path: Path, volume: Volume) -> str:
    """Series description for DICOM, else the file name without its extension."""
    description = str(volume.metadata.get("series_description") or "").strip()
    if volume.metadata.get("source_format") == "dicom" and description:
        return description
    if path.is_dir() and path.name.lower() in ("dicom", "dcm") and path.parent.name:
        return path.parent.name
    name = path.name
    for ext in (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd", ".dcm"):
        if name.lower().endswith(ext):
            return name[: -len(ext)]
    return Path(name).stem if path.is_file() else name


def _seg_on_open_image(path: Path, volume: Volume) -> Volume:
    """A DICOM SEG placed on the grid of an open image it was made on, else as read.

    A SEG keeps only the slices its segments touch; on its own it spans those. When the
    series it segments is open (same slice positions, rows and columns), the labels come
    back on that image's whole grid and overlay it exactly, gantry tilt and gaps included.
    """
    import napari

    from ..io.dicom_seg import read_seg
    from .layers import MEDIMG_KEY, layer_kind, layer_source_volume

    viewer = napari.current_viewer()
    for layer in list(viewer.layers) if viewer is not None else []:
        medimg = (layer.metadata or {}).get(MEDIMG_KEY) or {}
        if layer_kind(layer) != "image" or medimg.get("source_format") != "dicom" or medimg.get("modality") == "SEG":
            continue
        grid = layer_source_volume(layer)
        if grid.spatial_ndim != 3 or grid.rgb:
            continue
        grid.metadata["slice_positions"] = medimg.get("slice_positions")
        try:
            return read_seg(path, grid=grid)
        except ImageReadError:
            continue
    return volume


def read_layers(path: str | list[str]) -> list[LayerData]:
    """Read each path into an image (or labels) layer in world millimetres.

    Files of one DICOM series given together are read once. Geometry warnings (gantry
    tilt, gaps, obliquity, ...) are shown as napari notifications and kept in
    ``layer.metadata["medimg"]["warnings"]``.
    """
    from napari.utils.notifications import show_warning

    from .radiological_view import follow_current_viewer

    follow_current_viewer()

    paths = [path] if isinstance(path, (str, os.PathLike)) else list(path)
    layers: list[LayerData] = []
    seen_series: set[str] = set()
    for item in paths:
        item = Path(item)
        series = _series_key(item) if len(paths) > 1 else None
        if series is not None and series in seen_series:
            continue  # another file of a series already read
        volume = read(item)
        if volume.metadata.get("modality") == "SEG" and volume.metadata.get("kind") == "labels":
            volume = _seg_on_open_image(item, volume)
        if volume.metadata.get("series_key"):
            seen_series.add(volume.metadata["series_key"])
        name = _layer_name(item, volume)
        if _looks_like_labels(item, volume):
            try:  # names and colours from a class-map sidecar (same stem + .json)
                classes = sidecar_layer_kwargs(item) or embedded_layer_kwargs(volume)
            except ImageReadError as exc:
                show_warning(f"{name}: class map not used: {exc}")
                classes = {}
            layers.append(volume_to_layer_data(volume, name=name, layer_type="labels", **classes))
        else:
            if not volume.metadata.get("units") and looks_like_ct(volume):
                volume.metadata["units"] = "HU"  # recognised from its values; the file names no modality
            layers.append(volume_to_layer_data(volume, name=name, **image_display_kwargs(volume)))
        for warning in layers[-1][1]["metadata"]["medimg"].get("warnings", []):
            show_warning(f"{name}: {warning}")
    return layers
