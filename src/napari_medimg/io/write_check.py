"""Checks around writing: can the format hold the geometry, and is the written file whole?

:func:`check_geometry_fits` runs before writing: NIfTI stores spacing and origin as
float32 and its orientation as a rotation, so a spacing that float32 cannot hold, an
origin that would move, or a direction that is not orthonormal would be changed
silently by the format; they are refused with a pointer to NRRD / MetaImage.

:func:`verify_written` runs on the temporary file before it replaces anything: the
header read back must give the same size, spacing, origin and direction, and the
voxel data must be complete (uncompressed sizes, gzip/zlib streams decoded to their
end). A writer that was cut short (a full disk makes ITK's NIfTI writer stop without
an error) is therefore never reported as a success.
"""

from __future__ import annotations

import re
import zlib
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from ..volume import Volume
from .errors import ImageWriteError

__all__ = ["check_geometry_fits", "verify_written"]

#: Relative change of a spacing value accepted (float32 rounds at about 6e-8).
SPACING_TOLERANCE = 1e-6
#: Movement of the origin accepted, in mm.
ORIGIN_TOLERANCE_MM = 1e-3
#: Largest entry of D^T D - I for a direction to count as orthonormal.
ORTHONORMAL_TOLERANCE = 1e-4
_CHUNK = 1 << 22
_ELSEWHERE = "write .nrrd or .mha, which keep it, or pass allow_geometry_loss=True to accept the change"


def check_geometry_fits(volume: Volume, fmt: str, path: Path) -> None:
    """Refuse geometry that ``fmt`` would store differently.

    Parameters
    ----------
    volume : Volume
        What is about to be written.
    fmt : str
        Format name from :func:`~napari_medimg.io.formats.format_of`.
    path : Path
        The destination, for messages.

    Raises
    ------
    ImageWriteError
        For a non-finite geometry (any format), or in NIfTI for a spacing or origin that
        float32 cannot hold within tolerance or a direction that is not orthonormal.
    """
    spacing = np.asarray(volume.spacing, np.float64)
    origin = np.asarray(volume.origin, np.float64)
    direction = np.asarray(volume.direction, np.float64)
    if not (np.all(np.isfinite(origin)) and np.all(np.isfinite(direction))):
        raise ImageWriteError(
            f"cannot write {path.name}: the origin {origin.tolist()} or direction holds NaN or infinite "
            "values; fix the geometry (e.g. re-read the source) before saving"
        )
    if abs(np.linalg.det(direction)) < 1e-6:
        raise ImageWriteError(
            f"cannot write {path.name}: the direction matrix {direction.tolist()} is singular "
            "(two axes point the same way); fix the geometry before saving"
        )
    if fmt != "nifti":
        return
    with np.errstate(over="ignore", under="ignore"):  # out-of-range values are the point here
        stored = spacing.astype(np.float32).astype(np.float64)
        moved = np.abs(origin.astype(np.float32).astype(np.float64) - origin)
    bad = ~np.isfinite(stored) | (stored <= 0) | (np.abs(stored - spacing) > SPACING_TOLERANCE * spacing)
    if bad.any():
        raise ImageWriteError(
            f"NIfTI cannot hold the spacing {spacing.tolist()} mm of {path.name}: it stores float32, "
            f"which would make it {stored.tolist()}; {_ELSEWHERE}"
        )
    if not np.all(moved <= ORIGIN_TOLERANCE_MM):
        raise ImageWriteError(
            f"NIfTI cannot hold the origin {origin.tolist()} mm of {path.name} within "
            f"{ORIGIN_TOLERANCE_MM} mm (it stores float32); {_ELSEWHERE}"
        )
    error = np.abs(direction.T @ direction - np.eye(len(direction))).max()
    if error > ORTHONORMAL_TOLERANCE:
        raise ImageWriteError(
            f"NIfTI needs an orthonormal direction (a rotation, possibly with a flip); the direction "
            f"of {path.name} is skewed or scaled (|D^T D - I| = {error:.2g}) and would be forced "
            f"orthogonal; {_ELSEWHERE}"
        )


def verify_written(path: Path, image: sitk.Image, fmt: str, *, allow_geometry_loss: bool = False) -> None:
    """Check that the file just written holds ``image`` completely.

    Parameters
    ----------
    path : Path
        The written file (a ``.mhd`` / ``.nhdr`` header finds its data file beside it).
    image : SimpleITK.Image
        What was written.
    fmt : str
        Format name.
    allow_geometry_loss : bool
        Skip the comparison of spacing, origin and direction.

    Raises
    ------
    ImageWriteError
        When the header does not read back as written or the voxel data is incomplete.
    """
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError:
        raise ImageWriteError(f"writing {path.name} failed: the file written cannot be read back") from None
    if tuple(reader.GetSize()) != tuple(image.GetSize()):
        raise ImageWriteError(
            f"writing {path.name} failed: its header says size {reader.GetSize()}, not {image.GetSize()}"
        )
    if not allow_geometry_loss:
        _compare_geometry(path, reader, image)
    expected = _payload_bytes(image)
    name = path.name.lower()
    if fmt == "nifti":
        _check_nifti(path, expected)
    elif fmt == "nrrd":
        _check_nrrd(path, expected)
    elif fmt == "metaimage":
        _check_metaimage(path, expected)
    else:  # 2D pictures are small: decode them fully
        try:
            sitk.ReadImage(str(path))
        except RuntimeError:
            raise ImageWriteError(f"writing {name} failed: the picture written cannot be decoded") from None


def _compare_geometry(path: Path, reader: sitk.ImageFileReader, image: sitk.Image) -> None:
    spacing, wanted = np.asarray(reader.GetSpacing()), np.asarray(image.GetSpacing())
    if not np.allclose(spacing, wanted, rtol=SPACING_TOLERANCE, atol=0):
        raise ImageWriteError(
            f"the format of {path.name} changed the spacing from {wanted.tolist()} to {spacing.tolist()} "
            f"(ITK order x, y, z); {_ELSEWHERE}"
        )
    origin, wanted = np.asarray(reader.GetOrigin()), np.asarray(image.GetOrigin())
    if not np.allclose(origin, wanted, rtol=0, atol=ORIGIN_TOLERANCE_MM):
        raise ImageWriteError(
            f"the format of {path.name} moved the origin from {wanted.tolist()} to {origin.tolist()} mm; {_ELSEWHERE}"
        )
    direction, wanted = np.asarray(reader.GetDirection()), np.asarray(image.GetDirection())
    if not np.allclose(direction, wanted, rtol=0, atol=ORTHONORMAL_TOLERANCE):
        raise ImageWriteError(
            f"the format of {path.name} changed the direction from {np.round(wanted, 6).tolist()} to "
            f"{np.round(direction, 6).tolist()}; {_ELSEWHERE}"
        )


def _payload_bytes(image: sitk.Image) -> int:
    itemsize = sitk.GetArrayViewFromImage(image).dtype.itemsize
    return int(image.GetNumberOfPixels()) * int(image.GetNumberOfComponentsPerPixel()) * itemsize


def _cut(path: Path, detail: str) -> ImageWriteError:
    return ImageWriteError(
        f"writing {path.name} failed: the file is incomplete ({detail}); the disk may be full. "
        "Nothing was replaced"
    )


def _inflated_length(path: Path, offset: int, wbits: int) -> int:
    """Bytes a gzip (wbits=31) or zlib (wbits=15) stream starting at ``offset`` inflates to.

    Raises when the stream is damaged or ends before its end marker.
    """
    decoder = zlib.decompressobj(wbits)
    total = 0
    try:
        with open(path, "rb") as handle:
            handle.seek(offset)
            while not decoder.eof:
                chunk = handle.read(_CHUNK)
                if not chunk:
                    break
                total += len(decoder.decompress(chunk, _CHUNK))  # bounded: zeros inflate 1000-fold
                while decoder.unconsumed_tail and not decoder.eof:
                    total += len(decoder.decompress(decoder.unconsumed_tail, _CHUNK))
            total += len(decoder.flush())
    except zlib.error as exc:
        raise _cut(path, f"the compressed stream is damaged: {exc}") from None
    if not decoder.eof:
        raise _cut(path, "the compressed stream stops before its end")
    return total


def _check_nifti(path: Path, expected: int) -> None:
    if path.name.lower().endswith(".gz"):
        with open(path, "rb") as handle:
            head = zlib.decompressobj(31).decompress(handle.read(4096), 600)
        total = _inflated_length(path, 0, 31)
    else:
        with open(path, "rb") as handle:
            head = handle.read(600)
        total = path.stat().st_size
    offset = _nifti_vox_offset(head)
    if offset is None:
        raise _cut(path, "its NIfTI header is missing or damaged")
    if total < offset + expected:
        raise _cut(path, f"{total} bytes of image data and header, {offset + expected} expected")


def _nifti_vox_offset(head: bytes) -> int | None:
    """vox_offset of a NIfTI-1 or NIfTI-2 header (either byte order), None when unreadable."""
    if len(head) < 352:
        return None
    for order in ("<", ">"):
        size = int(np.frombuffer(head[:4], f"{order}i4")[0])
        if size == 348:
            return int(np.frombuffer(head[108:112], f"{order}f4")[0])
        if size == 540 and len(head) >= 544:
            return int(np.frombuffer(head[168:176], f"{order}i8")[0])
    return None


def _header_end(path: Path, marker: bytes) -> tuple[bytes, int]:
    with open(path, "rb") as handle:
        head = handle.read(1 << 16)
    end = head.find(marker)
    if end < 0:
        raise _cut(path, "its header is incomplete")
    return head[:end], end + len(marker)


def _check_nrrd(path: Path, expected: int) -> None:
    if path.name.lower().endswith(".nhdr"):  # a detached header: the whole file
        header, offset = path.read_bytes()[: 1 << 16], 0
    else:
        header, offset = _header_end(path, b"\n\n")
    fields = dict(re.findall(rb"^([a-z ]+):\s*(.*)$", header, flags=re.MULTILINE))
    encoding = fields.get(b"encoding", b"raw").strip().decode()
    data_file = fields.get(b"data file") or fields.get(b"datafile")
    if data_file is not None:
        path, offset = path.parent / data_file.strip().decode(), 0
        if not path.is_file():
            raise _cut(path, "its data file is missing")
    if encoding in ("gzip", "gz"):
        total = _inflated_length(path, offset, 31)
    elif encoding == "raw":
        total = path.stat().st_size - offset
    else:
        return  # text encodings are not written by napari-medimg
    if total != expected:
        raise _cut(path, f"{total} bytes of voxel data, {expected} expected")


def _check_metaimage(path: Path, expected: int) -> None:
    marker = b"ElementDataFile"
    with open(path, "rb") as handle:
        head = handle.read(1 << 16)
    start = head.find(marker)
    end = head.find(b"\n", start)
    if start < 0 or end < 0:
        raise _cut(path, "its header is incomplete")
    fields = dict(re.findall(rb"^(\w+)\s*=\s*(.*?)\s*$", head[: end + 1], flags=re.MULTILINE))
    compressed = fields.get(b"CompressedData", b"False").strip().lower() == b"true"
    data_file = fields.get(marker, b"LOCAL").strip().decode()
    if data_file.upper() == "LOCAL":
        offset = end + 1
    else:
        path, offset = path.parent / data_file, 0
        if not path.is_file():
            raise _cut(path, "its data file is missing")
    if compressed:
        total = _inflated_length(path, offset, 15)
    else:
        total = path.stat().st_size - offset
    if total != expected:
        raise _cut(path, f"{total} bytes of voxel data, {expected} expected")
