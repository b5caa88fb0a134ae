"""Replacement values by VR: dummies (action D) and date shifting (Modified Dates Option)."""

from __future__ import annotations

import datetime as _dt
from typing import Any

__all__ = ["dummy_value", "empty_value", "shift_date_value"]

_TEXT = "ANONYMIZED"
_DUMMY_BY_VR: dict[str, Any] = {
    "AE": _TEXT, "CS": _TEXT, "LO": _TEXT, "LT": _TEXT, "PN": _TEXT, "SH": _TEXT, "ST": _TEXT,
    "UC": _TEXT, "UT": _TEXT, "UR": "urn:anonymized", "AS": "000Y", "DA": "19000101",
    "DT": "19000101000000", "TM": "000000", "DS": "0", "IS": "0",
    "US": 0, "SS": 0, "UL": 0, "SL": 0, "UV": 0, "SV": 0, "FL": 0.0, "FD": 0.0, "AT": 0,
    "OB": b"\x00\x00", "OW": b"\x00\x00", "OD": b"\x00" * 8, "OF": b"\x00" * 4, "OL": b"\x00" * 4,
    "OV": b"\x00" * 8, "UN": b"\x00\x00",
}
_BINARY = {"OB", "OW", "OD", "OF", "OL", "OV", "UN"}


def dummy_value(vr: str) -> Any:
    """A non-empty value of the VR that says nothing (PS3.15 action D)."""
    return _DUMMY_BY_VR.get(vr.split(" or ")[0], _TEXT)


def empty_value(vr: str) -> Any:
    """The zero-length value of the VR (PS3.15 action Z)."""
    return b"" if vr in _BINARY else None


def _shift_one(text: str, days: int, vr: str) -> str | None:
    text = text.strip()
    if not text:
        return text
    try:
        day = _dt.datetime.strptime(text[:8], "%Y%m%d").date()
    except ValueError:
        return None
    moved = day + _dt.timedelta(days=days)
    return f"{moved:%Y%m%d}" + (text[8:] if vr == "DT" else "")


def shift_date_value(value: Any, days: int, vr: str) -> Any:
    """``value`` (DA or DT, one or many) moved by ``days``; None when a date cannot be parsed.

    Times of day are kept: a whole-day shift keeps intervals and the order of events.
    """
    values = list(value) if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue" else [value]
    shifted = [_shift_one(str(v), days, vr) for v in values]
    if any(s is None for s in shifted):
        return None
    return shifted if len(shifted) > 1 else shifted[0]
