"""Memory budget: refuse a decode that would not fit before anything is allocated."""

from __future__ import annotations

import os

from ...budget import available_memory
from ._facts import HeaderFacts, refuse

__all__ = ["available_memory", "check_memory"]

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
    need = facts.decoded_bytes * _COPIES_WHILE_READING
    available = available_memory()
    if available is None or need <= available:
        return
    shape = " x ".join(str(s) for s in facts.shape)
    raise refuse(
        path,
        f"its header declares {shape} voxels ({facts.decoded_bytes / _GIB:.1f} GiB decoded); "
        f"reading it needs about {need / _GIB:.1f} GiB but only {available / _GIB:.1f} GiB of "
        "memory is available",
        "Close other programs or use a machine with more memory, or crop / downsample the "
        "image with another tool first. If the size is not what the image should be, the "
        "header is corrupt.",
    )
