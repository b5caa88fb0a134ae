"""Offline IOD validation of DICOM files with dicom-validator, for tests.

dicom-validator normally downloads the DICOM standard (docbook XML) and caches JSON extracted from
it. Here the cached JSON for edition 2024e is bundled in ``tests/data/dicom_standard_2024e/``
(gzipped; see the README there) and the validator objects are built directly from it, so nothing
touches the network or ``~/dicom-validator``.

    from dicom_validation import validate_offline
    assert validate_offline(path) == []
"""

from __future__ import annotations

import functools
import gzip
import json
import os
from pathlib import Path

import pydicom
from dicom_validator.tag_tools import tag_name_from_id
from dicom_validator.validator.dicom_info import DicomInfo
from dicom_validator.validator.error_handler import (
    NullValidationResultHandler,
    ValidationResultFormatter,
)
from dicom_validator.validator.iod_validator import IODValidator
from dicom_validator.validator.validation_result import Status, ValidationResult
from pydicom.errors import InvalidDicomError

STANDARD_DIR = Path(__file__).resolve().parent / "data" / "dicom_standard_2024e"


def _load(name: str) -> dict:
    with gzip.open(STANDARD_DIR / f"{name}.json.gz", "rt", encoding="utf-8") as f:
        return json.load(f)


# The bundled JSON was made by dicom-validator 0.6.4, which missed the functional group macro table
# of a few IODs (fixed in 0.7.2), the Segmentation IOD's among them: without it every functional
# group in a SEG is reported as unexpected. Restored here from PS3.3 2024e Table A.51-2 (and the
# Segmentation Macro, Table C.8.20-3, which was lost with it). Conditions that name no attribute
# (the patient-relative or slide coordinate system, "derived from") are left user-defined, as
# dicom-validator itself does with conditions it cannot parse.
_SEG_IODS = ("1.2.840.10008.5.1.4.1.1.66.4", "1.2.840.10008.5.1.4.1.1.66.7")  # Segmentation, Label Map
_SEG_MACRO_REF = "C.8.20.3.1"
_SEG_MACRO = {
    "(0062,000A)": {
        "name": "Segment Identification Sequence",
        "type": "1",
        "items": {"(0062,000B)": {"name": "Referenced Segment Number", "type": "1"}},
    }
}
_USER = {"type": "U"}
_SEG_GROUP_MACROS = {
    "Pixel Measures": {"ref": "C.7.6.16.2.1", "use": "C", "cond": _USER},
    "Plane Position (Patient)": {"ref": "C.7.6.16.2.3", "use": "C", "cond": _USER},
    "Plane Orientation (Patient)": {"ref": "C.7.6.16.2.4", "use": "C", "cond": _USER},
    "Plane Position (Slide)": {"ref": "C.8.12.6.1", "use": "C", "cond": _USER},
    "Derivation Image": {"ref": "C.7.6.16.2.6", "use": "C", "cond": _USER},
    # "Required if not empty. Shall not be used as a Shared Functional Group."
    "Frame Content": {"ref": "C.7.6.16.2.2", "use": "C", "cond": {"type": "UF"}},
    # "Required if Dimension Organization Type (0020,9311) is not TILED_FULL"; a label map
    # (Segmentation Type LABELMAP, Sup 243) identifies segments by pixel value and has none
    "Segmentation": {
        "ref": _SEG_MACRO_REF,
        "use": "C",
        "cond": {
            "type": "MU",
            "and": [
                {"op": "!=", "tag": "(0062,0001)", "index": 0, "values": ["LABELMAP"]},
                {
                    "or": [
                        {"op": "-", "tag": "(0020,9311)", "index": 0},
                        {"op": "!=", "tag": "(0020,9311)", "index": 0, "values": ["TILED_FULL"]},
                    ]
                },
            ],
        },
    },
}


def _restore_segmentation_macros(iods: dict, modules: dict) -> None:
    modules.setdefault(_SEG_MACRO_REF, _SEG_MACRO)
    for uid in _SEG_IODS:
        if uid in iods and not iods[uid]["group_macros"]:
            iods[uid]["group_macros"] = _SEG_GROUP_MACROS


@functools.cache
def dicom_info() -> DicomInfo:
    """The bundled DICOM 2024e dictionary, IOD and module descriptions (loaded once)."""
    iods, modules = _load("iod_info"), _load("module_info")
    _restore_segmentation_macros(iods, modules)
    return DicomInfo(_load("dict_info"), iods, modules)


def messages(result: ValidationResult, info: DicomInfo) -> list[str]:
    """One line per error: ``'<module>: [<sequence> / ...] Tag (gggg,eeee) Name <problem>'``."""
    formatter = ValidationResultFormatter(info.dictionary)
    if result.status not in (Status.Passed, Status.Failed):
        return [formatter.failed_validation_message(result)]
    out = []
    for module, tag_errors in result.module_errors.items():
        for tag, error in sorted(tag_errors.items(), key=lambda item: item[0]):
            parents = "".join(f"{tag_name_from_id(p, info.dictionary)} / " for p in tag.parents or [])
            problem = " ".join(formatter.error_message(error).split())  # conditions span lines
            out.append(f"{module}: {parents}Tag {tag_name_from_id(tag.tag, info.dictionary)} {problem}")
    return out


def validate_offline(path: str | os.PathLike, *, vr_checks: bool = True) -> list[str]:
    """The errors dicom-validator reports for one DICOM file (an empty list: valid).

    ``vr_checks=False`` skips the check of each value against its VR (the CLI's ``-svr``).
    """
    info = dicom_info()
    # dicom-validator's own reader sets pydicom's global reading_validation_mode to IGNORE and
    # leaves it so (values are decoded lazily, during validation, and checked against their VR
    # by the validator itself); here the setting is restored afterwards, for the other tests.
    settings = pydicom.config.settings
    saved = settings.reading_validation_mode
    settings.reading_validation_mode = pydicom.config.IGNORE
    try:
        try:
            dataset = pydicom.dcmread(path, defer_size=1024)
        except InvalidDicomError:  # what dicom-validator reports without --force-read
            return [f"Not a DICOM File: {os.fspath(path)}"]
        result = IODValidator(
            dataset,
            info,
            suppress_vr_warnings=not vr_checks,
            error_handler=NullValidationResultHandler(),
            file_path=os.fspath(path),
        ).validate()
    finally:
        settings.reading_validation_mode = saved
    return messages(result, info)
