"""What a header check learns about a file, and the one way to refuse a file."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from ..errors import ImageReadError

__all__ = ["HeaderFacts", "refuse"]


@dataclasses.dataclass
class HeaderFacts:
    """The facts a header check found, for the reader to use after SimpleITK.

    Attributes
    ----------
    fmt : str
        Format name (``"nifti"``, ``"nrrd"``, ``"metaimage"``, ``"png"`` ...).
    shape : tuple of int
        Declared size in the file's own order (ITK ``x, y, z`` ...).
    bytes_per_voxel : int
        Bytes of one voxel, all components included.
    invalid_spacing_axes : tuple of int
        Spatial axes (ITK order) whose spacing is zero, negative, NaN where the format
        allows it, or absurd: the reader replaces them by 1 mm with a ``no_spacing``
        warning.
    warnings : list of str
        Warnings made by :func:`~napari_medimg.io.warnings_codes.make_warning`.
    """

    fmt: str
    shape: tuple[int, ...] = ()
    bytes_per_voxel: int = 1
    invalid_spacing_axes: tuple[int, ...] = ()
    warnings: list[str] = dataclasses.field(default_factory=list)

    @property
    def decoded_bytes(self) -> int:
        """Bytes of the decoded array (product of the shape times the voxel size)."""
        total = self.bytes_per_voxel
        for size in self.shape:
            total *= size
        return total


def refuse(path: str | os.PathLike, problem: str, advice: str) -> ImageReadError:
    """An :class:`ImageReadError` naming the file, what is wrong and what to do.

    Parameters
    ----------
    path : str or PathLike
        The file refused.
    problem : str
        What is wrong with it (no trailing full stop).
    advice : str
        What the user can do about it.

    Returns
    -------
    ImageReadError
        To be raised by the caller.
    """
    return ImageReadError(f"{Path(path)}: {problem}. {advice}")
