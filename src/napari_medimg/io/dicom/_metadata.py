"""Safe metadata: what a viewer needs, never who the patient is.

Only the tags in :data:`_SAFE_TAGS` are copied. Patient names, IDs, birth dates,
addresses, accession numbers, institutions, physicians, operators and all dates
are never read into the result. The SeriesInstanceUID (which often encodes the
acquisition date and the scanner's serial number) is replaced by an opaque
``series_key`` unless the caller asks for identifiers.
"""

from __future__ import annotations

from typing import Any

from pydicom.dataset import Dataset

from ._frames import enhanced_item, is_enhanced, number, window_presets
from ._pixels import stored_range, valid_rescale

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


def _finite(value: Any) -> bool:
    value = number(value)
    return value is not None and value == value and abs(value) < 1 << 31


def rescale_of(ds: Dataset) -> tuple[float, float]:
    """Slope and intercept of the first frame (classic tags or Pixel Value Transformation)."""
    item = enhanced_item(ds, "PixelValueTransformationSequence") if is_enhanced(ds) else None
    source = item if item is not None else ds
    slope, intercept, _valid = valid_rescale(number(source.get("RescaleSlope"), 1.0), number(source.get("RescaleIntercept"), 0.0))
    return slope, intercept


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
        if value is not None and not isinstance(value, (list, tuple)) and type(value).__name__ != "MultiValue":
            value = [value]  # a one-value spacing: not usable, but not an error either
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


def safe_metadata(ds: Dataset, *, identifiers: bool = False) -> dict[str, Any]:
    """The safe descriptive metadata of a series, from its first dataset.

    Parameters
    ----------
    ds : pydicom.dataset.Dataset
        First dataset of the series.
    identifiers : bool
        Also give ``series_uid`` (the SeriesInstanceUID).

    Returns
    -------
    dict
        ``source_format``, ``modality``, ``manufacturer``, ``manufacturer_model``,
        ``series_description``, ``body_part``, ``series_number``, ``patient_position``,
        ``image_type``, ``series_key`` (opaque), ``sop_class``, ``transfer_syntax``,
        ``photometric``, ``bits_stored``, ``pixel_representation``, ``units``,
        ``rescale`` ({slope, intercept}), ``window_presets`` and, for MONOCHROME1,
        ``inverted`` (the formula used).
    """
    meta: dict[str, Any] = {"source_format": "dicom"}
    from ._series import series_key

    for key, keyword in _SAFE_TAGS.items():
        try:
            value = ds.get(keyword)
        except Exception:  # noqa: BLE001 - a damaged optional tag is left out, not fatal
            continue
        if value is not None and value != "":
            meta[key] = _plain(value)
    syntax = ds.file_meta.TransferSyntaxUID
    uid = str(ds.get("SeriesInstanceUID", "") or "")
    if uid:
        meta["series_key"] = series_key(uid, ds.get("SeriesNumber"))
    if identifiers:
        meta["series_uid"] = uid
    meta["sop_class"] = str(getattr(ds.get("SOPClassUID"), "name", ds.get("SOPClassUID", "")))
    try:
        meta["transfer_syntax"] = syntax.name
    except Exception:  # noqa: BLE001 - an unknown UID has no name
        meta["transfer_syntax"] = "unknown"
    photometric = str(ds.get("PhotometricInterpretation", "")).strip()
    meta["photometric"] = photometric
    meta["bits_stored"] = int(number(ds.get("BitsStored"), 0) or 0) if _finite(ds.get("BitsStored")) else 0
    meta["pixel_representation"] = int(number(ds.get("PixelRepresentation"), 0) or 0) if _finite(ds.get("PixelRepresentation")) else 0
    slope, intercept = rescale_of(ds)
    meta["rescale"] = {"slope": slope, "intercept": intercept}
    meta["units"] = _units(ds, slope, intercept)
    meta["window_presets"] = presets_of(ds)
    thickness = number(ds.get("SliceThickness"))
    if thickness and _finite(thickness) and thickness > 0:
        meta["slice_thickness"] = thickness
    if photometric == "MONOCHROME1":
        low, high = stored_range(ds)
        meta["inverted"] = (
            f"MONOCHROME1 inverted to bright=high: value = {high} + {low} - stored "
            "(max + min representable with BitsStored), then rescaled"
        )
    return meta
