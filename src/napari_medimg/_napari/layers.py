"""Conversion between Volumes and napari layer data (no Qt, napari imported lazily).

A Volume is shown in napari after a lossless axis permutation / flip
(:func:`~napari_medimg.io.orientation.to_nearest_axes`), so every study appears in the
same patient orientation and layers from different files overlay in world millimetres.
Layer ``scale`` is the spacing and ``translate`` the origin. A remaining obliquity
cannot be shown by napari's axis-aligned slicing: such a layer is displayed on its own
voxel grid, its true direction is kept in ``metadata["medimg"]["direction"]``, a warning
says so, and the writers put it back into the file.

``metadata["medimg"]`` holds what the writers need to restore the source geometry:
``reorientation`` (from the source array to the displayed one), ``direction``
(numpy order), ``source_format``, ``source_name`` and the safe metadata of the Volume.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..dtypes import as_labels
from ..io.orientation import AxisReorientation, to_nearest_axes, undo_reorientation
from ..io.warnings_codes import OBLIQUE, make_warning
from ..volume import Volume

__all__ = [
    "volume_to_layer_data",
    "layer_to_volume",
    "layer_snapshot",
    "add_layer",
    "add_volumes",
    "add_points_at",
    "points_in_volume_world",
    "layer_kind",
    "labels_features",
    "brush_size_pixels",
    "MEDIMG_KEY",
]

MEDIMG_KEY = "medimg"
_SPATIAL_LABELS = {2: ("y", "x"), 3: ("z", "y", "x")}


def _json_safe(value: Any) -> Any:
    """Turn numpy scalars and arrays into plain Python for layer metadata."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def volume_to_layer_data(
    volume: Volume, *, name: str, layer_type: str = "image", **extra: Any
) -> tuple[Any, dict[str, Any], str]:
    """A napari layer data tuple for a Volume, in world millimetres.

    Parameters
    ----------
    volume : Volume
        What to show.
    name : str
        Layer name.
    layer_type : str
        ``"image"`` or ``"labels"``.
    **extra
        Further layer keyword arguments (colormap, contrast_limits, ...).

    Returns
    -------
    tuple
        ``(data, kwargs, layer_type)`` for napari.
    """
    if "reorientation" in volume.metadata:
        # Already in the displayed frame (it came from a layer): keep how it got there.
        shown = volume
        reorientation = AxisReorientation.from_dict(volume.metadata["reorientation"])
    else:
        shown, reorientation = to_nearest_axes(volume)
    leading = len(shown.leading_shape)
    warnings = list(volume.metadata.get("warnings", []))
    if not shown.is_axis_aligned:
        angle = shown.obliquity_degrees
        note = make_warning(
            OBLIQUE,
            f"the volume is oblique by {angle:.2f} degrees; napari shows it on its own voxel "
            "grid (positions are exact at the origin and off by up to "
            f"{angle:.2f} degrees elsewhere); the true direction is kept in the layer "
            "metadata and written back when saving; resample to an axis-aligned grid for "
            "exact overlays with other series",
        )
        if not any(w.startswith(OBLIQUE) for w in warnings):
            warnings.append(note)
    medimg = _json_safe(
        {
            **{k: v for k, v in volume.metadata.items() if k != "warnings"},
            "warnings": warnings,
            "reorientation": reorientation.as_dict(),
            "direction": shown.direction,
            "spatial_ndim": shown.spatial_ndim,
        }
    )
    data = shown.array
    if layer_type == "labels":
        data = as_labels(data)
    kwargs: dict[str, Any] = {
        "name": name,
        "scale": (1.0,) * leading + tuple(shown.spacing),
        "translate": (0.0,) * leading + tuple(shown.origin),
        "units": ("pixel",) * leading + ("mm",) * shown.spatial_ndim,
        "axis_labels": ("t", "u", "v")[:leading] + _SPATIAL_LABELS[shown.spatial_ndim],
        "metadata": {MEDIMG_KEY: medimg},
    }
    if layer_type == "image":
        kwargs["rgb"] = shown.rgb
    elif volume.metadata.get("classes"):  # names and colours of a model's classes
        from ..io.label_map import parse_label_map
        from .label_names import NAME, class_map_layer_kwargs

        named = class_map_layer_kwargs(parse_label_map({"labels": volume.metadata["classes"]}), np.unique(data))
        if "features" in extra:  # a measurement table: the names become its column
            table = named.pop("features")
            names = dict(zip(table["index"].tolist(), table[NAME].tolist()))
            extra = {**extra, "features": {**extra["features"],
                                           NAME: [names.get(int(i), "") for i in extra["features"]["index"]]}}
        kwargs.update(named)
    kwargs.update(extra)
    return data, kwargs, layer_type


def labels_features(labels: np.ndarray, spacing: Any) -> dict[str, list]:
    """napari features of a labels layer: one row per label value, 0 (background) first.

    Parameters
    ----------
    labels : numpy.ndarray
        Integer labels (0 is background).
    spacing : sequence of float
        Voxel spacing in mm, numpy order.

    Returns
    -------
    dict
        Columns ``index`` (the label value), ``voxel_count``, ``volume_mm3`` and
        ``volume_ml`` (NaN volumes for the background row).
    """
    from ..processing.morphology import label_summary

    features: dict[str, list] = {"index": [0], "voxel_count": [0], "volume_mm3": [np.nan], "volume_ml": [np.nan]}
    for row in label_summary(labels, spacing):
        features["index"].append(row["label"])
        for key in ("voxel_count", "volume_mm3", "volume_ml"):
            features[key].append(row[key])
    return features


def brush_size_pixels(layer: Any, diameter_mm: float) -> int:
    """napari's ``brush_size`` (data pixels) of a brush ``diameter_mm`` across on ``layer``.

    Uses the finer of the two in-plane pixel sizes (the last two axes of
    ``layer.scale``, mm), as napari sizes the brush cursor; at least one pixel.
    """
    pixel = float(np.min(np.abs(np.asarray(layer.scale, float)[-2:])))
    return max(1, int(round(float(diameter_mm) / pixel)))


def add_layer(viewer: Any, data: Any, kwargs: dict[str, Any], layer_type: str) -> Any:
    """Add a layer data tuple through the viewer's public ``add_<type>`` method.

    Returns
    -------
    napari.layers.Layer
        The new layer.
    """
    return getattr(viewer, f"add_{layer_type}")(data, **kwargs)


def add_volumes(viewer: Any, volumes: dict[str, Volume], prefix: str) -> dict[str, Any]:
    """Add result Volumes as layers named ``"<prefix> <name>"``: labels as Labels, others as images.

    Returns
    -------
    dict
        The new layer of each name.
    """
    from .display import image_display_kwargs

    added = {}
    for name, volume in volumes.items():
        kind = "labels" if volume.metadata.get("kind") == "labels" else "image"
        extra = {} if kind == "labels" else image_display_kwargs(volume)
        add_layer(viewer, *volume_to_layer_data(volume, name=f"{prefix} {name}", layer_type=kind, **extra))
        added[name] = viewer.layers[-1]
    return added


def points_in_volume_world(points_layer: Any, image_layer: Any, snapshot: Volume | None = None) -> np.ndarray | None:
    """The points of a Points layer as world coordinates (mm, numpy order) of the image's Volume.

    napari's world frame is the displayed one (reoriented, scaled); the library's is the image
    file's. Each point goes to the image layer's voxel index, then through the snapshot's own
    geometry. For a series (a leading frame axis), the frame index leads each row, as
    :func:`napari_medimg.operations.seeds_to_indices` expects. None when there is no point.
    """
    if points_layer is None or len(points_layer.data) == 0 or image_layer is None:
        return None
    world = np.asarray([points_layer.data_to_world(p) for p in points_layer.data])
    world = world[:, -image_layer.ndim:] if world.shape[1] >= image_layer.ndim else world
    indices = np.asarray([image_layer.world_to_data(p) for p in world])
    if snapshot is None:
        snapshot = layer_snapshot(image_layer)
    n = snapshot.spatial_ndim
    world = snapshot.index_to_world(indices[:, -n:])
    lead = len(snapshot.leading_shape)
    if lead:
        world = np.concatenate([np.round(indices[:, -n - lead: -n]), world], axis=1)
    return world


def add_points_at(viewer: Any, layer: Any, index: np.ndarray, features: dict, name: str) -> Any:
    """A Points layer at voxel ``index`` of ``layer``'s data, through that layer's own transform.

    Points with a ``diameter_mm`` feature (nodule candidates) are drawn as circles of that size,
    named ones (a ``landmark`` feature) carry their name beside them, others are small dots.
    """
    index = np.asarray(index, dtype=np.float64).reshape(len(index), -1)
    lead = layer.ndim - index.shape[1]
    if lead:
        index = np.concatenate([np.zeros((len(index), lead)), index], axis=1)
    world = np.asarray([layer.data_to_world(i) for i in index]).reshape(-1, layer.ndim)
    text = {"string": "{landmark}", "size": 9, "color": "yellow", "anchor": "upper_left"} \
        if "landmark" in features else None
    blobs = "diameter_mm" in features
    size = np.asarray(features["diameter_mm"], float) if blobs else 3
    return viewer.add_points(world, name=name, features=features, size=size,
                             face_color="transparent" if blobs else "yellow", border_color="yellow",
                             units=layer.units[-world.shape[1]:], text=text)


def layer_kind(layer: Any) -> str:
    """``"labels"``, ``"image"``, ``"points"``, ... : the layer's type in lower case."""
    return layer.__class__.__name__.lower()  # __class__, not type(): napari may hand a proxy


def _layer_affine(meta: dict[str, Any], ndim: int) -> np.ndarray:
    """The layer's full data-to-world matrix ``(ndim+1, ndim+1)`` from its attributes."""
    from napari.utils.transforms import Affine

    transform = Affine(
        scale=meta.get("scale", (1.0,) * ndim),
        translate=meta.get("translate", (0.0,) * ndim),
        rotate=meta.get("rotate"),
        shear=meta.get("shear"),
        ndim=ndim,
    )
    matrix = transform.affine_matrix
    extra = meta.get("affine")
    if extra is not None:
        extra = extra.affine_matrix if hasattr(extra, "affine_matrix") else np.asarray(extra)
        matrix = extra @ matrix
    return matrix


def _layer_geometry(
    meta: dict[str, Any], ndim: int, spatial: int, medimg: dict[str, Any]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Spacing, origin and direction of a layer's spatial axes from its full transform.

    The transform (scale, translate, rotate, shear and affine, as napari composes them)
    says where the layer is shown; where it is axis-aligned, the true oblique direction
    kept in ``medimg["direction"]`` is restored.
    """
    matrix = _layer_affine(meta, ndim)
    linear = matrix[ndim - spatial : ndim, ndim - spatial : ndim]
    spacing = np.linalg.norm(linear, axis=0)
    if np.any(spacing <= 0):
        raise ValueError(f"the layer's scale {meta.get('scale')} has a zero entry")
    direction = linear / spacing
    origin = matrix[ndim - spatial : ndim, ndim]
    stored = medimg.get("direction")
    if stored is not None and np.allclose(direction, np.eye(spatial), atol=1e-6):
        stored = np.asarray(stored, dtype=np.float64)
        if stored.shape == (spatial, spatial):
            direction = stored
    return spacing, origin, direction


def layer_to_volume(
    data: Any, meta: dict[str, Any], *, labels: bool = False, source: dict[str, Any] | None = None
) -> Volume:
    """A Volume in the source file's voxel order from napari layer data and attributes.

    The world geometry comes from the layer's own transform (scale, translate, rotate,
    shear, affine), so a layer moved in napari is written where it is shown. When the
    layer (or ``source``, the metadata of the image it was drawn on) came from this
    plugin's reader, the true oblique direction is restored and the array is put back
    in the source file's axis order, so the written file lines up voxel for voxel with
    the source.

    Parameters
    ----------
    data : array-like
        Layer data (the highest resolution level is used for multiscale data).
    meta : dict
        Layer attributes as napari gives them to writers.
    labels : bool
        Store as labels: the smallest unsigned integer type that fits.
    source : dict, optional
        ``metadata["medimg"]`` of the image layer this one was drawn on, used when the
        layer has none of its own.

    Returns
    -------
    Volume
    """
    if isinstance(data, (list, tuple)):  # multiscale: keep full resolution
        data = data[0]
    array = np.asarray(data)
    medimg = dict((meta.get("metadata") or {}).get(MEDIMG_KEY) or source or {})
    rgb = bool(meta.get("rgb", False)) and not labels
    ndim = array.ndim - (1 if rgb else 0)
    spatial = int(medimg.get("spatial_ndim", min(ndim, 3)))
    if spatial > ndim:
        spatial = ndim
    spacing, origin, direction = _layer_geometry(meta, ndim, spatial, medimg)
    if labels:
        array = as_labels(array)
    keep = {
        k: v for k, v in medimg.items()
        if k in ("modality", "source_format", "source_name", "time_spacing", "time_origin", "history")
    }
    keep["kind"] = "labels" if labels else "image"
    volume = Volume(array, tuple(spacing), tuple(origin), direction, keep, rgb=rgb)
    reorientation = medimg.get("reorientation")
    if reorientation is not None and len(reorientation.get("order", ())) == spatial:
        volume = undo_reorientation(volume, AxisReorientation.from_dict(reorientation))
    return volume


def layer_transform(layer: Any) -> dict[str, Any]:
    """The layer's placement as napari's writers receive it: scale, translate, rotate, shear, affine."""
    return {
        "scale": layer.scale,
        "translate": layer.translate,
        "rotate": layer.rotate,
        "shear": layer.shear,
        "affine": layer.affine.affine_matrix,
    }


def layer_source_volume(layer: Any, *, labels: bool = False) -> Volume:
    """The layer as a Volume in its source file's voxel order and true geometry (as File > Save).

    A labels layer painted with napari's "new labels" button has only the displayed geometry:
    the image read by this plugin that it was drawn on (same shape, scale, translate) gives
    the true direction and axis order. The data is copied for labels (painting may go on).
    """
    from .writer import find_source_metadata

    meta = {**layer_transform(layer), "metadata": dict(layer.metadata or {})}
    data = np.array(layer.data) if labels else layer.data
    source = None if meta["metadata"].get(MEDIMG_KEY) or not labels else find_source_metadata(data, meta)
    return layer_to_volume(data, meta, labels=labels, source=source)


def layer_snapshot(layer: Any) -> Volume:
    """The layer as a Volume in the displayed frame, safe to hand to a worker thread.

    Labels are copied (the user may keep painting); image data is shared, since napari
    never edits image arrays in place. The Volume's metadata is the layer's
    ``metadata["medimg"]`` so results can be shown and saved with the source geometry.
    """
    data = layer.data[0] if getattr(layer, "multiscale", False) else layer.data
    array = np.array(data) if layer_kind(layer) == "labels" else np.asarray(data)
    medimg = dict((layer.metadata or {}).get(MEDIMG_KEY) or {})
    rgb = bool(getattr(layer, "rgb", False))
    ndim = array.ndim - (1 if rgb else 0)
    spatial = min(int(medimg.get("spatial_ndim", min(ndim, 3))), ndim)
    spacing, origin, direction = _layer_geometry(layer_transform(layer), ndim, spatial, medimg)
    medimg.setdefault("reorientation", {"order": list(range(spatial)), "flips": [False] * spatial})
    medimg["kind"] = "labels" if layer_kind(layer) == "labels" else "image"
    return Volume(array, tuple(spacing), tuple(origin), direction, medimg, rgb=rgb)
