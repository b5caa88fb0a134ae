"""Apply the profile to one pydicom Dataset in place, nested sequences and file meta included."""

from __future__ import annotations

from collections import Counter
from typing import Callable

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from ... import __version__
from ._options import (
    BASIC_PROFILE,
    CLEAN_PIXEL_DATA,
    MODIFIED_DATES,
    RETAIN_DATES,
    RETAIN_SAFE_PRIVATE,
    DeidentifyOptions,
)
from ._private import SAFE_PRIVATE
from ._table import ProfileTable, profile_table
from ._values import dummy_value, empty_value, shift_date_value

__all__ = ["deidentify_dataset", "strip_identity"]

# file meta attributes that name the sending / receiving systems (not in Table E.1-1)
_META_DROP = (0x00020016, 0x00020017, 0x00020018, 0x00020026, 0x00020027, 0x00020028, 0x00020100, 0x00020102)


class _Pass:
    """One file's walk: the options, the table, the UID map and what was changed."""

    def __init__(self, options: DeidentifyOptions, uid_map: Callable[[str], str], table: ProfileTable):
        self.options = options
        self.codes = options.codes
        self.uid_map = uid_map
        self.table = table
        self.changes: Counter[str] = Counter()
        self.secrets: list[bytes] = []

    def collect_secrets(self, ds: Dataset) -> None:
        """The values this pass removes or replaces, to be scrubbed from kept binary private data."""
        found: set[bytes] = set()
        stack = [ds]
        while stack:
            for elem in stack.pop():
                if elem.VR == "SQ":
                    stack.extend(elem.value or [])
                    continue
                rule = None if elem.tag.is_private else self.table.rule(elem.tag)
                if rule is None or rule.action(self.codes) == "K" or isinstance(elem.value, bytes):
                    continue
                values = elem.value if elem.VM > 1 else [elem.value]
                for value in values:
                    text = str(value).strip() if value is not None else ""
                    if len(text) >= 4:
                        found.add(text.encode("latin-1", "replace"))
        self.secrets = sorted(found, key=len, reverse=True)

    def _scrub(self, elem: DataElement) -> None:
        """Overwrite identifying values inside a kept binary private value with NULs (same length)."""
        value = elem.value
        if not isinstance(value, bytes):
            return
        cleaned = value
        for secret in self.secrets:
            cleaned = cleaned.replace(secret, b"\x00" * len(secret))
        if cleaned != value:
            elem.value = cleaned
            self.changes["private values cleaned"] += 1

    # ------------------------------------------------------------------ datasets
    def clean(self, ds: Dataset) -> None:
        kept_private = self._kept_private(ds)
        for elem in list(ds):
            tag = elem.tag
            if tag.element == 0 and tag.group != 0x0002:  # group lengths: stale after any change
                del ds[tag]
                continue
            if tag.is_private:
                if int(tag) not in kept_private:
                    del ds[tag]
                    self.changes["private removed"] += 1
                else:
                    self._scrub(elem)
                continue
            rule = self.table.rule(tag)
            if rule is None:
                if elem.VR == "SQ":
                    self._items(elem)
                continue
            self._apply(ds, elem, rule.action(self.codes))

    def _kept_private(self, ds: Dataset) -> set[int]:
        """Tags of the safe private attributes in ``ds`` and the creators of their blocks."""
        if RETAIN_SAFE_PRIVATE not in self.codes:
            return set()
        kept: set[int] = set()
        for elem in ds:
            tag = elem.tag
            if not tag.is_private or tag.element < 0x1000 or elem.VR == "SQ":
                continue
            creator_tag = (tag.group << 16) | (tag.element >> 8)
            creator = ds.get(creator_tag)
            name = str(creator.value).strip() if creator is not None else ""
            if (name, tag.group, tag.element & 0xFF) in SAFE_PRIVATE:
                kept.update((int(tag), creator_tag))
        return kept

    def _items(self, elem: DataElement) -> None:
        for item in elem.value or ():
            self.clean(item)

    # ------------------------------------------------------------------ one attribute
    def _apply(self, ds: Dataset, elem: DataElement, action: str) -> None:
        tag, vr = elem.tag, elem.VR
        if action == "K":
            if vr == "SQ":
                self._items(elem)
            return
        if action == "C" and vr in ("DA", "DT", "TM") and MODIFIED_DATES in self.codes:
            if vr == "TM" or elem.value in (None, ""):
                return  # whole-day shifts keep the time of day
            shifted = shift_date_value(elem.value, int(self.options.shift_dates_days or 0), vr)
            if shifted is None:  # not a date: say nothing rather than keep it
                elem.value = empty_value(vr)
                self.changes["emptied"] += 1
            else:
                elem.value = shifted
                self.changes["dates shifted"] += 1
            return
        if action == "C":  # a cleaning this tool does not do: fall back to the basic action
            action = self.table.rule(tag).action(frozenset())
        if vr == "SQ":
            if action == "X":
                del ds[tag]
                self.changes["removed"] += 1
            elif action == "Z":
                elem.value = Sequence()
                self.changes["emptied"] += 1
            else:  # D / U on a sequence: keep its items, cleaned by the same rules
                self._items(elem)
            return
        if action == "X":
            del ds[tag]
            self.changes["removed"] += 1
        elif action == "Z":
            if elem.value not in (None, "", b""):
                elem.value = empty_value(vr)
                self.changes["emptied"] += 1
        elif action == "U" or (action == "D" and vr == "UI"):
            if elem.value not in (None, ""):
                values = elem.value if elem.VM > 1 else [elem.value]
                mapped = [self.uid_map(str(v)) for v in values]
                elem.value = mapped if elem.VM > 1 else mapped[0]
                self.changes["UIDs replaced"] += 1
        elif action == "D":
            elem.value = dummy_value(vr)
            self.changes["replaced by dummy"] += 1
        else:
            raise ValueError(f"unknown de-identification action {action!r} for {tag}")

    # ------------------------------------------------------------------ file meta and marks
    def clean_meta(self, ds: Dataset) -> None:
        meta = getattr(ds, "file_meta", None)
        if meta is None:
            return
        for tag in _META_DROP:
            if tag in meta:
                del meta[tag]
                self.changes["removed"] += 1
        if "MediaStorageSOPInstanceUID" in meta and "SOPInstanceUID" in ds:
            meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID

    def mark(self, ds: Dataset, pixels_cleaned: bool) -> None:
        """PatientIdentityRemoved, the method in words and as codes (CID 7050), dates' status."""
        codes = [BASIC_PROFILE] + ([CLEAN_PIXEL_DATA] if pixels_cleaned else []) + sorted(self.codes)
        names = {BASIC_PROFILE: "Basic Application Confidentiality Profile",
                 CLEAN_PIXEL_DATA: "Clean Pixel Data Option", **self.table.option_names}
        ds.PatientIdentityRemoved = "YES"
        method = f"napari-medimg {__version__}; PS3.15 {self.table.edition} " + "; ".join(names[c] for c in codes)
        ds.DeidentificationMethod = method[:64]  # LO
        items = []
        for code in codes:
            item = Dataset()
            item.CodeValue = code
            item.CodingSchemeDesignator = "DCM"
            item.CodeMeaning = names[code][:64]
            items.append(item)
        ds.DeidentificationMethodCodeSequence = Sequence(items)
        if RETAIN_DATES in self.codes:
            ds.LongitudinalTemporalInformationModified = "UNMODIFIED"
        elif MODIFIED_DATES in self.codes:
            ds.LongitudinalTemporalInformationModified = "MODIFIED"
        else:
            ds.LongitudinalTemporalInformationModified = "REMOVED"


def deidentify_dataset(
    ds: Dataset,
    options: DeidentifyOptions,
    uid_map: Callable[[str], str],
    *,
    pixels_cleaned: bool = False,
) -> Counter[str]:
    """De-identify ``ds`` in place by PS3.15 Table E.1-1 with ``options``.

    Parameters
    ----------
    ds : pydicom.dataset.Dataset
        A whole file's dataset (its ``file_meta`` too).
    options : DeidentifyOptions
        The profile's options.
    uid_map : callable
        Old UID -> new UID, shared by every file of a study or batch (:class:`UidMap`).
    pixels_cleaned : bool
        The pixel data had burned-in text blanked (adds Clean Pixel Data to the method).

    Returns
    -------
    collections.Counter
        How many attributes were removed, emptied, replaced, shifted or remapped: the
        report's figures (never the values themselves).
    """
    walk = _Pass(options, uid_map, profile_table())
    walk.collect_secrets(ds)
    walk.clean(ds)
    walk.clean_meta(ds)
    walk.mark(ds, pixels_cleaned)
    return walk.changes


def strip_identity(ds: Dataset) -> Counter[str]:
    """De-identify an object this plugin derived from a series (SEG, SR) in place.

    The basic profile with the Retain UIDs option: patient and study attributes go, the
    source's UIDs stay (they are the object's references to its images); private attributes
    are all removed.
    """
    from ._uids import UidMap

    return deidentify_dataset(ds, DeidentifyOptions(keep_uids=True, retain_safe_private=False), UidMap())
