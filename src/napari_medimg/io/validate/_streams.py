"""Integrity of compressed data: decompress in bounded chunks, never holding the result.

A cut or damaged gzip / zlib / bzip2 stream is found here, and so is one that decodes to
fewer bytes than the header promises.
"""

from __future__ import annotations

import bz2
import os
import zlib
from typing import BinaryIO

__all__ = ["StreamProblem", "decoded_length"]

_CHUNK = 1 << 20
#: zlib window bits that accept both zlib and gzip wrappers (and check their CRC / Adler).
_AUTO_WRAPPER = 32 + 15


class StreamProblem(Exception):
    """The compressed stream is damaged; ``str(exc)`` says how."""


def _decompressor(kind: str):
    if kind == "bzip2":
        return bz2.BZ2Decompressor()
    return zlib.decompressobj(_AUTO_WRAPPER)


def decoded_length(fh: BinaryIO, kind: str, *, limit: int | None = None, multi_member: bool = True) -> int:
    """Decompress a stream from the current position of ``fh`` and count its bytes.

    Parameters
    ----------
    fh : binary file
        Positioned at the start of the compressed data.
    kind : {"gzip", "zlib", "bzip2"}
        The compression (``gzip`` and ``zlib`` are told apart by their own header).
    limit : int, optional
        Stop counting once this many decoded bytes were seen (the rest is not needed).
    multi_member : bool
        Accept several concatenated gzip members (as gzip itself does).

    Returns
    -------
    int
        Decoded bytes (at least ``limit`` when the stream holds that many).

    Raises
    ------
    StreamProblem
        When the stream is corrupt (bad data or checksum) or ends before its end marker.
    """
    total = 0
    decomp = _decompressor(kind)
    data = b""
    while True:
        if not data:
            data = fh.read(_CHUNK)
        if not data:
            raise StreamProblem(
                "the compressed data end before the end of the stream: the file was cut "
                "(incomplete download, copy or write)"
            )
        try:
            for produced in _drain(decomp, data, kind):
                total += produced
                if limit is not None and total >= limit:
                    return total
        except (zlib.error, OSError, EOFError, ValueError) as exc:
            raise StreamProblem(f"the compressed data are corrupt ({exc})") from None
        data = b""
        if decomp.eof:
            rest = decomp.unused_data
            if len(rest) < 2:
                rest += fh.read(_CHUNK)
            if multi_member and kind == "gzip" and rest[:2] == b"\x1f\x8b":
                decomp, data = _decompressor(kind), rest
                continue
            return total


def _drain(decomp, data: bytes, kind: str):
    """Feed ``data`` to ``decomp`` and yield the length of each decoded piece (bounded)."""
    if kind == "bzip2":
        yield len(decomp.decompress(data, _CHUNK))
        while not decomp.eof and not decomp.needs_input:
            yield len(decomp.decompress(b"", _CHUNK))
        return
    yield len(decomp.decompress(data, _CHUNK))
    while decomp.unconsumed_tail and not decomp.eof:
        yield len(decomp.decompress(decomp.unconsumed_tail, _CHUNK))


def file_size(path: str | os.PathLike) -> int:
    """Size of a file in bytes."""
    return os.stat(path).st_size
