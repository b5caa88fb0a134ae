"""Safe metadata: what a viewer needs, never who the patient is.

Only the tags in :data:`_SAFE_TAGS` are copied. Patient names, IDs, birth dates,
addresses, accession numbers, institutions, physicians, operators and all dates
are never read into the result.
"""

from __future__ import annotations

from typing import Any

from pydicom.dataset import Dataset

from ._frames import enhanced_item, is_enhanced, number, window_presets
from ._pixels import stored_range

__all__ = ["safe_metadata", "presets_of", "rescale_of", "plane_spacing"]

#: metadata key -> DICOM keyword; nothing identifying.
_SAFE_TAGS = {
    "modality": "Modality",
    "manufacturer": "Manufacturer",
    "manufacturer_model": "ManufacturerModelName",
    "series_description": "SeriesDescription",
    "body_part": "BodyPartExamined",
    "series_number": "SeriesNumber",
    "patient_position": "PatientPosition",
    "image_type": "ImageType",
}


def _plain(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return [_plain(v) for v in value]
    num = number(value) if not isinstance(value, str) else None
    if type(value).__name__ in ("IS", "DSfloat", "DSdecimal", "int", "float"):
        return num
    return str(value)


def rescale_of(ds: Dataset) -> tuple[float, float]:
    """Slope and intercept of the first frame (classic tags or Pixel Value Transformation)."""
    item = enhanced_item(ds, "PixelValueTransformationSequence") if is_enhanced(ds) else None
    source = item if item is not None else ds
    return number(source.get("RescaleSlope"), 1.0), number(source.get("RescaleIntercept"), 0.0)


def presets_of(ds: Dataset) -> list[dict[str, Any]]:
    """Window presets, inverted to match the pixel values for MONOCHROME1.

    The pixels of a MONOCHROME1 image are inverted (``high + low - stored``, see
    :mod:`._pixels`), so a window centre ``c`` (in rescaled units, slope ``m``,
    intercept ``b``) becomes ``m * (high + low) + 2 * b - c``; widths are unchanged.
    """
    item = enhanced_item(ds, "FrameVOILUTSequence") if is_enhanced(ds) else None
    presets = window_presets(item if item is not None else ds)
    if str(ds.get("PhotometricInterpretation", "")).strip() == "MONOCHROME1":
        low, high = stored_range(ds)
        slope, intercept = rescale_of(ds)
        for p in presets:
            p["center"] = slope * (high + low) + 2 * intercept - p["center"]
    return presets


def _units(ds: Dataset, slope: float, intercept: float) -> str:
    modality = str(ds.get("Modality", ""))
    if modality == "CT":
        return "HU"
    rescale_type = str(ds.get("RescaleType", "") or "")
    item = enhanced_item(ds, "PixelValueTransformationSequence") if is_enhanced(ds) else None
    if item is not None:
        rescale_type = str(item.get("RescaleType", "") or rescale_type)
    return "" if rescale_type in ("", "US") else rescale_type


def plane_spacing(ds: Dataset) -> tuple[tuple[float, float] | None, str | None]:
    """In-plane spacing (between rows, between columns) of a 2D image and its source tag.

    Tries PixelSpacing (patient plane), ImagerPixelSpacing (detector plane, not
    corrected for geometric magnification), then the first ultrasound region whose
    physical units are cm. Returns ``(None, None)`` when none gives a valid value.
    """
    for keyword, label in (
        ("PixelSpacing", "PixelSpacing"),
        ("ImagerPixelSpacing", "ImagerPixelSpacing (detector plane, not corrected for magnification)"),
    ):
        value = ds.get(keyword)
        if value is not None and len(value) == 2:
            pair = tuple(number(v, 0.0) for v in value)
            if all(v > 0 for v in pair):
                return (pair[0], pair[1]), label
    for region in ds.get("SequenceOfUltrasoundRegions") or []:
        if region.get("PhysicalUnitsXDirection") == 3 and region.get("PhysicalUnitsYDirection") == 3:
            dx, dy = number(region.get("PhysicalDeltaX"), 0.0), number(region.get("PhysicalDeltaY"), 0.0)
            if dx > 0 and dy > 0:
                return (abs(dy) * 10.0, abs(dx) * 10.0), "SequenceOfUltrasoundRegions (cm converted to mm)"
    return None, None


def safe_metadata(ds: Dataset) -> dict[str, Any]:
    """The safe descriptive metadata of a series, from its first dataset.

    Parameters
    ----------
    ds : pydicom.dataset.Dataset
        First dataset of the series.

    Returns
    -------
    dict
        ``source_format``, ``modality``, ``manufacturer``, ``manufacturer_model``,
        ``series_description``, ``body_part``, ``series_number``, ``patient_position``,
        ``image_type``, ``series_uid``, ``sop_class``, ``transfer_syntax``,
        ``photometric``, ``bits_stored``, ``pixel_representation``, ``units``,
        ``rescale`` ({slope, intercept}), ``window_presets`` and, for MONOCHROME1,
        ``inverted`` (the formula used).
    """
    meta: dict[str, Any] = {"source_format": "dicom"}
    for key, keyword in _SAFE_TAGS.items():
        value = ds.get(keyword)
        if value is not None and value != "":
            meta[key] = _plain(value)
    syntax = ds.file_meta.TransferSyntaxUID
    meta["series_uid"] = str(ds.get("SeriesInstanceUID", ""))
    meta["sop_class"] = str(getattr(ds.get("SOPClassUID"), "name", ds.get("SOPClassUID", "")))
    meta["transfer_syntax"] = syntax.name
    photometric = str(ds.get("PhotometricInterpretation", "")).strip()
    meta["photometric"] = photometric
    meta["bits_stored"] = int(ds.get("BitsStored", 0) or 0)
    meta["pixel_representation"] = int(ds.get("PixelRepresentation", 0) or 0)
    slope, intercept = rescale_of(ds)
    meta["rescale"] = {"slope": slope, "intercept": intercept}
    meta["units"] = _units(ds, slope, intercept)
    meta["window_presets"] = presets_of(ds)
    thickness = number(ds.get("SliceThickness"))
    if thickness:
        meta["slice_thickness"] = thickness
    if photometric == "MONOCHROME1":
        low, high = stored_range(ds)
        meta["inverted"] = (
            f"MONOCHROME1 inverted to bright=high: value = {high} + {low} - stored "
            "(max + min representable with BitsStored), then rescaled"
        )
    return meta
