"""Output safety for the command line: never replace an input, never replace a file unasked.

Private helpers of :mod:`napari_medimg.cli`: every command that writes files asks
:func:`check_output` first and writes text through :func:`write_text_output` /
:func:`write_table_output` (atomic, like the image writers).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Iterable

from .io.errors import ImageWriteError

__all__ = ["check_output", "write_text_output", "write_table_output"]

_TWO_FILE_FORMATS = (".mhd", ".nhdr")


def _resolved(path: str | os.PathLike) -> Path:
    return Path(path).expanduser().resolve(strict=False)


def _data_files_of_header(header: Path) -> list[Path]:
    """The data file(s) a ``.mhd`` / ``.nhdr`` header points to (none when unreadable)."""
    try:
        text = header.read_bytes()[: 1 << 16].decode("latin-1")
    except OSError:
        return []
    found = re.findall(r"^(?:ElementDataFile\s*=|data ?file:)\s*(.+?)\s*$", text, flags=re.MULTILINE | re.IGNORECASE)
    return [header.parent / name for name in found if name.upper() != "LOCAL" and "%" not in name]


def _written_files(output: Path) -> list[Path]:
    """The files writing ``output`` may create: the file and, for two-file formats, its data."""
    name = output.name.lower()
    if not name.endswith(_TWO_FILE_FORMATS):
        return [output]
    stem = output.name[: -len(".mhd") if name.endswith(".mhd") else -len(".nhdr")]
    return [output] + [output.with_name(stem + ext) for ext in (".raw", ".zraw", ".raw.gz")]


def _input_files(path: Path) -> list[Path]:
    files = [path]
    if path.is_file() and path.name.lower().endswith(_TWO_FILE_FORMATS):
        files += _data_files_of_header(path)
    return [_resolved(p) for p in files]


def check_output(output: str | os.PathLike, inputs: Iterable[str | os.PathLike], *, overwrite: bool) -> Path:
    """Refuse an output that is (or would write into) one of ``inputs``, or exists unasked.

    Paths are compared after resolving symbolic links and ``..``; a DICOM folder given as
    input protects every file below it.

    Parameters
    ----------
    output : str or PathLike
        The file the command will write.
    inputs : iterable of str or PathLike
        Every file or folder the command reads.
    overwrite : bool
        ``--overwrite`` was given: an existing output (that is no input) may be replaced.

    Returns
    -------
    Path
        ``output`` as given.

    Raises
    ------
    ImageWriteError
        Naming the output and the input it would replace, or the existing file.
    """
    output = Path(output)
    targets = [_resolved(p) for p in _written_files(output)]
    for given in inputs:
        source = Path(given)
        if not source.exists():
            continue
        for protected in _input_files(source):
            for target in targets:
                if target == protected or (source.is_dir() and protected in target.parents):
                    where = "inside the input folder" if target != protected else "the input itself"
                    raise ImageWriteError(
                        f"refusing to write {output}: it is {where} {given}; the command would "
                        "replace what it reads. Choose an output path outside the inputs"
                    )
    if output.is_dir():
        raise ImageWriteError(f"cannot write {output}: it is a folder; give a file name")
    if not overwrite:
        for target in _written_files(output):
            if target.exists():
                raise ImageWriteError(
                    f"{target} already exists; choose another name, or add --overwrite to replace it"
                )
    return output


def write_text_output(text: str, path: str | os.PathLike, *, overwrite: bool) -> Path:
    """Write ``text`` to ``path`` atomically (UTF-8)."""
    from .io.atomic import atomic_write

    return atomic_write(path, lambda temporary: temporary.write_text(text, encoding="utf-8"), overwrite=overwrite)


def write_table_output(table: dict[str, Any], path: str | os.PathLike, *, overwrite: bool) -> Path:
    """Write a column table as CSV to ``path`` atomically (see ``io.csv_table.write_csv``)."""
    from .io.csv_table import write_csv

    return write_csv(table, path, overwrite=overwrite)
