"""File formats read and written through SimpleITK: NIfTI, NRRD, MetaImage and 2D pictures."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from ..volume import Volume
from .errors import ImageReadError, ImageWriteError
from .provenance import PROVENANCE_KEY
from .sitk_convert import volume_from_sitk, volume_to_sitk
from .validate import check_file, settle_geometry

__all__ = [
    "VOLUME_EXTENSIONS",
    "PICTURE_EXTENSIONS",
    "WRITE_EXTENSIONS",
    "format_of",
    "image_files",
    "check_not_placeholder",
    "read_sitk_file",
    "write_sitk_file",
]

VOLUME_EXTENSIONS = {
    ".nii.gz": "nifti",
    ".nii": "nifti",
    ".nrrd": "nrrd",
    ".nhdr": "nrrd",
    ".mha": "metaimage",
    ".mhd": "metaimage",
}
PICTURE_EXTENSIONS = {
    ".png": "png",
    ".jpg": "jpeg",
    ".jpeg": "jpeg",
    ".tif": "tiff",
    ".tiff": "tiff",
    ".bmp": "bmp",
}
WRITE_EXTENSIONS = (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd", ".png", ".tif", ".tiff")

# Keys of a file's own header that are safe to show (never patient identifiers).
_SAFE_HEADER_KEYS = {
    "Modality": "modality",
    "modality": "modality",
    "descrip": "description",
    "intent_name": "intent",
}


def format_of(path: str | os.PathLike) -> str | None:
    """The format name for a path's extension, or None when it is not a known one."""
    name = Path(path).name.lower()
    for table in (VOLUME_EXTENSIONS, PICTURE_EXTENSIONS):
        for ext, fmt in table.items():
            if name.endswith(ext):
                return fmt
    return None



def image_files(folder: str | os.PathLike) -> list[Path]:
    """The readable image files directly in ``folder``, sorted (not DICOM: a DICOM folder is one series)."""
    known = tuple(VOLUME_EXTENSIONS) + tuple(PICTURE_EXTENSIONS)
    return sorted(p for p in Path(folder).iterdir() if p.is_file() and p.name.lower().endswith(known))

def check_not_placeholder(path: Path) -> None:
    """Raise a clear error for an empty file or a Git-LFS / git-annex pointer.

    Parameters
    ----------
    path : Path
        The file to check.

    Raises
    ------
    ImageReadError
        When the file is empty or is a pointer to data stored elsewhere.
    """
    size = path.stat().st_size
    if size == 0:
        raise ImageReadError(f"{path} is empty (0 bytes); the download or copy is incomplete")
    if size < 1024:
        head = path.read_bytes()[:200]
        if head.startswith(b"version https://git-lfs"):
            raise ImageReadError(
                f"{path} is a Git-LFS pointer, not the image itself; run `git lfs pull` "
                "in its repository to fetch the real file"
            )
        if b"/annex/objects/" in head:
            raise ImageReadError(
                f"{path} is a git-annex pointer; run `git annex get` to fetch the real file"
            )


def read_sitk_file(path: str | os.PathLike) -> Volume:
    """Read a NIfTI, NRRD, MetaImage or 2D picture file into a Volume.

    Parameters
    ----------
    path : str or PathLike
        The file. ``.nhdr`` / ``.mhd`` headers find their data file themselves.

    Returns
    -------
    Volume
        With ``metadata["source_format"]`` and safe header fields.

    Raises
    ------
    ImageReadError
        When the file is missing, a pointer, damaged, hostile, too large for the memory,
        or cannot be decoded; the message names the file, the problem and what to do.
        The header is checked by :func:`napari_medimg.io.validate.check_file` before
        SimpleITK sees the file.
    """
    path = Path(path)
    if not path.is_file():
        raise ImageReadError(f"{path} does not exist or is not a file")
    check_not_placeholder(path)
    fmt = format_of(path)
    try:
        facts = check_file(path, fmt)
    except OSError as exc:
        raise ImageReadError(f"{path} could not be opened: {exc.strerror or exc}; check its permissions") from None
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
        image = reader.Execute()
    except RuntimeError as exc:
        detail = str(exc).strip().splitlines()
        detail = next((line for line in reversed(detail) if line.strip()), "")
        raise ImageReadError(
            f"{path}: SimpleITK could not decode it as {fmt} ({detail[-200:]}). A header field "
            "it needs is malformed, its voxel data are damaged, or it uses a variant of the format "
            "SimpleITK does not support; fix the field named above or export the image again "
            "(e.g. as .nii.gz)."
        ) from None
    geometry_warnings = settle_geometry(path, image, facts)
    metadata = {"source_format": fmt, "source_name": path.name}
    for key in reader.GetMetaDataKeys():
        if key == PROVENANCE_KEY:  # read back by napari_medimg.io.read (sidecar first)
            try:
                metadata["embedded_provenance"] = reader.GetMetaData(key)
            except (TypeError, RuntimeError, UnicodeError):
                pass
        elif key in _SAFE_HEADER_KEYS:
            try:
                value = reader.GetMetaData(key).strip()
            except (TypeError, RuntimeError, UnicodeError):  # a damaged, undecodable text field
                continue
            if value:
                metadata[_SAFE_HEADER_KEYS[key]] = value
    if fmt in PICTURE_EXTENSIONS.values():
        image = _grey_if_colourless(image)
        metadata["warnings"] = [
            "no_spacing: picture files carry no pixel spacing; 1 mm per pixel is assumed"
        ]
    metadata.setdefault("warnings", [])
    metadata["warnings"] += facts.warnings + geometry_warnings
    try:
        return volume_from_sitk(image, metadata)
    except ImageReadError as exc:
        raise ImageReadError(f"{path}: {exc}") from None
    except ValueError as exc:  # the Volume refused the geometry
        raise ImageReadError(f"{path}: its geometry is invalid ({exc}); export the image again") from None
    except (TypeError, RuntimeError) as exc:  # SimpleITK on damaged header text (undecodable keys)
        raise ImageReadError(
            f"{path}: its header holds damaged text ({type(exc).__name__}: {str(exc)[:150]}); "
            "export the image again"
        ) from None


def _grey_if_colourless(image: sitk.Image) -> sitk.Image:
    """Collapse an RGB(A) picture whose colour channels are all equal to one grey channel."""
    if image.GetNumberOfComponentsPerPixel() not in (3, 4):
        return image
    array = sitk.GetArrayViewFromImage(image)
    if np.array_equal(array[..., 0], array[..., 1]) and np.array_equal(array[..., 0], array[..., 2]):
        if array.shape[-1] == 3 or np.all(array[..., 3] == array[..., 3].flat[0]):
            grey = sitk.VectorIndexSelectionCast(image, 0)
            grey.CopyInformation(image)
            return grey
    return image


def write_sitk_file(
    volume: Volume,
    path: str | os.PathLike,
    *,
    compress: bool = True,
    overwrite: bool = True,
    allow_geometry_loss: bool = False,
    header_fields: dict[str, str] | None = None,
) -> Path:
    """Write a Volume to NIfTI, NRRD, MetaImage or (2D only) PNG / TIFF, atomically.

    The file is written beside its destination under a temporary name, checked (the
    header reads back with the same geometry, the voxel data is complete) and only then
    renamed over the destination: a failed or cut write never replaces a good file.

    Parameters
    ----------
    volume : Volume
        What to write; its spacing, origin and direction go into the header.
    path : str or PathLike
        Destination; the extension chooses the format.
    compress : bool
        Compress the voxel data where the format allows it (NRRD, MetaImage).
        ``.nii.gz`` is always compressed and ``.nii`` never.
    overwrite : bool
        Replace an existing file (and, for ``.mhd`` / ``.nhdr``, its data file);
        otherwise an existing file is an error.
    allow_geometry_loss : bool
        Accept a format that cannot hold the geometry exactly (NIfTI: float32 spacing
        and origin, orthonormal direction only) instead of refusing.
    header_fields : dict of str, optional
        Key-value text fields for the header of formats that hold them (NRRD, MetaImage);
        ignored for the others. Values are one line each.

    Returns
    -------
    Path
        The path written.

    Raises
    ------
    ImageWriteError
        For an unknown extension, a volume or geometry the format cannot hold, an
        existing file with ``overwrite=False``, a full disk, a missing permission, or a
        written file that does not read back complete. A previous file is left as it was.
    """
    from .atomic import atomic_write, refuse_existing
    from .write_check import check_geometry_fits, verify_written

    path = Path(path)
    fmt = format_of(path)
    if fmt is None or not path.name.lower().endswith(WRITE_EXTENSIONS):
        raise ImageWriteError(
            f"cannot write {path.name}: use one of {', '.join(WRITE_EXTENSIONS)}"
        )
    if path.is_dir():
        raise ImageWriteError(f"cannot write {path}: it is a folder; give a file name")
    if not overwrite:
        refuse_existing([path])
    if fmt in PICTURE_EXTENSIONS.values():
        if volume.spatial_ndim != 2 or volume.leading_shape:
            raise ImageWriteError(
                f"{fmt.upper()} holds 2D pictures only; write this {volume.array.shape} volume "
                "as .nii.gz, .nrrd or .mha"
            )
        if fmt == "png" and volume.array.dtype not in (np.uint8, np.uint16):
            raise ImageWriteError(
                f"PNG holds uint8 or uint16 pixels, not {volume.array.dtype}; "
                "write .tif or .nrrd to keep the values"
            )
    if volume.rgb and volume.array.dtype != np.uint8:
        raise ImageWriteError(
            f"colour images are stored as 8-bit RGB; this one is {volume.array.dtype}: "
            "convert it to uint8 (e.g. clip to 0..255 and round), or save one channel"
        )
    if not allow_geometry_loss:
        check_geometry_fits(volume, fmt, path)
    image = volume_to_sitk(volume)
    if fmt in ("nrrd", "metaimage"):
        for key, value in (header_fields or {}).items():
            image.SetMetaData(key, value)
    use_compression = compress and fmt in ("nrrd", "metaimage") or path.name.lower().endswith(".gz")

    def write(temporary: Path) -> None:
        try:
            sitk.WriteImage(image, str(temporary), useCompression=use_compression)
        except RuntimeError as exc:
            raise _write_failure(path, exc) from None

    def verify(temporary: Path) -> None:
        verify_written(temporary, image, fmt, allow_geometry_loss=allow_geometry_loss)

    needed = volume.array.nbytes + 4096
    return atomic_write(path, write, overwrite=overwrite, verify=verify, needed_bytes=needed)


def _write_failure(path: Path, exc: RuntimeError) -> ImageWriteError:
    """ITK's write error as an ImageWriteError that names the file and the likely cause."""
    import errno

    from .atomic import os_error_message

    text = str(exc)
    if "No space left" in text or "wrote only" in text:
        return ImageWriteError(os_error_message(OSError(errno.ENOSPC, "No space left on device"), path))
    if "Permission denied" in text:
        return ImageWriteError(os_error_message(OSError(errno.EACCES, "Permission denied"), path))
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    detail = lines[-1][-300:] if lines else repr(exc)
    return ImageWriteError(f"writing {path} failed: {detail}; nothing was replaced")
