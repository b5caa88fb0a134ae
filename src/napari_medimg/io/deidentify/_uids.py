"""Consistent UID replacement: the same original UID gives the same new one under one key."""

from __future__ import annotations

import hashlib
import hmac
import os

__all__ = ["UidMap"]

_STANDARD_ROOT = "1.2.840.10008."  # SOP classes, transfer syntaxes, coding schemes: not identifying


class UidMap:
    """Replace UIDs by ``2.25.<integer>`` derived from a keyed hash (HMAC-SHA256).

    One key maps a UID to the same replacement in every file and every run, so studies
    de-identified in separate batches still link; without the key the original cannot
    be recovered or checked by guessing. A new random key is made when none is given
    (consistent within this run only).

    Parameters
    ----------
    key : bytes, optional
        The secret. Keep it apart from the data (``--key-file``).
    """

    def __init__(self, key: bytes | None = None) -> None:
        self._key = key if key else os.urandom(32)
        self.count = 0

    def __call__(self, uid: str) -> str:
        """The replacement of ``uid`` (standard UIDs of the DICOM root are kept)."""
        uid = str(uid).strip().rstrip("\x00")
        if not uid or uid.startswith(_STANDARD_ROOT):
            return uid
        digest = hmac.new(self._key, uid.encode("ascii", "replace"), hashlib.sha256).digest()
        self.count += 1
        # 2.25 = UUID-derived UIDs (PS3.5 B.2): at most 39 digits from 128 bits
        return f"2.25.{int.from_bytes(digest[:16], 'big')}"
