"""Validation at the file boundary: headers are checked before SimpleITK sees the bytes.

SimpleITK crashes, hangs or fills missing voxels with zeros on some broken or hostile
files (an MHA with ``NDims = -1``, NRRD ``encoding: ascii`` over binary data, a NIfTI
with an infinite sform offset, a cut ``.nii.gz``). :func:`check_file` parses the header
itself and refuses such files with an :class:`~napari_medimg.io.errors.ImageReadError`
that names the file, what is wrong and what to do.

Modules: ``_facts`` (what a check learns; the refusal), ``_numbers`` (sizes, finite
geometry, spacing range), ``_budget`` (memory), ``_streams`` (gzip / zlib / bzip2
integrity), ``_text`` (ASCII / hex voxel data), one module per format (``_nifti``,
``_nrrd``, ``_metaimage``, ``_pictures``), and ``_geometry`` (the decoded image's
geometry, invalid spacing -> 1 mm with a warning).
"""

from __future__ import annotations

import os
from pathlib import Path

from ._budget import available_memory, check_memory, refuse_if_too_large
from ._facts import HeaderFacts, refuse
from ._geometry import settle_geometry

__all__ = ["HeaderFacts", "check_file", "settle_geometry", "available_memory", "check_memory", "refuse", "refuse_if_too_large"]


def check_file(path: str | os.PathLike, fmt: str) -> HeaderFacts:
    """Check a file's header and data size before it is decoded.

    Parameters
    ----------
    path : str or PathLike
        The file.
    fmt : str
        Its format from the extension: ``"nifti"``, ``"nrrd"``, ``"metaimage"``,
        ``"png"``, ``"jpeg"``, ``"tiff"`` or ``"bmp"``.

    Returns
    -------
    HeaderFacts
        Declared shape, voxel size and axes with invalid spacing.

    Raises
    ------
    ImageReadError
        When the file is damaged, inconsistent, hostile or too large for the memory.
    """
    path = Path(path)
    if fmt == "nifti":
        from ._nifti import check_nifti

        return check_nifti(path)
    if fmt == "nrrd":
        from ._nrrd import check_nrrd

        return check_nrrd(path)
    if fmt == "metaimage":
        from ._metaimage import check_metaimage

        return check_metaimage(path)
    from ._pictures import check_picture

    return check_picture(path, fmt)
