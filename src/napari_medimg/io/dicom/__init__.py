"""Read DICOM: series discovery, geometry from the standard, and explicit edge cases.

Public API
----------
is_dicom_file(path) -> bool
    Cheap check (reads a few hundred bytes).
list_series(path) -> list[SeriesInfo]
    Series in a folder (headers only), grouped by SeriesInstanceUID, orientation and size.
read_dicom(path, *, series_uid=None, resample_tilt=False, resample_nonuniform=False, identifiers=False) -> Volume
    One series as a Volume in numpy order with safe metadata and explicit warnings.
series_key_of_file(path) -> str | None
    The opaque key of a file's series, as in ``metadata["series_key"]`` (read each
    series once when given many files; the SeriesInstanceUID itself stays out of metadata).

Modules: ``_files`` (bytes on disk, parsing), ``_series`` (discovery), ``_frames``
(one 2D frame + geometry per image, enhanced multi-frame), ``_mosaic`` (Siemens
mosaic), ``_pixels`` (decode, colour, MONOCHROME1, rescale), ``_stack`` (sorting,
4D, gaps, tilt, resampling), ``_metadata`` (safe tags), ``_reader`` (read_dicom).
"""

from __future__ import annotations

from ._files import is_dicom_file
from ..warnings_codes import NO_META_HEADER, UNREADABLE_FILES
from ._reader import read_dicom
from ._series import SeriesInfo, list_series, series_key, series_key_of_file

__all__ = [
    "is_dicom_file",
    "list_series",
    "read_dicom",
    "SeriesInfo",
    "series_key",
    "series_key_of_file",
    "NO_META_HEADER",
    "UNREADABLE_FILES",
]
