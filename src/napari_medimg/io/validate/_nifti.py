"""NIfTI-1 and NIfTI-2 headers, read with :mod:`struct` (no nibabel needed).

Checks: header size and magic, dimensions, datatype against bitpix, voxel offset,
finite pixdim / quaternion / sform / scaling, and that the voxel data are all there:
an exact byte count for ``.nii``, a complete gzip stream (CRC and length) for ``.nii.gz``.
"""

from __future__ import annotations

import gzip
import os
import struct
import zlib
from pathlib import Path

from ._facts import HeaderFacts, refuse
from ._numbers import MAX_COORDINATE, check_finite, check_sizes, invalid_spacing
from ._streams import StreamProblem, decoded_length

__all__ = ["check_nifti"]

#: NIfTI datatype code -> bits per voxel.
_DATATYPE_BITS = {
    2: 8, 4: 16, 8: 32, 16: 32, 32: 64, 64: 64, 128: 24, 256: 8, 512: 16, 768: 32,
    1024: 64, 1280: 64, 1536: 128, 1792: 128, 2048: 256, 2304: 32,
}
_AGAIN = "Copy or export the file again from its source."


def _layout(head: bytes) -> tuple[int, str] | None:
    """(version, byte order) from the first 4 bytes, or None when it is not NIfTI."""
    for order in ("<", ">"):
        size = struct.unpack(order + "i", head[:4])[0]
        if size == 348:
            return 1, order
        if size == 540:
            return 2, order
    return None


def _fields(head: bytes, version: int, order: str) -> dict:
    """The header fields the checks need."""
    if version == 1:
        u = lambda fmt, off: struct.unpack_from(order + fmt, head, off)  # noqa: E731
        return dict(
            magic=head[344:348], dim=u("8h", 40), datatype=u("h", 70)[0], bitpix=u("h", 72)[0],
            pixdim=u("8f", 76), vox_offset=u("f", 108)[0], scl=u("2f", 112),
            qform_code=u("h", 252)[0], sform_code=u("h", 254)[0], quatern=u("6f", 256), srow=u("12f", 280),
            min_offset=352,
        )
    u = lambda fmt, off: struct.unpack_from(order + fmt, head, off)  # noqa: E731
    return dict(
        magic=head[4:12], dim=u("8q", 16), datatype=u("h", 12)[0], bitpix=u("h", 14)[0],
        pixdim=u("8d", 104), vox_offset=u("q", 168)[0], scl=u("2d", 176),
        qform_code=u("i", 344)[0], sform_code=u("i", 348)[0], quatern=u("6d", 352), srow=u("12d", 400),
        min_offset=544,
    )


def _read_head(path: Path, compressed: bool) -> bytes:
    try:
        if compressed:
            with gzip.open(path, "rb") as fh:
                return fh.read(540)
        with open(path, "rb") as fh:
            return fh.read(540)
    except (OSError, EOFError, zlib.error) as exc:
        raise refuse(path, f"its gzip stream cannot be opened ({exc})", _AGAIN) from None


def _check_magic(path: Path, f: dict, version: int) -> None:
    if version == 1 and f["magic"] not in (b"n+1\x00", b"ni1\x00"):
        raise refuse(path, f"its NIfTI-1 magic is {f['magic']!r}, not 'n+1'", "The header is corrupt. " + _AGAIN)
    if version == 2 and f["magic"][:3] not in (b"n+2", b"ni2"):
        raise refuse(path, f"its NIfTI-2 magic is {f['magic']!r}, not 'n+2'", "The header is corrupt. " + _AGAIN)


def _check_dims(path: Path, f: dict) -> tuple[int, ...]:
    ndim = f["dim"][0]
    if not 1 <= ndim <= 7:
        raise refuse(path, f"dim[0] (the number of axes) is {ndim}; NIfTI allows 1 to 7", "The header is corrupt. " + _AGAIN)
    shape = tuple(int(v) for v in f["dim"][1 : ndim + 1])
    check_sizes(path, shape, "dim")
    return shape


def _check_datatype(path: Path, f: dict) -> int:
    bits = _DATATYPE_BITS.get(f["datatype"])
    if bits is None:
        raise refuse(path, f"its datatype code {f['datatype']} is not a NIfTI data type", "The header is corrupt. " + _AGAIN)
    if f["bitpix"] != bits:
        raise refuse(
            path,
            f"its bitpix ({f['bitpix']}) does not match its datatype {f['datatype']} ({bits} bits)",
            "The header is inconsistent. " + _AGAIN,
        )
    return bits // 8


def _check_geometry(path: Path, f: dict, shape: tuple[int, ...]) -> tuple[int, ...]:
    spatial = min(len(shape), 3)
    pixdim = f["pixdim"][1 : 1 + spatial]
    check_finite(path, pixdim, "voxel size (pixdim)")
    check_finite(path, f["quatern"][:3], "qform rotation (quatern_b/c/d)")
    check_finite(path, f["quatern"][3:], "qform offset (qoffset_x/y/z)", limit=MAX_COORDINATE)
    check_finite(path, f["srow"], "sform matrix (srow_x/y/z)")
    check_finite(path, [f["srow"][3], f["srow"][7], f["srow"][11]], "sform offset", limit=MAX_COORDINATE)
    check_finite(path, [f["pixdim"][0]], "qfac (pixdim[0])")
    slope, inter = f["scl"]
    for name, value in (("scl_slope", slope), ("scl_inter", inter)):
        if value in (float("inf"), float("-inf")):
            raise refuse(
                path,
                f"its intensity scaling {name} is infinite; every voxel would be infinite or NaN",
                "Fix scl_slope / scl_inter (0 or 1 and 0 mean no scaling) or export the image again.",
            )
    if f["sform_code"] > 0 and f["qform_code"] <= 0:
        columns = [[f["srow"][r * 4 + c] for r in range(3)] for c in range(spatial)]
        spacing = [sum(v * v for v in col) ** 0.5 for col in columns]
    else:
        spacing = [abs(v) if v != 0 else 0.0 for v in pixdim]
        spacing = [v if p > 0 else 0.0 for v, p in zip(spacing, pixdim)]
    return invalid_spacing(spacing)


def _check_data(path: Path, f: dict, compressed: bool, expected: int) -> None:
    raw_offset = f["vox_offset"]
    offset = int(raw_offset) if raw_offset == raw_offset and abs(raw_offset) < 1 << 50 else -1
    if offset < f["min_offset"] or offset > 1 << 40:
        raise refuse(
            path,
            f"its vox_offset ({f['vox_offset']}) is not a valid position of the voxel data "
            f"(at least {f['min_offset']})",
            "The header is corrupt. " + _AGAIN,
        )
    need = offset + expected
    if not compressed:
        have = os.stat(path).st_size
        if have < need:
            raise refuse(
                path,
                f"the file is cut: its header declares {expected} bytes of voxel data from byte "
                f"{offset}, so {need} bytes in all, but the file has {have} bytes "
                f"({100 * max(have - offset, 0) / max(expected, 1):.0f} % of the data)",
                "The download, copy or write was incomplete. " + _AGAIN,
            )
        return
    with open(path, "rb") as fh:
        try:
            have = decoded_length(fh, "gzip", limit=None)
        except StreamProblem as exc:
            raise refuse(path, f"the .nii.gz file is damaged: {exc}", _AGAIN) from None
    if have < need:
        raise refuse(
            path,
            f"the .nii.gz file holds {have} bytes once decompressed but its header declares "
            f"{expected} bytes of voxel data from byte {offset} ({need} bytes in all)",
            "The file was written incompletely or its header is wrong. " + _AGAIN,
        )


def check_nifti(path: str | os.PathLike) -> HeaderFacts:
    """Check a ``.nii`` / ``.nii.gz`` file before it is decoded.

    Parameters
    ----------
    path : str or PathLike
        The file.

    Returns
    -------
    HeaderFacts
        Shape (ITK order), voxel size, and axes whose spacing is invalid.

    Raises
    ------
    ImageReadError
        For a header that is not NIfTI, inconsistent, holds non-finite geometry, or
        promises voxel data the file does not hold.
    """
    path = Path(path)
    compressed = path.name.lower().endswith(".gz")
    head = _read_head(path, compressed)
    layout = _layout(head) if len(head) >= 4 else None
    if layout is None or len(head) < (348 if layout[0] == 1 else 540):
        raise refuse(
            path,
            "it does not start with a NIfTI-1 or NIfTI-2 header (sizeof_hdr is not 348 or 540, "
            "or the file is shorter than a header)",
            "Check that the file really is NIfTI (its extension may be wrong), or copy it again.",
        )
    version, order = layout
    fields = _fields(head, version, order)
    _check_magic(path, fields, version)
    shape = _check_dims(path, fields)
    bytes_per_voxel = _check_datatype(path, fields)
    invalid = _check_geometry(path, fields, shape)
    facts = HeaderFacts("nifti", shape, bytes_per_voxel, invalid)
    from ._budget import check_memory

    check_memory(path, facts)
    _check_data(path, fields, compressed, facts.decoded_bytes)
    return facts
