"""DICOM Segmentation (SEG) objects: labels on a DICOM series out, and back in as labels.

:func:`write_seg` turns a labels volume lying on a DICOM series' grid into a SEG that
references the series' SOP instances (one segment per label value, with name, colour,
algorithm type and coded property; a frame only where a segment is, as dcmqi writes them),
built and checked with highdicom. :func:`read_seg` gives a SEG back as a labels
:class:`~napari_medimg.volume.Volume` with the segments' names and colours: on the source
series' whole grid when that image is given (``grid=``), else spanning the slices it holds.

Label values are renumbered 1..N in the SEG (the standard wants consecutive segment
numbers); each segment's TrackingID keeps its original value, so a round trip gives
the same voxels and values.

Privacy: the SEG copies the patient and study modules of its source so that clinical
systems file it beside the series. By default these are then de-identified by the PS3.15
basic profile with the Retain UIDs option (the SEG must reference its source's UIDs);
``identifiers=True`` keeps them as in the source, for returning results to a PACS. The
source's UIDs (which may embed dates and serials) stay in any case: they are how the SEG
points at its images. To share, anonymize the series with its SEG (and SR) in one run of
:func:`napari_medimg.io.deidentify.deidentify`: the references are remapped consistently.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from .. import __version__
from ..volume import Volume
from .atomic import atomic_write
from .errors import ImageReadError, ImageWriteError
from .label_map import LabelClass, dicom_lab_to_rgb

__all__ = ["write_seg", "read_seg", "is_seg_file", "segment_values", "SEG_SOP_CLASS"]

SEG_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.66.4"
_TYPE2_COPIED = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime",
                 "ReferringPhysicianName", "StudyID", "AccessionNumber")
_TRACKING = re.compile(r"^napari-medimg label (\d+)$")
_ABNORMAL = ("tumor", "tumour", "lesion", "nodule", "neoplasm", "edema", "oedema", "necrosis", "mass", "cyst")
# napari's default label colours are random; a fixed, distinct palette reads better in viewers
_PALETTE = [
    (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48), (145, 30, 180),
    (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 190), (0, 128, 128), (170, 110, 40),
]


def is_seg_file(path: str | os.PathLike) -> bool:
    """True when ``path`` is a DICOM Segmentation object (reads the header only)."""
    import pydicom

    try:
        ds = pydicom.dcmread(os.fspath(path), stop_before_pixels=True, specific_tags=["SOPClassUID", "Modality"])
    except Exception:  # not DICOM, unreadable: not a SEG
        return False
    return str(ds.get("SOPClassUID", "")) == SEG_SOP_CLASS


# ------------------------------------------------------------------ codes and colours
def _property_codes(name: str) -> tuple[Any, Any]:
    """(category, type) codes of a segment named ``name`` (SNOMED CT where the name is known)."""
    from pydicom.sr.codedict import codes

    words = re.findall(r"[A-Za-z]+", name)
    candidates = ["".join(w.capitalize() for w in words)] + [w.capitalize() for w in reversed(words)]
    found = None
    for candidate in candidates:
        try:
            found = getattr(codes.SCT, candidate)
            break
        except AttributeError:
            continue
    if found is None:
        return codes.SCT.Tissue, codes.SCT.Tissue
    if any(w.lower() in _ABNORMAL for w in words):
        return codes.SCT.MorphologicallyAbnormalStructure, found
    return codes.SCT.AnatomicalStructure, found


def _lab_color(rgb: tuple[float, float, float] | None, index: int):
    import highdicom as hd

    if rgb is None:
        rgb = tuple(c / 255 for c in _PALETTE[index % len(_PALETTE)])
    return hd.color.CIELabColor.from_rgb(*(float(np.clip(c, 0, 1)) * 255 for c in rgb[:3]))


# ------------------------------------------------------------------ source series <-> grid
def _source_datasets(source: Path, labels: Volume) -> list[Any]:
    """The source series' datasets in the order of the labels' slices (headers only).

    Raises
    ------
    ImageWriteError
        When no series of ``source`` has the labels' grid, or its slices do not map one to
        one onto the labels' slices.
    """
    import pydicom

    from .dicom import list_series

    if labels.spatial_ndim == 2:
        labels = Volume(labels.array[None], (1.0, *labels.spacing), (0.0, *labels.origin),
                        np.eye(3), labels.metadata)
    series = [s for s in list_series(source) if s.rows == labels.array.shape[1] and s.columns == labels.array.shape[2]]
    if not series:
        raise ImageWriteError(
            f"{source}: no DICOM series there has {labels.array.shape[1]}x{labels.array.shape[2]} pixel slices "
            "like the labels; give the folder of the series the labels were drawn on"
        )
    shape = labels.array.shape
    for info in sorted(series, key=lambda s: -s.n_files):
        headers = [pydicom.dcmread(f, stop_before_pixels=True) for f in info.files]
        ordered = _match_slices(headers, labels)
        if ordered is not None:
            for header in ordered:  # highdicom copies these type 2 attributes: some series lack them
                for keyword in _TYPE2_COPIED:
                    if keyword not in header:
                        setattr(header, keyword, "")
            return ordered
    raise ImageWriteError(
        f"{source}: the series' slices do not lie on the labels' grid ({shape[0]} slices of "
        f"{shape[1]}x{shape[2]}, spacing {labels.spacing} mm). Export labels that were drawn on this "
        "series as read (not resampled: gantry tilt and gap resampling change the grid)"
    )


def _match_slices(headers: list[Any], labels: Volume) -> list[Any] | None:
    """Headers in the labels' slice order, or None when they are not the labels' grid.

    Slices are ordered as the reader stacks them (by position along row x column), reversed
    when the labels' slice axis points the other way; then the in-plane directions and the
    first slice's position must be the labels' (within a tenth of a pixel). Gaps between
    slices and gantry tilt are allowed: each frame references its own image.
    """
    n = labels.array.shape[0]
    if len(headers) != n:
        return None
    if any("ImagePositionPatient" not in h or "ImageOrientationPatient" not in h for h in headers):
        return headers if n == 1 else None
    orientation = np.asarray([float(v) for v in headers[0].ImageOrientationPatient])
    row_cos, col_cos = orientation[:3], orientation[3:]  # LPS (x, y, z)
    normal = np.cross(row_cos, col_cos)
    positions = np.asarray([[float(v) for v in h.ImagePositionPatient] for h in headers])
    order = list(np.argsort(positions @ normal, kind="stable"))
    slice_axis = labels.direction[:, 0][::-1]  # back to (x, y, z)
    if n > 1 and float(slice_axis @ normal) < 0:
        order.reverse()
    ordered = [headers[i] for i in order]
    # in-plane axes: array axis 1 = rows (down the column direction), axis 2 = columns
    same_plane = (
        np.allclose(labels.direction[:, 1][::-1], col_cos, atol=1e-3)
        and np.allclose(labels.direction[:, 2][::-1], row_cos, atol=1e-3)
        and all(np.allclose([float(v) for v in h.ImageOrientationPatient], orientation, atol=1e-3) for h in ordered)
    )
    first = positions[order[0]][::-1]
    tolerance = 0.1 * min(labels.spacing[1:])
    if not same_plane or np.linalg.norm(first - np.asarray(labels.origin)) > tolerance:
        return None
    return ordered


# ------------------------------------------------------------------ writing
def write_seg(
    labels: Volume,
    source: str | os.PathLike,
    output: str | os.PathLike,
    *,
    classes: Mapping[int, LabelClass] | None = None,
    algorithm_type: str = "MANUAL",
    algorithm_name: str = "napari-medimg",
    series_description: str = "Segmentation",
    identifiers: bool = False,
    overwrite: bool = False,
) -> Path:
    """Write ``labels`` as a DICOM SEG referencing the DICOM series it was drawn on.

    Parameters
    ----------
    labels : Volume
        Integer labels on the source series' grid (as :func:`napari_medimg.read` gives the
        series; 0 = background): each value present becomes one BINARY segment. Or a float
        probability map in [0, 1]: one FRACTIONAL (probability, 8-bit) segment.
    source : path
        The DICOM series' folder (or a folder holding it beside other series).
    output : path
        The ``.dcm`` file to write.
    classes : mapping of int to LabelClass, optional
        Names and colours of the label values (e.g. from a class-map sidecar); others are
        named ``Label <value>`` with a palette colour.
    algorithm_type : {"MANUAL", "SEMIAUTOMATIC", "AUTOMATIC"}
        How the labels were made (SegmentAlgorithmType); the algorithm is named for the
        last two.
    algorithm_name : str
        Name of the algorithm (model, recipe) for non-manual segments.
    series_description : str
        The SEG series' description.
    identifiers : bool
        Keep the patient's name, ID, birth date, study date ... copied from the source;
        by default they are removed (PS3.15 basic profile, UIDs retained).
    overwrite : bool
        Replace an existing ``output``.

    Returns
    -------
    Path
        ``output``, written atomically and read back with highdicom before it replaces anything.

    Raises
    ------
    ValueError
        Labels that are not integers, negative, or empty.
    ImageWriteError
        The source is no series on the labels' grid, or it lacks the UIDs a SEG must reference.
    """
    import highdicom as hd

    array = np.asarray(labels.array)
    fractional = array.dtype.kind == "f"
    if fractional:  # a probability map (a model's output): one FRACTIONAL segment
        if not np.isfinite(array).all() or array.min() < 0 or array.max() > 1:
            raise ValueError("a fractional SEG holds probabilities in [0, 1]; this float image has other values or NaNs")
        values = [1] if array.max() > 0 else []
    elif array.dtype.kind not in "uib" or (array.size and array.min() < 0):
        raise ValueError("a SEG holds integer labels >= 0 (or probabilities in [0, 1]); convert the layer first")
    else:
        values = [int(v) for v in np.unique(array) if v != 0]
    if not values:
        raise ValueError("the labels are empty (all 0): draw something before exporting a SEG")
    source, output = Path(source), Path(output)
    datasets = _source_datasets(source, labels)
    for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "SOPClassUID"):
        if not str(datasets[0].get(keyword, "") or ""):
            raise ImageWriteError(
                f"{source}: the series has no {keyword}, which a SEG must reference; it was probably "
                "de-identified by removing UIDs. Re-export the series from its archive (or anonymize "
                "it with `napari-medimg anonymize`, which keeps UIDs consistent) and draw on that"
            )
    classes = dict(classes or {})
    descriptions = []
    label_map = np.zeros(array.shape if array.ndim == 3 else (1, *array.shape), dtype=np.uint16)
    flat = array if array.ndim == 3 else array[None]
    algorithm = None
    if algorithm_type.upper() != "MANUAL":
        algorithm = hd.AlgorithmIdentificationSequence(
            name=algorithm_name[:64], version=__version__, family=_family_code()
        )
    for number, value in enumerate(values, start=1):
        label_map[flat == value] = number
        known = classes.get(value)
        name = known.name if known else ("Probability" if fractional else f"Label {value}")
        category, kind = _property_codes(name)
        descriptions.append(
            hd.seg.SegmentDescription(
                segment_number=number,
                segment_label=name[:64],
                segmented_property_category=category,
                segmented_property_type=kind,
                algorithm_type=algorithm_type.upper(),
                algorithm_identification=algorithm,
                tracking_uid=hd.UID(),
                tracking_id=f"napari-medimg label {value}",
                display_color=_lab_color(known.color if known else None, number - 1),
            )
        )
    seg = hd.seg.Segmentation(
        source_images=datasets,
        pixel_array=flat.astype(np.float32) if fractional else label_map,
        segmentation_type=hd.seg.SegmentationTypeValues.FRACTIONAL if fractional else hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions,
        series_instance_uid=hd.UID(),
        series_number=int(datasets[0].get("SeriesNumber") or 0) + 1000,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer="napari-medimg",
        manufacturer_model_name="napari-medimg",
        software_versions=__version__,
        device_serial_number="0",
        series_description=series_description[:64],
        content_label="SEGMENTATION",
        content_description=series_description[:64],
        omit_empty_frames=True,  # one bit-packed frame per segment and slice it touches (as dcmqi)
    )
    if not identifiers:
        from .deidentify import strip_identity

        strip_identity(seg)

    def _write(path: Path) -> None:
        seg.save_as(path, enforce_file_format=True)

    return atomic_write(output, _write, overwrite=overwrite, verify=_verify_seg)


def _family_code():
    from pydicom.sr.codedict import codes

    return codes.cid7162.ArtificialIntelligence


def _verify_seg(path: Path) -> None:
    """highdicom must parse what was written (catches encoding problems before anything moves)."""
    import highdicom as hd

    try:
        hd.seg.segread(path)
    except Exception as exc:  # noqa: BLE001 - any parse failure means a broken file
        raise ImageWriteError(f"the SEG written to {path.name} does not read back ({exc}); nothing was replaced") from None


# ------------------------------------------------------------------ reading
def read_seg(path: str | os.PathLike, grid: Volume | None = None) -> Volume:
    """A DICOM SEG as labels on its grid, with the segments' names and colours.

    Frames are placed by their own plane positions and stacked exactly as the DICOM reader
    stacks an image series (same slice order, gaps and tilt handling), so labels exported
    from a series come back voxel for voxel on the grid :func:`napari_medimg.read` gives
    that series.

    Parameters
    ----------
    path : str or PathLike
        A DICOM Segmentation file (binary or fractional; fractional frames are thresholded
        at half their maximum).
    grid : Volume, optional
        The image the SEG was made on (as read): the labels come back on its whole grid,
        voxel for voxel. Without it they span the slices the SEG holds (SEGs omit slices
        where no segment is present), with the slices in between filled with 0 where the
        spacing allows, placed in the same world position.

    Returns
    -------
    Volume
        uint8 / uint16 labels in numpy order; values are those recorded at export
        (TrackingID), else the segment numbers. ``metadata``: ``kind`` "labels",
        ``modality`` "SEG", ``label_classes`` (value -> name, colour), ``warnings``
        (overlapping segments: the later segment wins where they overlap).

    Raises
    ------
    ImageReadError
        Not a SEG, or frames without a plane position.
    """
    import pydicom

    from .dicom._frames import Frame
    from .dicom._stack import stack_frames

    path = Path(path)
    try:
        ds = pydicom.dcmread(path)
    except Exception as exc:  # noqa: BLE001 - pydicom raises many types on bad input
        raise ImageReadError(f"{path}: cannot read it as DICOM ({exc})") from None
    if str(ds.get("SOPClassUID", "")) != SEG_SOP_CLASS or "SegmentSequence" not in ds:
        raise ImageReadError(f"{path}: not a DICOM Segmentation (SOP class {ds.get('SOPClassUID', '?')})")
    values, classes = _segments(ds)
    try:
        pixels = ds.pixel_array
    except Exception as exc:  # noqa: BLE001 - truncated or unsupported pixel data
        raise ImageReadError(f"{path}: its frames cannot be decoded ({exc}); copy the file again") from None
    pixels = pixels.reshape((-1, int(ds.Rows), int(ds.Columns)))
    threshold = 0 if str(ds.get("SegmentationType", "BINARY")) == "BINARY" else int(ds.get("MaximumFractionalValue", 1)) / 2
    shared = ds.SharedFunctionalGroupsSequence[0] if "SharedFunctionalGroupsSequence" in ds else pydicom.Dataset()
    dtype = np.uint8 if max(values.values()) < 256 else np.uint16
    slices: dict[tuple, dict[str, Any]] = {}
    overlaps = 0
    for index, item in enumerate(ds.PerFrameFunctionalGroupsSequence):
        number = int(_group(item, shared, "SegmentIdentificationSequence").ReferencedSegmentNumber)
        position = _group(item, shared, "PlanePositionSequence")
        if position is None or "ImagePositionPatient" not in position:
            raise ImageReadError(f"{path}: frame {index + 1} has no plane position, so it cannot be placed")
        where = np.asarray([float(v) for v in position.ImagePositionPatient])
        key = tuple(np.round(where, 3))
        if key not in slices:
            orientation = _group(item, shared, "PlaneOrientationSequence").ImageOrientationPatient
            spacing = _group(item, shared, "PixelMeasuresSequence").PixelSpacing
            slices[key] = {
                "position": where,
                "orientation": np.asarray([float(v) for v in orientation]).reshape(2, 3),
                "spacing": (float(spacing[0]), float(spacing[1])),
                "labels": np.zeros(pixels.shape[1:], dtype=dtype),
            }
        mask = pixels[index] > threshold
        target = slices[key]["labels"]
        overlaps += int(np.count_nonzero(mask & (target > 0)))
        target[mask] = values.get(number, number)
    warnings = []
    if overlaps:
        warnings.append(f"{overlaps} voxels belong to several segments; the later segment was kept there")
    if grid is not None:
        array = _place_on_grid(list(slices.values()), grid, path, dtype)
        spacing, origin, direction, extra = grid.spacing, grid.origin, grid.direction, {}
    else:
        frames = [Frame(s["labels"], s["position"], s["orientation"], s["spacing"]) for s in _fill_gaps(list(slices.values()), shared)]
        result = stack_frames(frames)
        warnings = list(result.warnings) + warnings
        array, spacing, origin, direction, extra = result.array, result.spacing, result.origin, result.direction, result.metadata
    metadata = {
        **extra,
        "kind": "labels",
        "modality": "SEG",
        "source_format": "dicom",
        "series_description": str(ds.get("SeriesDescription", "") or "Segmentation"),
        "label_classes": {v: {"name": c.name, "color": c.color} for v, c in classes.items()},
        "warnings": warnings,
    }
    return Volume(np.asarray(array).astype(dtype, copy=False), spacing, origin, direction, metadata)


def _place_on_grid(slices: list[dict[str, Any]], grid: Volume, path: Path, dtype: Any) -> np.ndarray:
    """The SEG's slices written into a zero volume of ``grid``'s shape, by their positions.

    Each slice must lie at one of the grid's slice positions (``metadata["slice_positions"]``
    when the series has gaps) with the grid's rows and columns. Its in-plane offset may grow
    linearly with the distance from the first slice: a gantry tilt read without resampling
    stacks sheared slices that way.
    """
    if grid.spatial_ndim != 3:
        raise ImageReadError(f"{path}: a SEG is placed on a 3D image grid")
    shape = grid.array.shape[-3:]
    positions = np.asarray(grid.metadata.get("slice_positions") or [], dtype=np.float64)
    if positions.shape != (shape[0],):
        positions = np.arange(shape[0]) * grid.spacing[0]
    tolerance = 0.05 * (float(np.diff(positions).min()) if shape[0] > 1 else grid.spacing[0])
    out = np.zeros(shape, dtype=dtype)
    distances, offsets = [], []
    for item in slices:
        position = item["position"][::-1]
        row_step = item["spacing"][0] * item["orientation"][1][::-1]
        col_step = item["spacing"][1] * item["orientation"][0][::-1]
        index = grid.world_to_index(np.stack([position, position + row_step, position + col_step]))
        distance = index[0][0] * grid.spacing[0]
        k = int(np.argmin(np.abs(positions - distance)))
        steps_ok = np.allclose(index[1:] - index[0], [[0, 1, 0], [0, 0, 1]], atol=0.01)
        if abs(positions[k] - distance) > tolerance or not steps_ok or item["labels"].shape != shape[1:]:
            raise ImageReadError(f"{path}: its frames do not lie on the given image's slices; open the SEG on its own")
        distances.append(distance)
        offsets.append(index[0][1:])
        out[k] = item["labels"]
    distances, offsets = np.asarray(distances), np.asarray(offsets)
    far = np.abs(distances) > tolerance
    rate = (offsets[far] / distances[far, None]).mean(axis=0) if far.any() else np.zeros(2)
    if not np.allclose(offsets, distances[:, None] * rate, atol=0.05):
        raise ImageReadError(f"{path}: its frames are shifted in-plane from the given image's grid; open the SEG on its own")
    return out


def _fill_gaps(slices: list[dict[str, Any]], shared: Any) -> list[dict[str, Any]]:
    """``slices`` plus empty ones where the SEG skipped slices, when the gaps are whole steps.

    The step is the SpacingBetweenSlices the SEG declares (measured along the slices' normal,
    so not for a gantry tilt), else the smallest gap; positions in
    between are interpolated (so a gantry tilt's sideways shift is kept).
    """
    if len(slices) < 2:
        return slices
    normal = np.cross(slices[0]["orientation"][0], slices[0]["orientation"][1])
    slices = sorted(slices, key=lambda s: float(s["position"] @ normal))
    along = np.array([float(s["position"] @ normal) for s in slices])
    gaps = np.diff(along)
    measures = _group(shared, shared, "PixelMeasuresSequence")
    declared = float(measures.get("SpacingBetweenSlices", 0) or 0) if measures is not None else 0.0
    steps = [t for t in (declared, float(gaps.min())) if t > 0 and np.allclose(gaps / t, np.round(gaps / t), atol=0.02)]
    if not steps:
        return slices
    step = steps[0]
    filled = []
    for a, b, gap in zip(slices[:-1], slices[1:], gaps):
        filled.append(a)
        n = int(round(gap / step))
        for j in range(1, n):
            filled.append({**a, "position": a["position"] + (b["position"] - a["position"]) * j / n,
                           "labels": np.zeros_like(a["labels"])})
    filled.append(slices[-1])
    return filled



def _group(item: Any, shared: Any, keyword: str) -> Any:
    """A functional group's first item, per frame or shared."""
    for where in (item, shared):
        if keyword in where and len(where[keyword].value):
            return where[keyword].value[0]
    return None


def segment_values(ds: Any) -> dict[int, int]:
    """Segment number -> label value of a SEG dataset (TrackingID of an export, else the number)."""
    return _segments(ds)[0]


def _segments(ds: Any) -> tuple[dict[int, int], dict[int, LabelClass]]:
    """Segment number -> label value, and the classes by value."""
    values: dict[int, int] = {}
    classes: dict[int, LabelClass] = {}
    for item in ds.SegmentSequence:
        number = int(item.SegmentNumber)
        match = _TRACKING.match(str(item.get("TrackingID", "")))
        value = int(match.group(1)) if match else number
        values[number] = value
        lab = item.get("RecommendedDisplayCIELabValue")
        classes[value] = LabelClass(
            value, str(item.get("SegmentLabel") or f"segment {number}"), dicom_lab_to_rgb(list(lab)) if lab is not None else None
        )
    return values, classes

