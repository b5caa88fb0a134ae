"""Finding DICOM files and parsing them safely with pydicom.

Everything that touches bytes on disk lives here: the cheap :func:`is_dicom_file`
check, the Git-LFS pointer check, the walk over a folder, and :func:`read_dataset`,
which turns any parse failure into an :class:`~napari_medimg.io.errors.ImageReadError`.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from ..errors import ImageReadError

__all__ = ["is_dicom_file", "read_dataset", "collect_dicom_files", "dataset_offset"]

#: How many bytes :func:`is_dicom_file` reads at most.
_PROBE_BYTES = 512
#: A file without a meta header may carry a few stray bytes before its first tag
#: (pydicom's ``no_meta.dcm`` test file has one); we look this far for the first tag.
_MAX_STRAY_BYTES = 3
_LFS_PREFIX = b"version https://git-lfs"
#: Values larger than this are read from disk only when used (pixel data).
_DEFER_SIZE = "4 KB"
_DICOMDIR_SOP_CLASS = "1.2.840.10008.1.3.10"


def _looks_like_first_tag(data: bytes, offset: int) -> bool:
    """True when ``data[offset:]`` starts like a group 0x0002 or 0x0008 element.

    Little-endian group ``0002`` / ``0008``, then either a two-letter upper-case VR
    (explicit VR) or a 4-byte length that fits inside a small file (implicit VR).
    """
    chunk = data[offset : offset + 8]
    if len(chunk) < 8 or chunk[:2] not in (b"\x02\x00", b"\x08\x00"):
        return False
    vr = chunk[4:6]
    if vr.isalpha() and vr.isupper():
        return True
    length = int.from_bytes(chunk[4:8], "little")
    return length < 1 << 16


def dataset_offset(path: str | os.PathLike) -> int | None:
    """Where the DICOM data of ``path`` starts, or None when it is not DICOM.

    Returns 0 for a file with the 128-byte preamble and ``DICM`` marker (pydicom
    skips the preamble itself) and the offset of the first element for a file
    without a meta header. Reads at most :data:`_PROBE_BYTES` bytes.
    """
    try:
        with open(path, "rb") as fh:
            data = fh.read(_PROBE_BYTES)
    except OSError:
        return None
    if data[128:132] == b"DICM":
        return 0
    for offset in range(_MAX_STRAY_BYTES + 1):
        if _looks_like_first_tag(data, offset):
            return offset
    return None


def is_dicom_file(path: str | os.PathLike) -> bool:
    """Cheap check whether ``path`` is a DICOM file.

    True for a file with the ``DICM`` marker at byte 128, or for a file without
    a meta header whose first bytes look like a group 0x0002 / 0x0008 element.
    Reads at most a few hundred bytes and never raises.

    Parameters
    ----------
    path : str or os.PathLike
        File to test.

    Returns
    -------
    bool
        Whether the file looks like DICOM.

    Examples
    --------
    >>> is_dicom_file("/no/such/file")
    False
    """
    path = Path(path)
    return path.is_file() and dataset_offset(path) is not None


def _is_lfs_pointer(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(len(_LFS_PREFIX)) == _LFS_PREFIX
    except OSError:
        return False


def _not_dicom_error(path: Path) -> ImageReadError:
    if _is_lfs_pointer(path):
        return ImageReadError(
            f"{path} is a Git-LFS pointer (a small text file), not the DICOM image itself. "
            "Fetch the real file with `git lfs pull` (or download it again) and retry."
        )
    if path.is_file() and path.stat().st_size == 0:
        return ImageReadError(f"{path} is an empty file; it holds no DICOM data.")
    return ImageReadError(
        f"{path} is not a DICOM file: it has no 'DICM' marker at byte 128 and does not "
        "start with a DICOM element. Check that you picked the right file; other formats "
        "(NIfTI, NRRD, MHA) have their own readers."
    )


def _ensure_transfer_syntax(ds: Dataset) -> None:
    """Give a dataset read without a meta header the transfer syntax it was parsed with."""
    meta = getattr(ds, "file_meta", None)
    if meta is not None and "TransferSyntaxUID" in meta:
        return
    implicit, little = ds.original_encoding
    if implicit is None:
        implicit, little = True, True
    if implicit:
        syntax = ImplicitVRLittleEndian
    else:
        syntax = ExplicitVRLittleEndian if little else ExplicitVRBigEndian
    if meta is None:
        ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = syntax


def _looks_parsed(ds: Dataset) -> bool:
    """A forced parse of garbage yields a handful of nonsense tags; real data has these."""
    return any(key in ds for key in ("SOPClassUID", "Modality", "SeriesInstanceUID", "PixelData"))


def read_dataset(path: str | os.PathLike, *, header_only: bool) -> Dataset:
    """Parse one DICOM file, raising :class:`ImageReadError` with advice on failure.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    header_only : bool
        Leave large values (the pixel data) on disk until they are used (fast; for
        series discovery). The returned Dataset still decodes its pixels on demand.

    Returns
    -------
    pydicom.dataset.Dataset
        The dataset, with ``file_meta.TransferSyntaxUID`` always set.
    """
    path = Path(path)
    if not path.is_file():
        raise ImageReadError(f"{path} does not exist or is not a file.")
    offset = dataset_offset(path)
    if offset is None:
        raise _not_dicom_error(path)
    try:
        if offset == 0:
            # header_only defers large values (pixel data) instead of stopping before them:
            # as fast as stop_before_pixels, and the same Dataset can decode its pixels later
            defer = _DEFER_SIZE if header_only else None
            ds = pydicom.dcmread(path, defer_size=defer, force=True)
        else:
            with open(path, "rb") as fh:
                fh.seek(offset)
                buffer = io.BytesIO(fh.read())
            ds = pydicom.dcmread(buffer, force=True)  # in memory: nothing to defer
    except Exception as exc:  # pydicom raises many types on corrupt input
        raise ImageReadError(
            f"{path} could not be parsed as DICOM ({type(exc).__name__}: {exc}). "
            "The file is probably truncated or corrupt; copy it again from its source."
        ) from exc
    if not _looks_parsed(ds):
        raise ImageReadError(
            f"{path} starts like DICOM but holds no recognisable DICOM elements; "
            "it is probably corrupt. Copy it again from its source."
        )
    _ensure_transfer_syntax(ds)
    if offset:
        ds.stray_leading_bytes = offset  # plain attribute, not a DICOM element
    return ds


def is_dicomdir(ds: Dataset) -> bool:
    """True for a DICOMDIR index file (it references images but holds none)."""
    meta = getattr(ds, "file_meta", None)
    sop = str(meta.get("MediaStorageSOPClassUID", "")) if meta is not None else ""
    return sop == _DICOMDIR_SOP_CLASS or "DirectoryRecordSequence" in ds


def _walk(folder: Path):
    """Files under ``folder``, following symbolic links once, skipping hidden folders."""
    visited: set[str] = set()
    for root, dirs, names in os.walk(folder, followlinks=True):
        real = os.path.realpath(root)
        if real in visited:
            dirs[:] = []
            continue
        visited.add(real)
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        yield from (Path(root) / name for name in names)


def collect_dicom_files(folder: str | os.PathLike, *, recursive: bool = True) -> list[Path]:
    """All DICOM files under ``folder`` (hidden files and folders skipped), sorted.

    Raises
    ------
    ImageReadError
        When the folder is missing, empty, or holds no DICOM file.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ImageReadError(f"{folder} is not a folder.")
    if recursive:
        candidates = _walk(folder)
    else:
        candidates = (p for p in folder.iterdir() if p.is_file())
    files = sorted(p for p in candidates if not p.name.startswith(".") and is_dicom_file(p))
    if not files:
        lfs = [p for p in folder.rglob("*") if p.is_file() and _is_lfs_pointer(p)]
        hint = (
            f" {len(lfs)} file(s) are Git-LFS pointers: run `git lfs pull` to fetch the images."
            if lfs
            else " Choose the folder that holds the .dcm files (or any one of them)."
        )
        raise ImageReadError(f"No DICOM files found in {folder}.{hint}")
    return files
