"""Column tables written as CSV at full precision (light: numpy and the standard library only).

Kept apart from :mod:`napari_medimg.analysis.measure` (which re-exports :func:`write_csv`)
so that a command writing a table does not import scipy and scikit-image for it.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any, TextIO

import numpy as np

__all__ = ["write_csv"]


def _format(value: Any) -> str:
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return repr(float(value))  # shortest string that reads back to the same float
    return str(value)


def write_csv(
    table: dict[str, Any], path: str | os.PathLike | TextIO, *, overwrite: bool = True
) -> Path | None:
    """Write a column table as CSV: a header row, then one row per entry, full precision.

    Floats are written with ``repr`` (the shortest text that reads back to exactly the same
    float64; NaN as ``nan``), integers as integers, anything else with ``str``.

    Parameters
    ----------
    table : dict of str to array-like
        Columns of equal length.
    path : str, PathLike or text file
        File to write (parent folders are created), or an open text stream (e.g.
        ``sys.stdout``). A file is written atomically
        (:func:`napari_medimg.io.atomic.atomic_write`): under a temporary name beside
        it, then renamed, so a failed write never leaves a partial file or destroys the
        previous one.
    overwrite : bool
        Replace an existing file; otherwise an existing file is an error.

    Returns
    -------
    pathlib.Path or None
        The path written (None for a stream).

    Raises
    ------
    ValueError
        For columns of different lengths.
    napari_medimg.io.errors.ImageWriteError
        For an existing file with ``overwrite=False``, a full disk or a missing
        permission (the message names the file; a previous file is unchanged).
    """
    columns = {name: list(np.asarray(values).tolist()) if isinstance(values, np.ndarray) else list(values)
               for name, values in table.items()}
    lengths = {len(v) for v in columns.values()}
    if len(lengths) > 1:
        raise ValueError(f"table columns have different lengths: {sorted(lengths)}")

    def write(handle: TextIO) -> None:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(list(columns))
        for row in zip(*columns.values()):
            writer.writerow([_format(v) for v in row])

    if hasattr(path, "write"):
        write(path)  # type: ignore[arg-type]
        return None
    from .atomic import atomic_write

    def write_file(temporary: Path) -> None:
        with open(temporary, "w", newline="") as handle:
            write(handle)

    return atomic_write(Path(path), write_file, overwrite=overwrite)  # type: ignore[arg-type]
