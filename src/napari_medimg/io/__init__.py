"""Reading and writing medical images with their geometry.

:func:`read` opens DICOM series and files, NIfTI, NRRD, MetaImage and 2D pictures;
:func:`write` saves NIfTI, NRRD, MetaImage, and PNG / TIFF for 2D images.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..volume import Volume
from .errors import ImageReadError, ImageWriteError
from .formats import WRITE_EXTENSIONS, check_not_placeholder, format_of, read_sitk_file, write_sitk_file

__all__ = [
    "read",
    "write",
    "can_read",
    "ImageReadError",
    "ImageWriteError",
    "WRITE_EXTENSIONS",
]

_DICOM_EXTENSIONS = (".dcm", ".dicom", ".ima")


def can_read(path: str | os.PathLike) -> bool:
    """Cheap check whether :func:`read` will try this path (no pixel data is decoded).

    Parameters
    ----------
    path : str or PathLike
        A file or a folder.

    Returns
    -------
    bool
        True for a known extension, a DICOM file, or a folder holding a DICOM file.
    """
    from .dicom import is_dicom_file

    path = Path(path)
    if path.is_dir():
        return _first_dicom_file(path, is_dicom_file) is not None
    if not path.is_file():
        return False
    if format_of(path) is not None:
        return True
    return is_dicom_file(path)


def _first_dicom_file(folder: Path, is_dicom_file, limit: int = 500) -> Path | None:
    """The first DICOM file found under ``folder`` looking at no more than ``limit`` files."""
    seen = 0
    for root, _dirs, files in os.walk(folder):
        for name in sorted(files):
            candidate = Path(root) / name
            if is_dicom_file(candidate):
                return candidate
            seen += 1
            if seen >= limit:
                return None
    return None


def read(path: str | os.PathLike, **options: Any) -> Volume:
    """Read a medical image file or DICOM folder into a :class:`Volume`.

    Parameters
    ----------
    path : str or PathLike
        A DICOM folder or any file of a DICOM series, a single or multi-frame DICOM file,
        ``.nii``/``.nii.gz``, ``.nrrd``/``.nhdr``, ``.mha``/``.mhd``, or a PNG, JPEG,
        TIFF or BMP picture.
    **options
        Passed to :func:`napari_medimg.io.dicom.read_dicom` for DICOM input
        (``series_uid``, ``resample_tilt``, ``resample_nonuniform``).

    Returns
    -------
    Volume
        Array in numpy order with spacing, origin, direction and safe metadata;
        ``metadata["warnings"]`` lists every geometry anomaly found.

    Raises
    ------
    ImageReadError
        When the path does not exist or holds nothing readable; the message says why.

    Examples
    --------
    >>> from napari_medimg import read
    >>> volume = read("brain1_image.nrrd")  # doctest: +SKIP
    >>> volume.spacing  # doctest: +SKIP
    (6.5, 0.78125, 0.78125)
    """
    path = Path(path)
    if not path.exists():
        raise ImageReadError(f"{path} does not exist; check the path")
    if path.is_dir():
        from .dicom import read_dicom

        return read_dicom(path, **options)
    if format_of(path) is not None:
        if options:
            raise TypeError(f"options {sorted(options)} apply to DICOM input only")
        volume = read_sitk_file(path)
        from .provenance import read_provenance

        provenance = read_provenance(path, volume.metadata.pop("embedded_provenance", None))
        if provenance is not None:  # how the file was made: its history goes on
            volume.metadata["history"] = provenance["history"]
            volume.metadata["provenance"] = {k: provenance.get(k) for k in ("software", "source", "written")}
        return volume
    check_not_placeholder(path)
    from .dicom import is_dicom_file, read_dicom

    if is_dicom_file(path) or path.suffix.lower() in _DICOM_EXTENSIONS:
        from .dicom_seg import is_seg_file, read_seg

        if is_seg_file(path):  # labels on the referenced grid, with segment names
            return read_seg(path)
        return read_dicom(path, **options)
    raise ImageReadError(
        f"{path.name} is not a format napari-medimg reads: use a DICOM file or folder, "
        ".nii/.nii.gz, .nrrd/.nhdr, .mha/.mhd, or a PNG/JPEG/TIFF picture"
    )


def write(
    volume: Volume,
    path: str | os.PathLike,
    *,
    compress: bool = True,
    overwrite: bool = True,
    allow_geometry_loss: bool = False,
) -> Path:
    """Write a :class:`Volume` with its geometry, atomically.

    Parameters
    ----------
    volume : Volume
        What to write.
    path : str or PathLike
        ``.nii.gz``, ``.nii``, ``.nrrd``, ``.nhdr``, ``.mha``, ``.mhd``; ``.png`` or
        ``.tif`` for 2D images.
    compress : bool
        Compress voxel data where the format allows it.
    overwrite : bool
        Replace an existing file (the default, as napari's save dialog has already
        asked); ``False`` refuses an existing file (the command line's default).
    allow_geometry_loss : bool
        Accept a format that stores the geometry less exactly (NIfTI: float32 spacing
        and origin, orthonormal direction) instead of refusing.

    Returns
    -------
    Path
        The path written. A volume with a history (operations, parameters) also gets
        ``<name>.provenance.json`` beside it, and NRRD / MetaImage files the same record
        in a header field (:mod:`napari_medimg.io.provenance`).

    Raises
    ------
    ImageWriteError
        When the file cannot be written completely; a previous file is left unchanged.
        See :func:`napari_medimg.io.formats.write_sitk_file`.
    """
    from .provenance import header_fields, provenance_document, write_provenance

    document = provenance_document(volume.metadata, path)  # None without a history
    written = write_sitk_file(
        volume, path, compress=compress, overwrite=overwrite, allow_geometry_loss=allow_geometry_loss,
        header_fields=header_fields(document),
    )
    write_provenance(document, written)
    return written
