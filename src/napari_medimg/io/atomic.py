"""Atomic file replacement: a write either completes or leaves the previous file as it was.

The writer produces its file(s) under their final names inside a private temporary
folder next to the target (same file system, so the final rename is atomic), the
result is checked and flushed to disk, and only then moved into place with
:func:`os.replace`. A failure at any step removes the temporary folder; a file of the
same name that existed before is never touched.

Formats with a separate data file (``.mhd`` + ``.raw``, ``.nhdr`` + ``.raw``) are
moved data first, header last: each rename is atomic, the pair is as close to atomic
as a POSIX file system allows (a crash between the two renames leaves the new data
beside the old header).
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable

from .errors import ImageWriteError

__all__ = ["atomic_write", "os_error_message", "refuse_existing"]

_NO_SPACE = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}
_NO_PERMISSION = {errno.EACCES, errno.EPERM}


def os_error_message(exc: OSError, path: Path) -> str:
    """A sentence saying why ``path`` could not be written and what to do.

    Parameters
    ----------
    exc : OSError
        The error raised by the operating system.
    path : Path
        The file that was being written.

    Returns
    -------
    str
        Names the file, the cause (disk full, permission, read-only disk ...) and a remedy,
        and says that a previous file of that name is unchanged.
    """
    folder = path.parent
    kept = f"; {path.name} was not written (a previous file of that name is unchanged)"
    if exc.errno in _NO_SPACE:
        return f"no space left on the disk holding {folder}: free some space or write elsewhere{kept}"
    if exc.errno in _NO_PERMISSION:
        return (
            f"permission denied writing {path}: choose a folder you can write to, "
            f"or change the permissions of {folder}{kept}"
        )
    if exc.errno == errno.EROFS:
        return f"{folder} is on a read-only file system: write somewhere else{kept}"
    if exc.errno == errno.ENAMETOOLONG:
        return f"the file name {path.name!r} is too long for this file system: choose a shorter one"
    if exc.errno == errno.ENOTDIR:
        return f"cannot write {path}: a part of the folder path is a file, not a folder"
    reason = exc.strerror or str(exc)
    return f"cannot write {path}: {reason}{kept}"


def refuse_existing(paths: list[Path]) -> None:
    """Raise when any of ``paths`` exists (used when overwriting was not asked for).

    Raises
    ------
    ImageWriteError
        Naming the first existing file and how to allow replacing it.
    """
    for existing in paths:
        if existing.exists():
            raise ImageWriteError(
                f"{existing} already exists; choose another name, or allow replacing it "
                "(overwrite=True, or --overwrite on the command line)"
            )


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def _fsync_folder(folder: Path) -> None:
    """Make a rename durable; silently skipped where folders cannot be opened (Windows)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def atomic_write(
    path: str | os.PathLike,
    write: Callable[[Path], None],
    *,
    overwrite: bool = True,
    verify: Callable[[Path], None] | None = None,
    needed_bytes: int = 0,
) -> Path:
    """Write ``path`` through a temporary folder beside it, then rename into place.

    Parameters
    ----------
    path : str or PathLike
        The final file. Its folder is created when missing.
    write : callable
        ``write(temporary_path)`` writes the file under its final name in the temporary
        folder (companion data files beside it). Its exceptions propagate after cleanup.
    overwrite : bool
        Replace existing files of the same names; otherwise refuse before anything moves.
    verify : callable, optional
        ``verify(temporary_path)`` raises when the written file is incomplete or wrong.
    needed_bytes : int
        About how much the file needs on disk; when writing or checking fails while
        less than this is free, the error says that the disk is full.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    ImageWriteError
        For an existing file (``overwrite=False``), a failed check, or an OS error
        (disk full, permission denied ...); any previous file is left as it was.
    """
    path = Path(path)
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".partial", dir=folder))
    except OSError as exc:
        raise ImageWriteError(os_error_message(exc, path)) from None
    try:
        target = scratch / path.name
        write(target)
        if not target.is_file():
            raise ImageWriteError(f"writing {path} produced no file; nothing was replaced")
        written = sorted(scratch.iterdir(), key=lambda p: p.name == path.name)  # header last
        if not overwrite:
            refuse_existing([folder / p.name for p in written])
        if verify is not None:
            verify(target)
        for part in written:
            _fsync_file(part)
        for part in written:
            os.replace(part, folder / part.name)
        _fsync_folder(folder)
    except OSError as exc:
        raise ImageWriteError(os_error_message(exc, path)) from None
    except ImageWriteError as exc:
        if needed_bytes and _free_bytes(folder) < needed_bytes and "no space left" not in str(exc):
            full = os_error_message(OSError(errno.ENOSPC, "No space left on device"), path)
            raise ImageWriteError(f"{full} ({exc})") from None
        raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return path


def _free_bytes(folder: Path) -> int:
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return 1 << 62
