"""What the user chose: the profile's options, and the keyed UID map shared by a batch."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["DeidentifyOptions", "RETAIN_DATES", "MODIFIED_DATES", "RETAIN_UIDS", "RETAIN_DEVICE",
           "RETAIN_INSTITUTION", "RETAIN_PATIENT_CHARACTERISTICS", "RETAIN_SAFE_PRIVATE",
           "CLEAN_PIXEL_DATA", "BASIC_PROFILE"]

# codes of CID 7050 (De-identification Method); names are in the shipped table
BASIC_PROFILE = "113100"
CLEAN_PIXEL_DATA = "113101"
RETAIN_DATES = "113106"
MODIFIED_DATES = "113107"
RETAIN_PATIENT_CHARACTERISTICS = "113108"
RETAIN_DEVICE = "113109"
RETAIN_UIDS = "113110"
RETAIN_SAFE_PRIVATE = "113111"
RETAIN_INSTITUTION = "113112"


@dataclass(frozen=True)
class DeidentifyOptions:
    """The basic profile plus the options of PS3.15 E.3 a research protocol may need.

    Parameters
    ----------
    retain_dates : bool
        Keep dates and times (Retain Longitudinal Temporal Information With Full Dates).
    shift_dates_days : int, optional
        Move every date by this many days instead (… With Modified Dates); times are kept.
    keep_uids : bool
        Keep the original UIDs (Retain UIDs); otherwise they are replaced consistently.
    retain_device_identity, retain_institution_identity, retain_patient_characteristics : bool
        The options of those names (serial numbers, institution, sex / age / size / weight).
    retain_safe_private : bool
        Keep the private attributes on the safe list (geometry needed to read Siemens
        mosaics, diffusion values); all other private attributes are removed.
    mask_regions : tuple of (row0, col0, row1, col1)
        Pixel rectangles (rows/columns from 0, end excluded) blanked in every frame to remove
        burned-in text (Clean Pixel Data); the pixel data is then re-written uncompressed.
    """

    retain_dates: bool = False
    shift_dates_days: int | None = None
    keep_uids: bool = False
    retain_device_identity: bool = False
    retain_institution_identity: bool = False
    retain_patient_characteristics: bool = False
    retain_safe_private: bool = True
    mask_regions: tuple[tuple[int, int, int, int], ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.retain_dates and self.shift_dates_days is not None:
            raise ValueError("choose either retain_dates or shift_dates_days, not both")
        for region in self.mask_regions:
            if len(region) != 4 or region[0] >= region[2] or region[1] >= region[3] or min(region) < 0:
                raise ValueError(
                    f"mask region {region} must be (row0, col0, row1, col1) with row0 < row1, col0 < col1, all >= 0"
                )

    @property
    def codes(self) -> frozenset[str]:
        """The option codes that change Table E.1-1's actions."""
        chosen = {
            RETAIN_DATES: self.retain_dates,
            MODIFIED_DATES: self.shift_dates_days is not None,
            RETAIN_UIDS: self.keep_uids,
            RETAIN_DEVICE: self.retain_device_identity,
            RETAIN_INSTITUTION: self.retain_institution_identity,
            RETAIN_PATIENT_CHARACTERISTICS: self.retain_patient_characteristics,
            RETAIN_SAFE_PRIVATE: self.retain_safe_private,
        }
        return frozenset(code for code, on in chosen.items() if on)
