"""Per-label measurements: size, shape, position and intensity of every object in a label image.

A *table* here is a plain ``dict`` of column name to 1D numpy array, one row per label
present (background 0 excluded), rows sorted by label value. Units are in the column
names (``volume_mm3``, ``centroid_z_mm``, ``mean_HU`` ...). :func:`to_layer_features`
turns a table into napari ``Labels.features``; :func:`write_csv` writes it.

Columns of :func:`measure_labels`
---------------------------------
3D labels:

``label``, ``voxel_count``, ``volume_mm3`` (voxel count x voxel volume), ``volume_ml``,
``mesh_volume_mm3``, ``surface_area_mm2``, ``sphericity``, ``elongation``, ``flatness``,
``maximum_3d_diameter_mm``, ``centroid_{z,y,x}_mm``, ``bbox_min_{z,y,x}_mm``,
``bbox_max_{z,y,x}_mm``.

2D labels:

``label``, ``pixel_count``, ``area_mm2`` (pixel count x pixel area), ``mesh_area_mm2``,
``perimeter_mm``, ``sphericity`` (circularity), ``elongation``, ``maximum_diameter_mm``,
``centroid_{y,x}_mm``, ``bbox_min_{y,x}_mm``, ``bbox_max_{y,x}_mm``.

With an image, for both: ``mean_<units>``, ``std_<units>``, ``min_<units>``,
``max_<units>`` and ``p<q>_<units>`` for each percentile ``q`` (``mean``, ``std``, ``p10``
... when the units are unknown), and ``percent_below_<t>_<units>`` for each threshold ``t``
asked for (the percentage of the label's voxels below it).

Definitions
-----------
- Shape values are those of the radiomics ``shape`` / ``shape2D`` classes (pyradiomics
  3.1.0 definitions: marching cubes / squares mesh with vertices at edge midpoints,
  ``Sphericity``, ``Elongation``, ``Flatness``, ``Maximum3DDiameter`` /
  ``MaximumDiameter``), computed by the functions of
  :mod:`napari_medimg.analysis.radiomics.shape` on each label's cropped mask; they equal
  ``extract(image, labels, {"label": n}, feature_classes=["shape"])``. A one-voxel-thin or
  single-voxel object has ``elongation`` / ``flatness`` NaN (a zero principal axis).
- Centroid: mean voxel-centre index mapped to world mm with
  :meth:`~napari_medimg.volume.Volume.index_to_world` (origin, spacing and direction
  respected), numpy order (z, y, x) = reversed LPS.
- Bounding box: the world-axis-aligned box around the *voxel centres* of the object's
  index bounding box (the 4 or 8 corner centres mapped to world; with a flipped or
  oblique direction, min and max are taken per world axis). Add half a voxel on each
  side for the box around voxel edges.
- Intensities: one pass per label over its bounding box (``scipy.ndimage.find_objects``);
  only the label's values are gathered, in the image's dtype. ``mean`` and ``std``
  (population, ``ddof=0``) are accumulated in float64 in chunks (no float64 copy of the
  image, nor of a large label's values); ``min``/``max`` are exact; percentiles use
  numpy's default linear interpolation. All intensity columns are float64.

Edge cases (chosen behaviour)
-----------------------------
- Empty labels (no voxel above 0): an empty table with all the columns (length 0), so
  that a batch over a cohort keeps going and writes a CSV with just its header.
- Negative, fractional or NaN labels, a time series / colour volume, an image on another
  grid (shape, spacing, origin or direction differ by more than ``tolerance`` of a voxel),
  or NaN / infinite image values inside a label: :class:`ValueError` saying what to do.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
from scipy import ndimage as ndi

from ..dtypes import as_labels
from ..io.csv_table import write_csv  # re-exported: measurement tables are written with it
from ..progress import CancelCheck, ProgressCallback, check_cancel, report
from ..volume import Volume, check_same_grid
from .radiomics import shape as _shape3d
from .radiomics import shape2d as _shape2d

__all__ = ["measure_labels", "measure_objects", "MEASURE_OPTIONS", "per_slice_area", "to_layer_features", "write_csv"]

Table = dict[str, np.ndarray]

_AXES = {3: ("z", "y", "x"), 2: ("y", "x")}
# shape columns in the order _shape_values returns them
_SHAPE_COLUMNS = {
    3: (
        "mesh_volume_mm3", "surface_area_mm2", "sphericity", "elongation", "flatness",
        "maximum_3d_diameter_mm",
    ),
    2: ("mesh_area_mm2", "perimeter_mm", "sphericity", "elongation", "maximum_diameter_mm"),
}
# values gathered per chunk when accumulating float64 sums (bounded temporary memory)
_CHUNK = 1 << 20


# ----------------------------------------------------------------------------- checks
def _label_array(labels: Volume) -> np.ndarray:
    if labels.rgb or labels.leading_shape:
        raise ValueError(
            f"labels must be a single 2D or 3D label image, got {labels!r}; pick one time point first"
        )
    return as_labels(labels.array)  # raises on negative / fractional / NaN labels


def _image_array(image: Volume, labels: Volume, tolerance: float) -> np.ndarray:
    if image.rgb or image.leading_shape:
        raise ValueError(
            f"the image must be a single-channel 2D or 3D volume, got {image!r}; "
            "pick one channel or time point"
        )
    check_same_grid(image, labels, tolerance=tolerance)
    array = np.asarray(image.array)
    if array.dtype == bool:
        array = array.view(np.uint8)
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise ValueError(f"image values must be numbers, got dtype {array.dtype}")
    return array


def _objects(array: np.ndarray) -> tuple[np.ndarray, list[tuple[slice, ...]], np.ndarray]:
    """Label values present, their bounding boxes, and the array find_objects saw.

    Sparse, very large label values are renumbered first so that ``find_objects`` does not
    allocate one entry per possible value.
    """
    top = int(array.max()) if array.size else 0
    if top == 0:
        return np.zeros(0, dtype=np.int64), [], array
    if top <= max(1 << 16, 4 * array.size):
        boxes = ndi.find_objects(array)
        present = np.array([k + 1 for k, box in enumerate(boxes) if box is not None], dtype=np.int64)
        return present, [boxes[k - 1] for k in present], array
    values, inverse = np.unique(array, return_inverse=True)
    inverse = inverse.reshape(array.shape).astype(np.uint32)
    if values[0] != 0:  # no background: shift so that label k of ``present`` is k + 1
        inverse += 1
    present = values[1:] if values[0] == 0 else values
    boxes = ndi.find_objects(inverse)
    return present.astype(np.int64), boxes, inverse


# -------------------------------------------------------------------------- columns
def _unit_suffix(units: str | None) -> str:
    if not units:
        return ""
    cleaned = re.sub(r"[^0-9A-Za-z]+", "_", str(units)).strip("_")
    return f"_{cleaned}" if cleaned else ""


def _percentile_name(q: float) -> str:
    text = f"{float(q):g}".replace(".", "_").replace("-", "m")
    return f"p{text}"


def _geometry_columns(ndim: int) -> list[str]:
    axes = _AXES[ndim]
    if ndim == 3:
        cols = [
            "label", "voxel_count", "volume_mm3", "volume_ml", "mesh_volume_mm3", "surface_area_mm2",
            "sphericity", "elongation", "flatness", "maximum_3d_diameter_mm",
        ]
    else:
        cols = [
            "label", "pixel_count", "area_mm2", "mesh_area_mm2", "perimeter_mm", "sphericity",
            "elongation", "maximum_diameter_mm",
        ]
    cols += [f"centroid_{a}_mm" for a in axes]
    cols += [f"bbox_min_{a}_mm" for a in axes] + [f"bbox_max_{a}_mm" for a in axes]
    return cols


def _intensity_columns(suffix: str, percentiles: Sequence[float], below: Sequence[float] = ()) -> list[str]:
    names = ["mean", "std", "min", "max"] + [_percentile_name(q) for q in percentiles]
    names += [f"percent_below_{t:g}" for t in below]
    return [name + suffix for name in names]


def _shape_values(mask: np.ndarray, spacing: tuple[float, ...]) -> list[float]:
    """Shape columns of one cropped bool mask, with the radiomics shape functions."""
    sp = np.asarray(spacing, dtype=float)
    if mask.ndim == 3:
        area, volume, vertices = _shape3d.mesh_coefficients(mask, spacing)
        diameter = np.sqrt(_shape3d._max_distance(vertices * (sp / 2.0)))
        eig = _shape3d.principal_moments(mask, spacing)
        sphericity = (36 * np.pi * volume**2) ** (1.0 / 3.0) / area
        elongation = np.sqrt(eig[1] / eig[2]) if eig[1] >= 0 and eig[2] > 0 else np.nan
        flatness = np.sqrt(eig[0] / eig[2]) if eig[0] >= 0 and eig[2] > 0 else np.nan
        return [volume, area, sphericity, elongation, flatness, diameter]
    perimeter, surface, vertices = _shape2d.contour_coefficients(mask, spacing)
    diameter = np.sqrt(_shape3d._max_distance(vertices * (sp / 2.0)))
    eig = _shape3d.principal_moments(mask, spacing)
    sphericity = (2 * np.sqrt(np.pi * surface)) / perimeter
    elongation = np.sqrt(eig[0] / eig[1]) if eig[0] >= 0 and eig[1] > 0 else np.nan
    return [surface, perimeter, sphericity, elongation, diameter]


def _mean_std(values: np.ndarray) -> tuple[float, float]:
    """Mean and population std with float64 accumulators, ``_CHUNK`` values at a time."""
    n = values.size
    total = 0.0
    for start in range(0, n, _CHUNK):
        total += float(np.sum(values[start : start + _CHUNK], dtype=np.float64))
    mean = total / n
    squares = 0.0
    for start in range(0, n, _CHUNK):
        chunk = values[start : start + _CHUNK].astype(np.float64)  # bounded: _CHUNK values
        chunk -= mean
        squares += float(np.dot(chunk, chunk))
    return mean, math.sqrt(squares / n)


# ------------------------------------------------------------------------ measuring
def measure_labels(
    labels: Volume,
    image: Volume | None = None,
    *,
    percentiles: Iterable[float] = (10, 50, 90),
    below: Iterable[float] = (),
    units: str | None = None,
    shape: bool = True,
    tolerance: float = 1e-3,
    progress: ProgressCallback | None = None,
    cancel: CancelCheck | None = None,
) -> Table:
    """Measure every label of a label image: size, shape, position and intensities.

    Parameters
    ----------
    labels : Volume
        2D or 3D label image (0 is background; bool, unsigned or non-negative integers).
    image : Volume, optional
        Grey values on the same grid; adds intensity statistics inside each label.
    percentiles : iterable of float
        Percentiles (0-100) of the intensities to report as ``p<q>_<units>`` columns.
    below : iterable of float
        Thresholds ``t``: the percentage of the label's voxels whose value is below ``t``, as
        ``percent_below_<t>_<units>`` columns (e.g. -950 HU on lungs: the emphysema index).
    units : str, optional
        Units of the image values for the column names; by default
        ``image.metadata.get("units")`` (e.g. ``"HU"``). Without units the columns are
        ``mean``, ``std``, ``min``, ``max``, ``p10`` ...
    shape : bool
        Compute the mesh-based shape columns (surface, sphericity, elongation, flatness,
        diameter). False skips them (NaN) for speed on very many labels.
    tolerance : float
        Grid tolerance as a fraction of a voxel (see :func:`check_same_grid`).
    progress : callable, optional
        Called with the fraction done after each label.
    cancel : callable, optional
        Checked before each label; raises
        :class:`~napari_medimg.progress.OperationCancelled`.

    Returns
    -------
    dict of str to numpy.ndarray
        One row per label present, sorted by label; see the module docstring for the
        columns and their definitions. Empty labels give an empty table (all columns,
        length 0).

    Raises
    ------
    ValueError
        Negative / fractional labels, a multi-channel or time-series input, image and
        labels on different grids, or NaN / infinite image values inside a label.

    Examples
    --------
    >>> import numpy as np
    >>> from napari_medimg.volume import Volume
    >>> lab = np.zeros((4, 5, 6), np.uint8); lab[1:3, 1:4, 2:5] = 7
    >>> table = measure_labels(Volume.from_array(lab, spacing=(2.0, 1.0, 1.0)))
    >>> int(table["label"][0]), float(table["volume_mm3"][0]), float(table["centroid_z_mm"][0])
    (7, 36.0, 3.0)
    """
    array = _label_array(labels)
    ndim = labels.spatial_ndim
    spacing = labels.spacing
    percentiles = [float(q) for q in percentiles]
    below = [float(t) for t in ([below] if isinstance(below, (int, float)) else below)]
    if any(not 0 <= q <= 100 for q in percentiles):
        raise ValueError(f"percentiles must lie between 0 and 100, got {percentiles}")
    grey = _image_array(image, labels, tolerance) if image is not None else None
    if units is None and image is not None:
        units = image.metadata.get("units")
    geometry_cols = _geometry_columns(ndim)
    if below and grey is None:
        raise ValueError("percentages below a value need an image: choose the image the labels were drawn on")
    intensity_cols = _intensity_columns(_unit_suffix(units), percentiles, below) if grey is not None else []

    present, boxes, searched = _objects(array)
    n = len(present)
    table: Table = {name: np.full(n, np.nan) for name in geometry_cols + intensity_cols}
    table["label"] = present.astype(np.int64)
    count_col = "voxel_count" if ndim == 3 else "pixel_count"
    table[count_col] = np.zeros(n, dtype=np.int64)
    shape_cols = _SHAPE_COLUMNS[ndim]
    voxel = float(np.prod(spacing))
    axes = _AXES[ndim]
    corners = np.array(np.meshgrid(*([0, 1],) * ndim, indexing="ij")).reshape(ndim, -1).T

    for row, (value, box) in enumerate(zip(present, boxes)):
        check_cancel(cancel)
        crop = searched[box]
        key = crop.dtype.type(value if searched is array else row + 1)
        mask = crop == key
        index = np.nonzero(mask)
        count = index[0].size
        table[count_col][row] = count
        start = np.array([s.start for s in box], dtype=np.float64)
        centroid = start + np.array([i.mean() for i in index])
        world_centroid = labels.index_to_world(centroid)
        stop = np.array([s.stop - 1 for s in box], dtype=np.float64)
        world_corners = labels.index_to_world(start + corners * (stop - start))
        low, high = world_corners.min(axis=0), world_corners.max(axis=0)
        for k, a in enumerate(axes):
            table[f"centroid_{a}_mm"][row] = world_centroid[k]
            table[f"bbox_min_{a}_mm"][row] = low[k]
            table[f"bbox_max_{a}_mm"][row] = high[k]
        if shape:
            for name, v in zip(shape_cols, _shape_values(mask, spacing)):
                table[name][row] = v
        if grey is not None:
            values = grey[box][mask]  # the label's values only, in the image dtype
            if values.dtype.kind == "f" and not np.all(np.isfinite(values)):
                bad = int(np.count_nonzero(~np.isfinite(values)))
                raise ValueError(
                    f"the image holds {bad} NaN or infinite value(s) inside label {int(value)}; "
                    "replace them (e.g. with the background value) before measuring"
                )
            mean, std = _mean_std(values)
            stats = [mean, std, float(values.min()), float(values.max())]
            if percentiles:
                stats += [float(p) for p in np.percentile(values, percentiles)]
            stats += [100.0 * np.count_nonzero(values < t) / values.size for t in below]
            for name, v in zip(intensity_cols, stats):
                table[name][row] = v
        report(progress, (row + 1) / n)

    size = table[count_col] * voxel
    if ndim == 3:
        table["volume_mm3"] = size
        table["volume_ml"] = size / 1000.0
    else:
        table["area_mm2"] = size
    report(progress, 1.0)
    return {name: table[name] for name in geometry_cols + intensity_cols}

MEASURE_OPTIONS = ("percentiles", "below", "units", "shape", "tolerance", "radiomics", "radiomics_settings")
"""Keyword options of :func:`measure_objects` (what a workflow's ``measure`` step accepts)."""


def measure_objects(
    labels: Volume,
    image: Volume | None = None,
    *,
    radiomics: bool = False,
    radiomics_settings: str | os.PathLike | dict | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelCheck | None = None,
    **options: Any,
) -> Table:
    """:func:`measure_labels`, plus pyradiomics-named radiomics features of every label when asked.

    The one table the Measure dock shows and a workflow's ``measure`` step writes.

    Parameters
    ----------
    labels, image : Volume
        As for :func:`measure_labels`; radiomics needs the image.
    radiomics : bool
        Add ``original_<class>_<Feature>`` columns (:func:`napari_medimg.analysis.radiomics.extract`).
    radiomics_settings : path or dict, optional
        A pyradiomics parameter file (YAML / JSON) or settings; its classes and settings apply to
        every label.
    progress, cancel : callable, optional
        Fraction done; a check that raises to stop.
    **options
        ``percentiles``, ``below``, ``units``, ``shape``, ``tolerance`` of :func:`measure_labels`.

    Returns
    -------
    dict of str to ndarray
        One row per label.
    """
    unknown = sorted(set(options) - set(MEASURE_OPTIONS))
    if unknown:
        raise ValueError(f"measuring takes no option {unknown}; it takes {list(MEASURE_OPTIONS)}")
    if radiomics and image is None:
        raise ValueError("radiomics features need an image: choose the image the labels were drawn on")
    table = measure_labels(labels, image, progress=None if radiomics else progress, cancel=cancel, **options)
    if not radiomics or not len(table["label"]):
        return table
    from .radiomics import extract, load_settings

    settings = load_settings(radiomics_settings if radiomics_settings not in (None, "") else {})
    rows = []
    for i, value in enumerate(table["label"]):
        settings["label"] = int(value)  # the file's classes and settings still apply
        rows.append(extract(image, labels, settings, cancel=cancel))
        report(progress, (i + 1) / len(table["label"]))
    for key in rows[0]:
        table[key] = np.asarray([row.get(key, np.nan) for row in rows], dtype=np.float64)
    return table


def per_slice_area(labels: Volume, *, axis: int = 0) -> Table:
    """Area in mm² of each label on each slice along ``axis`` of a 3D label image.

    Parameters
    ----------
    labels : Volume
        3D label image.
    axis : int
        Array axis across which slices are cut (0 = z, the usual axial slices).

    Returns
    -------
    dict of str to numpy.ndarray
        One row per (label, slice) where the label has at least one voxel, sorted by label
        then slice: ``label``, ``slice`` (index along ``axis``), ``slice_position_mm``
        (signed position of the slice centre along the axis direction,
        ``origin · direction[:, axis] + slice * spacing[axis]``), ``pixel_count`` and
        ``area_mm2`` (pixel count x the in-slice pixel area).

    Examples
    --------
    >>> import numpy as np
    >>> from napari_medimg.volume import Volume
    >>> lab = np.zeros((3, 4, 4), np.uint8); lab[1, :2, :3] = 1
    >>> per_slice_area(Volume.from_array(lab, spacing=(5.0, 0.5, 0.5)))["area_mm2"].tolist()
    [1.5]
    """
    array = _label_array(labels)
    if labels.spatial_ndim != 3:
        raise ValueError(
            "per_slice_area needs a 3D label image; a 2D one is a single slice (use measure_labels)"
        )
    if not -3 <= axis < 3:
        raise ValueError(f"axis must be 0, 1 or 2 (numpy order z, y, x), got {axis}")
    axis %= 3
    others = tuple(k for k in range(3) if k != axis)
    pixel_area = float(np.prod([labels.spacing[k] for k in others]))
    base = float(np.dot(np.asarray(labels.origin), labels.direction[:, axis]))
    present, boxes, searched = _objects(array)
    rows: dict[str, list] = {"label": [], "slice": [], "pixel_count": []}
    for row, (value, box) in enumerate(zip(present, boxes)):
        key = searched.dtype.type(value if searched is array else row + 1)
        counts = np.count_nonzero(searched[box] == key, axis=others)
        nonzero = np.flatnonzero(counts)
        rows["label"].extend([int(value)] * len(nonzero))
        rows["slice"].extend((nonzero + box[axis].start).tolist())
        rows["pixel_count"].extend(counts[nonzero].tolist())
    slices = np.asarray(rows["slice"], dtype=np.int64)
    count = np.asarray(rows["pixel_count"], dtype=np.int64)
    return {
        "label": np.asarray(rows["label"], dtype=np.int64),
        "slice": slices,
        "slice_position_mm": base + slices * labels.spacing[axis],
        "pixel_count": count,
        "area_mm2": count * pixel_area,
    }


# ------------------------------------------------------------------------- outputs
def to_layer_features(table: Table) -> dict[str, np.ndarray]:
    """napari ``Labels.features`` for a measurement table.

    napari maps label values to rows through an ``index`` column (``Labels`` builds
    ``{index value: row}``), and its documentation has the first row for the background.
    So the ``label`` column becomes ``index`` and a background row (index 0) comes first,
    with NaN in float columns, 0 in integer columns and "" in text columns.

    Parameters
    ----------
    table : dict of str to numpy.ndarray
        A table with a ``label`` column (from :func:`measure_labels`).

    Returns
    -------
    dict of str to numpy.ndarray
        ``index`` first, then the other columns; one row more than the table.
    """
    if "label" not in table:
        raise ValueError("the table needs a 'label' column to link rows to label values")
    labels = np.asarray(table["label"])
    if np.any(labels == 0):
        raise ValueError("the table already has a row for label 0 (background); leave it out")
    out: dict[str, np.ndarray] = {"index": np.concatenate([[0], labels.astype(np.int64)])}
    for name, column in table.items():
        if name == "label":
            continue
        column = np.asarray(column)
        if column.dtype.kind == "f":
            background: Any = np.nan
        elif column.dtype.kind in "iub":
            background = 0
        else:
            background = ""
        out[name] = np.concatenate([np.asarray([background], dtype=column.dtype), column])
    return out
