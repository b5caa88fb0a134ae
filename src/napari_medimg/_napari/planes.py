"""Axial, coronal and sagittal planes through a point, as a radiology workstation shows them.

Layers of this plugin are in the display frame ``(S, P, L)`` (see
:mod:`napari_medimg._napari.layers`): axis 0 points to the patient's superior, 1 to
posterior, 2 to left. A plane is shown with the patient's right on the left of the
picture; axial with anterior at the top, coronal and sagittal with superior at the top
(sagittal with anterior on the left).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["PLANES", "plane_image", "plane_pixel_size", "plane_position"]

# plane -> (axis cut through, picture rows axis, picture columns axis, rows flipped)
PLANES: dict[str, tuple[int, int, int, bool]] = {
    "axial": (0, 1, 2, False),  # rows P (anterior first), columns L (right first)
    "coronal": (1, 0, 2, True),  # rows S flipped (superior first), columns L
    "sagittal": (2, 0, 1, True),  # rows S flipped, columns P (anterior first)
}


def plane_image(volume: Any, index: tuple[int, int, int], plane: str) -> np.ndarray:
    """The 2D picture of ``plane`` through voxel ``index`` of a ``(S, P, L)`` volume.

    Parameters
    ----------
    volume : array-like
        3D data; only the plane is read.
    index : tuple of int
        Voxel the plane passes through.
    plane : str
        ``"axial"``, ``"coronal"`` or ``"sagittal"``.

    Returns
    -------
    numpy.ndarray
        ``(rows, columns)`` in display orientation.
    """
    cut, _rows, _columns, flip = PLANES[plane]
    where = [slice(None)] * 3
    where[cut] = int(index[cut])
    picture = np.asarray(volume[tuple(where)])  # only this plane is read (dask, zarr, memmap)
    return picture[::-1] if flip else picture


def plane_pixel_size(spacing: tuple[float, float, float], plane: str) -> tuple[float, float]:
    """Millimetres per picture row and per column of ``plane``."""
    _cut, rows, columns, _flip = PLANES[plane]
    return float(spacing[rows]), float(spacing[columns])


def plane_position(index: tuple[float, float, float], shape: tuple[int, int, int], plane: str) -> tuple[float, float]:
    """Where voxel ``index`` falls in the picture of ``plane``: ``(row, column)``."""
    _cut, rows, columns, flip = PLANES[plane]
    row = (shape[rows] - 1 - index[rows]) if flip else index[rows]
    return float(row), float(index[columns])
