"""Memory budget: refuse a decode that would not fit before anything is allocated."""

from __future__ import annotations

import os
import resource

from ._facts import HeaderFacts, refuse

__all__ = ["available_memory", "check_memory"]

#: SimpleITK decodes into its own buffer and numpy copies it once: two live copies.
_COPIES_WHILE_READING = 2
_GIB = float(1 << 30)


def _meminfo_available() -> int | None:
    """MemAvailable of /proc/meminfo in bytes (Linux), else free pages from sysconf."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _address_space_left() -> int | None:
    """Room left under this process's RLIMIT_AS (None when unlimited or unknown)."""
    try:
        soft, _hard = resource.getrlimit(resource.RLIMIT_AS)
    except (ValueError, OSError):
        return None
    if soft == resource.RLIM_INFINITY:
        return None
    used = 0
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmSize:"):
                    used = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        pass
    return max(soft - used, 0)


def available_memory() -> int | None:
    """Bytes this process can still allocate: the smaller of free RAM and its RLIMIT_AS room.

    Returns
    -------
    int or None
        None when neither can be found out (then no budget is enforced).
    """
    candidates = [v for v in (_meminfo_available(), _address_space_left()) if v is not None]
    return min(candidates) if candidates else None


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
