"""De-identification of DICOM by the PS3.15 Basic Application Level Confidentiality Profile.

Public API
----------
deidentify(source, output, options=None, *, key=None, overwrite=False) -> DeidentificationReport
    A de-identified copy of a DICOM file or folder (same layout), with a JSON report beside it.
deidentify_dataset(ds, options, uid_map) -> Counter
    The same on one pydicom Dataset in place.
DeidentifyOptions
    The profile's options (retain / shift dates, keep UIDs, device, institution, patient
    characteristics, safe private attributes, pixel regions to blank).
UidMap
    Keyed-hash UID replacement, consistent across files and runs under one key.
profile_table() -> ProfileTable
    Table E.1-1 of the standard (edition in ``.edition``), generated from the standard's data.
burned_in_risk(ds) -> str
    Whether the pixels may show text that identifies ("declared", "possible", "no").

Pixel data is copied byte for byte unless regions are blanked. Modules: ``_table`` (the
standard's table), ``_options``, ``_values`` (dummies, date shifts), ``_uids``, ``_private``
(safe list), ``_dataset`` (one dataset), ``_burned_in``, ``_folder`` (files and report).
"""

from __future__ import annotations

from ._burned_in import burned_in_risk, mask_pixel_regions
from ._dataset import deidentify_dataset, strip_identity
from ._folder import DeidentificationReport, FileRecord, deidentify, report_path_for
from ._options import DeidentifyOptions
from ._table import ProfileTable, profile_table
from ._uids import UidMap

__all__ = [
    "DeidentificationReport",
    "DeidentifyOptions",
    "FileRecord",
    "ProfileTable",
    "UidMap",
    "burned_in_risk",
    "deidentify",
    "deidentify_dataset",
    "mask_pixel_regions",
    "profile_table",
    "report_path_for",
    "strip_identity",
]
