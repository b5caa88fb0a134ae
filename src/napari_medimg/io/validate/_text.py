"""Checks of voxel data stored as text (NRRD ``ascii`` / ``hex``, MetaImage ``BinaryData = False``).

Text readers parse numbers one after another; given binary bytes some of them crash
or loop. The data must be printable characters only, and hold enough values.
"""

from __future__ import annotations

import os
import re
from typing import BinaryIO

from ._facts import refuse

__all__ = ["check_text_values"]

_CHUNK = 1 << 20
_ASCII_ALLOWED = re.compile(rb"[^0-9eE+\-.,naNAiIfFtTyY \t\r\n\f\v]")
_HEX_ALLOWED = re.compile(rb"[^0-9a-fA-F \t\r\n\f\v]")
_NUMBER = re.compile(rb"[^\s,]+")


def check_text_values(path: str | os.PathLike, fh: BinaryIO, count: int, *, hex_digits: bool = False) -> None:
    """Refuse text voxel data holding binary bytes or fewer values than declared.

    Parameters
    ----------
    path : str or PathLike
        The file, for the message.
    fh : binary file
        Positioned at the start of the data.
    count : int
        Number of values (voxels times components) the header declares.
    hex_digits : bool
        Data are hexadecimal digits, two per byte (``count`` is then in bytes).
    """
    bad = _HEX_ALLOWED if hex_digits else _ASCII_ALLOWED
    seen, carry = 0, b""
    while seen < count:
        chunk = fh.read(_CHUNK)
        if not chunk:
            break
        found = bad.search(chunk)
        if found:
            position = fh.tell() - len(chunk) + found.start()
            raise refuse(
                path,
                f"its header says the voxel data are {'hexadecimal' if hex_digits else 'ASCII'} text "
                f"but byte {position} is binary (0x{chunk[found.start()]:02x})",
                "The encoding field of the header is wrong (the data are probably 'raw' binary); "
                "fix the header or export the image again.",
            )
        if hex_digits:
            seen += sum(1 for b in chunk if b not in b" \t\r\n\f\v") // 2
            continue
        text = carry + chunk
        tokens = _NUMBER.findall(text)
        carry = tokens.pop() if tokens and not text[-1:].isspace() and text[-1:] != b"," else b""
        seen += len(tokens)
    if carry:
        seen += 1
    if seen < count:
        raise refuse(
            path,
            f"its text voxel data hold {seen} values but the header declares {count}",
            "The file was cut or its sizes are wrong; copy or export it again.",
        )
