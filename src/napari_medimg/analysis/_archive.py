"""Size limits for zip archives (skops models, ``.npz`` classifiers) checked before unpacking.

A zip's central directory declares every member's uncompressed size; Python's
:mod:`zipfile` never inflates a member beyond it. Checking those declarations first
therefore bounds the memory that loading can take, whatever the file says inside.
"""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path
from typing import Callable

__all__ = ["MAX_MEMBERS", "MAX_MEMBER_BYTES", "MAX_TOTAL_BYTES", "check_archive_sizes"]

#: Members in one archive (a 500-tree forest in skops has a few thousand).
MAX_MEMBERS = 100_000
#: Uncompressed bytes of one member.
MAX_MEMBER_BYTES = 1 << 30
#: Uncompressed bytes of all members together.
MAX_TOTAL_BYTES = 2 << 30


def check_archive_sizes(
    source: bytes | str | os.PathLike, name: str, error: Callable[[str], Exception]
) -> None:
    """Refuse a zip archive with too many members or members that inflate too much.

    Parameters
    ----------
    source : bytes or path
        The archive's bytes or its path.
    name : str
        The file name for messages.
    error : callable
        Exception class (e.g. ``ModelFileError``) or factory called with the message.

    Raises
    ------
    error
        Not a zip archive, more than :data:`MAX_MEMBERS` members, a member above
        :data:`MAX_MEMBER_BYTES` or a total above :data:`MAX_TOTAL_BYTES` uncompressed.
    """
    handle = io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else Path(source)
    try:
        with zipfile.ZipFile(handle) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        raise error(f"{name} is not a readable zip archive ({exc}); it was not loaded") from None
    if len(members) > MAX_MEMBERS:
        raise error(f"{name} holds {len(members)} archive members (limit {MAX_MEMBERS}); it was not loaded")
    total = 0
    for member in members:
        if member.file_size > MAX_MEMBER_BYTES:
            raise error(
                f"{name}: archive member {member.filename!r} would unpack to {member.file_size / 2**30:.1f} GiB "
                f"(limit {MAX_MEMBER_BYTES / 2**30:.0f} GiB); it was not loaded"
            )
        total += member.file_size
    if total > MAX_TOTAL_BYTES:
        raise error(
            f"{name} would unpack to {total / 2**30:.1f} GiB (limit {MAX_TOTAL_BYTES / 2**30:.0f} GiB); it was not loaded"
        )
