"""Private attributes kept by the Retain Safe Private Option: a short list, each with its reason.

A private attribute is identified by its creator string, group and element byte (PS3.5 7.8.1).
Only values that carry no identity and that readers need are listed; everything else private
is removed. Binary values kept (the CSA header) are cleaned: every value the profile removes
from the same file (station name, dates, names, UIDs ...) is overwritten there with NUL
bytes of the same length, so the header's layout stays readable. (Not the CSA Image Header Version (0029,xx09): scanners write the acquisition
date there.)
"""

from __future__ import annotations

__all__ = ["SAFE_PRIVATE"]

#: (private creator, group, element byte) -> what it holds
SAFE_PRIVATE: dict[tuple[str, int, int], str] = {
    ("SIEMENS MR HEADER", 0x0019, 0x0A): "NumberOfImagesInMosaic (unpacking mosaics)",
    ("SIEMENS MR HEADER", 0x0019, 0x0B): "SliceMeasurementDuration",
    ("SIEMENS MR HEADER", 0x0019, 0x0C): "B_value (diffusion)",
    ("SIEMENS MR HEADER", 0x0019, 0x0D): "DiffusionDirectionality",
    ("SIEMENS MR HEADER", 0x0019, 0x0E): "DiffusionGradientDirection",
    ("SIEMENS MR HEADER", 0x0019, 0x27): "B_matrix",
    ("SIEMENS CSA HEADER", 0x0029, 0x08): "CSA Image Header Type",
    ("SIEMENS CSA HEADER", 0x0029, 0x10): "CSA Image Header Info (slice normal, mosaic tiles; no names or dates)",
}
