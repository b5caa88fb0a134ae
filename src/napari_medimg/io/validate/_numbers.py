"""Checks of header numbers shared by every format: finite geometry, sane sizes, spacing."""

from __future__ import annotations

import math
import os
from typing import Iterable, Sequence

from ._facts import refuse

__all__ = [
    "MAX_AXIS",
    "SPACING_RANGE",
    "MAX_COORDINATE",
    "check_sizes",
    "check_finite",
    "invalid_spacing",
    "check_positive_spacing",
]

#: Largest size of one axis that any scanner makes (2**31 would overflow ITK's int indices).
MAX_AXIS = 1 << 24
#: Spacing (mm) outside this range is treated as missing: 1 nm to 1 km.
SPACING_RANGE = (1e-6, 1e6)
#: An origin coordinate (mm) beyond this is not a position in a patient or phantom.
MAX_COORDINATE = 1e9


def check_sizes(path: str | os.PathLike, sizes: Sequence[int], field: str) -> None:
    """Refuse sizes that are not positive or absurdly large.

    Parameters
    ----------
    path : str or PathLike
        The file, for the message.
    sizes : sequence of int
        The declared size of each axis.
    field : str
        Header field that holds them, for the message.
    """
    if not sizes:
        raise refuse(path, f"the header field {field} holds no size", "The header is corrupt; export the image again.")
    for size in sizes:
        if size <= 0:
            raise refuse(
                path,
                f"the header declares an axis of size {size} in {field} {list(sizes)}; sizes must be positive",
                "The header is corrupt; export the image again from its source.",
            )
        if size > MAX_AXIS:
            raise refuse(
                path,
                f"the header declares an axis of {size} voxels in {field} {list(sizes)}, more than any "
                f"image holds ({MAX_AXIS})",
                "The header is corrupt; export the image again from its source.",
            )


def check_finite(path: str | os.PathLike, values: Iterable[float], what: str, *, limit: float | None = None) -> None:
    """Refuse NaN or infinite geometry numbers (and, with ``limit``, absurdly large ones).

    Parameters
    ----------
    path : str or PathLike
        The file, for the message.
    values : iterable of float
        Numbers of one header field.
    what : str
        What they are (e.g. ``"origin (space origin)"``), for the message.
    limit : float, optional
        Largest absolute value accepted.
    """
    values = [float(v) for v in values]
    if not all(math.isfinite(v) for v in values):
        raise refuse(
            path,
            f"its {what} holds NaN or infinite numbers {values}; the image cannot be placed in space",
            "The header is corrupt or was written by a faulty program; fix the geometry "
            "(e.g. with SimpleITK or nibabel) or export the image again.",
        )
    if limit is not None and any(abs(v) > limit for v in values):
        raise refuse(
            path,
            f"its {what} holds absurd numbers {values} (beyond {limit:g} mm)",
            "The header is corrupt; fix the geometry or export the image again.",
        )


def invalid_spacing(values: Sequence[float]) -> tuple[int, ...]:
    """Axes whose spacing is zero, negative, NaN, infinite or outside :data:`SPACING_RANGE`."""
    low, high = SPACING_RANGE
    return tuple(i for i, v in enumerate(values) if not (math.isfinite(v) and low <= v <= high))


def check_positive_spacing(path: str | os.PathLike, values: Sequence[float], field: str) -> None:
    """Refuse zero or negative spacing where SimpleITK cannot hold it (MetaImage, NRRD).

    NIfTI readers replace such spacing by 1 mm (and :mod:`._geometry` says so); SimpleITK's
    MetaImage and NRRD readers refuse it, so the file is refused here with the reason.
    """
    bad = [(i, v) for i, v in enumerate(values) if v <= 0]
    if bad:
        axes = ", ".join(f"{'xyzt'[i] if i < 4 else i} = {v:g}" for i, v in bad)
        raise refuse(
            path,
            f"its {field} is zero or negative ({axes}); voxels must have a positive size",
            "Fix the spacing in the header (e.g. set it to the true voxel size in mm) or export "
            "the image again.",
        )
