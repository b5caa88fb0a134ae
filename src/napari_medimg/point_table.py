"""The position columns of a table of points: voxel index and world mm, named one way everywhere.

Point results (nodule candidates, tumour centres, landmarks, keypoints) give a table for a
napari Points layer's ``features`` and for CSV files; their positions are always
``z``/``row``/``col`` (voxel index, numpy order) then ``z_mm``/``y_mm``/``x_mm`` (world),
the last two of each for pictures.
"""

from __future__ import annotations

import numpy as np

__all__ = ["position_columns"]


def position_columns(index: np.ndarray, world: np.ndarray) -> dict[str, np.ndarray]:
    """``z``/``row``/``col`` from ``index`` and ``z_mm``/``y_mm``/``x_mm`` from ``world`` (``(n, 2)`` or ``(n, 3)``)."""
    index, world = np.asarray(index), np.asarray(world)
    ndim = index.shape[1]
    columns = {name: index[:, a] for a, name in enumerate(("z", "row", "col")[-ndim:])}
    columns.update({name: world[:, a] for a, name in enumerate(("z_mm", "y_mm", "x_mm")[-world.shape[1]:])})
    return columns
