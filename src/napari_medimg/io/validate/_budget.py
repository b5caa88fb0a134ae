"""Memory budget: refuse a decode that would not fit before anything is allocated."""

from __future__ import annotations

import os

from ...budget import available_memory
from ._facts import HeaderFacts, refuse

__all__ = ["available_memory", "check_memory", "refuse_if_too_large"]

#: SimpleITK decodes into its own buffer and numpy copies it once: two live copies.
_COPIES_WHILE_READING = 2
_GIB = float(1 << 30)


def check_memory(path: str | os.PathLike, facts: HeaderFacts) -> None:
    """Refuse a file whose decoded size would not fit in the memory available now.

    Parameters
    ----------
    path : str or PathLike
        The file, for the message.
    facts : HeaderFacts
        Its declared shape and voxel size.

    Raises
    ------
    ImageReadError
        With the size needed and available in GiB, and what to do.
    """
    shape = " x ".join(str(s) for s in facts.shape)
    refuse_if_too_large(
        path,
        f"its header declares {shape} voxels",
        facts.decoded_bytes,
        facts.decoded_bytes * _COPIES_WHILE_READING,
        "Close other programs or use a machine with more memory, or crop / downsample the "
        "image with another tool first. If the size is not what the image should be, the "
        "header is corrupt.",
    )


def refuse_if_too_large(
    path: str | os.PathLike, declared: str, decoded_bytes: int, need_bytes: int, advice: str
) -> None:
    """Refuse a read whose peak memory ``need_bytes`` exceeds the memory available now.

    The one budget rule (and message) of every reader: NIfTI / NRRD / MetaImage through
    :func:`check_memory`, DICOM series from their tags.

    Parameters
    ----------
    path : str or PathLike
        The file or folder, for the message.
    declared : str
        What the header declares, e.g. ``"its header declares 512 x 512 x 200 voxels"``.
    decoded_bytes : int
        Size of the decoded image.
    need_bytes : int
        Peak memory while reading it (decoded copies alive at once).
    advice : str
        What to do.

    Raises
    ------
    ImageReadError
        With the size needed and available in GiB.
    """
    available = available_memory()
    if available is None or need_bytes <= available:
        return
    raise refuse(
        path,
        f"{declared} ({decoded_bytes / _GIB:.1f} GiB decoded); reading it needs about "
        f"{need_bytes / _GIB:.1f} GiB but only {available / _GIB:.1f} GiB of memory is available",
        advice,
    )
