"""Measurement reports: per-object measurements as DICOM SR (TID 1500) and as JSON with units.

:func:`write_measurement_sr` writes the rows of a :func:`~napari_medimg.analysis.measure.measure_labels`
table as a Comprehensive 3D SR following TID 1500 (Measurement Report), one volumetric ROI
group per object, each referencing its segment of a DICOM SEG (so viewers such as 3D Slicer
and OHIF show the numbers beside the segment). :func:`read_measurement_sr` gives the numbers
back. :func:`write_measurement_json` writes the same table with each column's unit, the
software version and the parameters used.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from .. import __version__
from .atomic import atomic_write
from .errors import ImageReadError, ImageWriteError

__all__ = ["write_measurement_sr", "read_measurement_sr", "write_measurement_json", "column_unit", "SR_MEASUREMENTS"]

#: table column -> (concept, UCUM unit, derivation) keyword names of pydicom's code dictionary;
#: the one place that says which columns go into the SR and how they are coded
SR_MEASUREMENTS: dict[str, tuple[str, str, str | None]] = {
    "volume_mm3": ("Volume", "CubicMillimeter", None),
    "maximum_3d_diameter_mm": ("Diameter", "Millimeter", "Maximum"),
    "area_mm2": ("Area", "SquareMillimeter", None),
    "maximum_diameter_mm": ("Diameter", "Millimeter", "Maximum"),
    "mean_HU": ("Mean", "HounsfieldUnit", None),
    "std_HU": ("StandardDeviation", "HounsfieldUnit", None),
    "mean": ("Mean", "NoUnits", None),  # MR and others: values without physical units
    "std": ("StandardDeviation", "NoUnits", None),
}
# radiomics features (pyradiomics names) -> UCUM unit; "I" stands for the image's value unit
_RADIOMICS_UNITS = {
    "shape_VoxelVolume": "mm3", "shape_MeshVolume": "mm3", "shape_SurfaceArea": "mm2",
    "shape_SurfaceVolumeRatio": "/mm", "shape_Maximum3DDiameter": "mm", "shape_Maximum2DDiameterSlice": "mm",
    "shape_Maximum2DDiameterColumn": "mm", "shape_Maximum2DDiameterRow": "mm", "shape_MajorAxisLength": "mm",
    "shape_MinorAxisLength": "mm", "shape_LeastAxisLength": "mm", "shape2D_MeshSurface": "mm2",
    "shape2D_PixelSurface": "mm2", "shape2D_Perimeter": "mm", "shape2D_PerimeterSurfaceRatio": "/mm",
    "shape2D_MaximumDiameter": "mm", "shape2D_MajorAxisLength": "mm", "shape2D_MinorAxisLength": "mm",
    **{f"firstorder_{n}": "I" for n in ("Mean", "Median", "Minimum", "Maximum", "10Percentile", "90Percentile",
                                         "Range", "InterquartileRange", "MeanAbsoluteDeviation",
                                         "RobustMeanAbsoluteDeviation", "RootMeanSquared", "StandardDeviation")},
    "firstorder_Variance": "I2", "firstorder_Energy": "I2", "firstorder_TotalEnergy": "I2.mm3",
}
_UNIT_SUFFIX = {"mm3": "mm3", "ml": "mL", "mm2": "mm2", "mm": "mm", "HU": "HU"}


def column_unit(column: str) -> str | None:
    """The unit a column name carries (``volume_mm3`` -> ``mm3``), None for counts and ratios."""
    tail = column.rsplit("_", 1)[-1] if "_" in column else ""
    return _UNIT_SUFFIX.get(tail)


def radiomics_unit(column: str, image_unit: str | None) -> str:
    """UCUM unit of a radiomics column (``original_shape_MeshVolume`` -> ``mm3``); ``1`` when none.

    Intensity features carry the image's unit (``[hnsf'U]`` for HU); texture features and
    ratios are dimensionless.
    """
    key = column.split("_", 1)[1] if column.startswith("original_") else column
    unit = _RADIOMICS_UNITS.get(key, "1")
    if "I" not in unit:
        return unit
    base = "[hnsf'U]" if image_unit == "HU" else None
    if base is None:
        return "1"
    return unit.replace("I", base)


def _radiomics_code(column: str) -> str:
    """A stable short code value (SH, 16 characters) for a radiomics feature name."""
    import hashlib

    return "R" + hashlib.sha1(column.encode()).hexdigest()[:12].upper()


def _rows(table: Mapping[str, Any]) -> list[dict[str, Any]]:
    columns = list(table)
    n = len(np.asarray(table[columns[0]])) if columns else 0
    rows = []
    for i in range(n):
        row = {}
        for column in columns:
            value = np.asarray(table[column])[i]
            if isinstance(value, np.generic):
                value = value.item()
            if isinstance(value, float) and not math.isfinite(value):
                value = None
            row[column] = value
        rows.append(row)
    return rows


def write_measurement_json(
    table: Mapping[str, Any],
    path: str | os.PathLike,
    *,
    parameters: Mapping[str, Any] | None = None,
    inputs: Mapping[str, str] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write a measurement table as JSON: rows, each column's unit, software and parameters.

    Parameters
    ----------
    table : mapping of str to array-like
        Columns of equal length (``measure_labels`` or radiomics features).
    path : path
        The ``.json`` file.
    parameters : mapping, optional
        The settings that made the numbers (percentiles, radiomics settings ...).
    inputs : mapping, optional
        Role -> file name of the inputs (names only; no identifiers).
    overwrite : bool
        Replace an existing file.
    """
    document = {
        "software": f"napari-medimg {__version__}",
        "parameters": dict(parameters or {}),
        "inputs": dict(inputs or {}),
        "units": {column: column_unit(column) for column in table},
        "rows": _rows(table),
    }
    text = json.dumps(document, indent=1, default=str)
    return atomic_write(path, lambda p: p.write_text(text), overwrite=overwrite)


def _code(scheme: str, keyword: str):
    from pydicom.sr.codedict import codes

    return getattr(getattr(codes, scheme), keyword)


def write_measurement_sr(
    table: Mapping[str, Any],
    seg_path: str | os.PathLike,
    source: str | os.PathLike,
    output: str | os.PathLike,
    *,
    identifiers: bool = False,
    overwrite: bool = False,
) -> Path:
    """Write per-object measurements as a DICOM SR (TID 1500) referencing a SEG's segments.

    Parameters
    ----------
    table : mapping of str to array-like
        A :func:`~napari_medimg.analysis.measure.measure_labels` table of the SEG's labels
        (its ``label`` column holds the label values the SEG keeps in each segment's
        TrackingID). The columns of :data:`SR_MEASUREMENTS` present become measurements
        coded in SNOMED CT and UCUM; radiomics columns (``original_<class>_<Feature>``, as
        :func:`~napari_medimg.analysis.radiomics.extract` names them) follow, coded in the
        local scheme ``99PYRADIOMICS`` (code value from a hash of the name, the name as code
        meaning) with their UCUM units.
    seg_path : path
        The DICOM SEG the objects come from (written by :func:`~napari_medimg.io.dicom_seg.write_seg`
        or any SEG whose segment numbers are the label values).
    source : path
        The folder of the DICOM series the SEG references (its images are the SR's evidence).
    output : path
        The SR ``.dcm`` file.
    identifiers : bool
        Keep the patient and study attributes copied from the SEG; by default the basic
        profile removes them (UIDs kept so the references resolve).
    overwrite : bool
        Replace an existing ``output``.

    Returns
    -------
    Path
        ``output``, written atomically after highdicom parsed it back.

    Raises
    ------
    ValueError
        A label of the table has no segment in the SEG, or the table has no measurement column.
    """
    import highdicom as hd
    import pydicom

    from .dicom_seg import segment_values

    seg = pydicom.dcmread(os.fspath(seg_path))
    numbers = {value: number for number, value in segment_values(seg).items()}
    present = [c for c in SR_MEASUREMENTS if c in table]
    radiomics = [c for c in table if c.startswith("original_")]
    image_unit = "HU" if "mean_HU" in table else None
    if not present:
        raise ValueError(f"the table has none of the measured columns {sorted(SR_MEASUREMENTS)}")
    groups = []
    for row in _rows(table):
        value = int(row["label"])
        if value not in numbers:
            raise ValueError(f"label {value} has no segment in {Path(seg_path).name}; measure the SEG's own labels")
        measurements = []
        for column in radiomics:
            if row[column] is None:
                continue
            measurements.append(
                hd.sr.Measurement(
                    name=hd.sr.CodedConcept(_radiomics_code(column), "99PYRADIOMICS", column.removeprefix("original_")[:64]),
                    value=float(row[column]),
                    unit=hd.sr.CodedConcept(radiomics_unit(column, image_unit), "UCUM", radiomics_unit(column, image_unit)),
                )
            )
        for column in present:
            if row[column] is None:
                continue
            concept, unit, derivation = SR_MEASUREMENTS[column]
            measurements.append(
                hd.sr.Measurement(
                    name=_code("SCT", concept),
                    value=float(row[column]),
                    unit=_code("UCUM", unit),
                    derivation=_code("SCT", derivation) if derivation else None,
                    method=_code("DCM", "SumOfSegmentedVoxelMethodForVolume") if concept == "Volume" else None,
                )
            )
        segment = seg.SegmentSequence[[int(s.SegmentNumber) for s in seg.SegmentSequence].index(numbers[value])]
        groups.append(
            hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations(
                tracking_identifier=hd.sr.TrackingIdentifier(uid=hd.UID(), identifier=str(segment.SegmentLabel)[:64]),
                referenced_segment=_referenced_segment(seg, numbers[value]),
                finding_type=hd.sr.CodedConcept.from_dataset(segment.SegmentedPropertyTypeCodeSequence[0]),
                measurements=measurements,
            )
        )
    observer = hd.sr.ObserverContext(
        observer_type=_code("DCM", "Device"),
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=hd.UID(), name="napari-medimg", model_name=f"napari-medimg {__version__}"
        ),
    )
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_device_context=observer),
        procedure_reported=_code("SCT", "ImagingProcedure"),
        imaging_measurements=groups,
    )
    sr = hd.sr.Comprehensive3DSR(
        evidence=[seg, *_referenced_images(seg, Path(source))],
        content=report,
        series_instance_uid=hd.UID(),
        series_number=int(seg.get("SeriesNumber") or 0) + 1,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer="napari-medimg",
        series_description="Measurements",
    )
    if not identifiers:
        from .deidentify import strip_identity

        strip_identity(sr)

    def verify(path: Path) -> None:
        try:
            read_measurement_sr(path)
        except ImageReadError as exc:
            raise ImageWriteError(f"the SR written to {Path(output).name} does not read back ({exc})") from None

    return atomic_write(output, lambda p: sr.save_as(p, enforce_file_format=True), overwrite=overwrite, verify=verify)


def _referenced_segment(seg: Any, number: int) -> Any:
    """The SR's reference to one segment: the SEG, the segment's frames and its source images.

    (highdicom's ``ReferencedSegment.from_segmentation`` expects the segment identification
    per frame, but a one-segment SEG keeps it in the shared functional groups.)
    """
    import highdicom as hd

    shared = seg.SharedFunctionalGroupsSequence[0] if "SharedFunctionalGroupsSequence" in seg else None
    frames = []
    for index, item in enumerate(seg.PerFrameFunctionalGroupsSequence, start=1):
        holder = item if "SegmentIdentificationSequence" in item else shared
        if holder is not None and int(holder.SegmentIdentificationSequence[0].ReferencedSegmentNumber) == number:
            frames.append(index)
    images = [
        hd.sr.SourceImageForSegmentation(str(i.ReferencedSOPClassUID), str(i.ReferencedSOPInstanceUID))
        for series in seg.ReferencedSeriesSequence
        for i in series.ReferencedInstanceSequence
    ]
    return hd.sr.ReferencedSegment(
        sop_class_uid=str(seg.SOPClassUID), sop_instance_uid=str(seg.SOPInstanceUID), segment_number=number,
        frame_numbers=frames or None, source_images=images,
    )


def _referenced_images(seg: Any, source: Path) -> list[Any]:
    """Headers of the images under ``source`` that the SEG references."""
    import pydicom

    from .dicom._files import collect_dicom_files

    wanted = {
        str(instance.ReferencedSOPInstanceUID)
        for series in seg.get("ReferencedSeriesSequence", [])
        for instance in series.get("ReferencedInstanceSequence", [])
    }
    found = []
    for path in collect_dicom_files(source):
        header = pydicom.dcmread(path, stop_before_pixels=True)
        if str(header.get("SOPInstanceUID", "")) in wanted:
            found.append(header)
    if len(found) < len(wanted):
        raise ValueError(
            f"{source}: {len(wanted) - len(found)} of the {len(wanted)} images the SEG references are not there; "
            "give the folder of the series the SEG was made on"
        )
    return found


def read_measurement_sr(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The objects of a TID 1500 SR: tracking identifier, referenced segment and measurements.

    Returns
    -------
    list of dict
        One per volumetric ROI group: ``name`` (tracking identifier), ``segment_number`` and
        ``seg_instance_uid`` (the SEG referenced), ``measurements`` (``"<concept>[ (<derivation>)] [<unit>]"`` -> value).

    Raises
    ------
    ImageReadError
        Not a measurement report highdicom can parse.
    """
    import highdicom as hd

    try:
        sr = hd.sr.srread(os.fspath(path))
        groups = sr.content.get_volumetric_roi_measurement_groups()
    except Exception as exc:  # noqa: BLE001 - highdicom raises many types on bad input
        raise ImageReadError(f"{path}: not a TID 1500 measurement report ({exc})") from None
    objects = []
    for group in groups:
        segment = group.referenced_segment
        numbers = list(segment.referenced_segment_numbers or []) if segment is not None else []
        measurements = {}
        for m in group.get_measurements():
            derivation = m.derivation.meaning if m.derivation is not None else None
            key = m.name.meaning + (f" ({derivation})" if derivation else "") + f" [{m.unit.value}]"
            measurements[key] = float(m.value)
        objects.append({
            "name": group.tracking_identifier,
            "segment_number": int(numbers[0]) if numbers else None,
            "seg_instance_uid": str(segment.referenced_sop_instance_uid) if segment is not None else None,
            "measurements": measurements,
        })
    return objects

