"""Neighbour offsets ("angles") and shifted views shared by the texture matrices.

pyradiomics' C code (``cmatrices.c``) enumerates offsets with infinity-norm distance in
``distances``, skips offsets that cannot fit in the cropped ROI box (``|offset| >= size``)
and, with ``force2D``, offsets that move along ``force2Ddimension``. Mono-directional sets
(GLCM, GLRLM) are the first half of the bidirectional set in its generation order, i.e.
the offsets whose first non-zero component is positive: 13 for distance 1 in 3D.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

__all__ = ["generate_angles", "angles_for", "pair_slices", "shifted"]


def generate_angles(
    size: Sequence[int],
    distances: Sequence[int],
    *,
    bidirectional: bool,
    force2d_dimension: int | None = None,
) -> np.ndarray:
    """Offsets (n, 3) in numpy axis order, in pyradiomics' order.

    Parameters
    ----------
    size : sequence of int
        Shape of the cropped ROI box.
    distances : sequence of int
        Infinity-norm distances to include.
    bidirectional : bool
        Both directions of every offset (GLSZM, GLDM, NGTDM) or one (GLCM, GLRLM).
    force2d_dimension : int, optional
        Axis that offsets must not move along (``force2D``).
    """
    distances = sorted({int(d) for d in distances})
    max_d = max(distances)
    n = 2 * max_d + 1
    grid = np.arange(max_d, -max_d - 1, -1)
    offsets = np.stack(np.meshgrid(grid, grid, grid, indexing="ij"), axis=-1).reshape(-1, 3)
    valid = np.all(np.abs(offsets) < np.asarray(size)[None, :], axis=1)
    if force2d_dimension is not None:
        valid &= offsets[:, force2d_dimension] == 0
    norm = np.abs(offsets).max(axis=1)
    valid &= np.isin(norm, distances)
    out = offsets[valid]
    assert len(out) % 2 == 0, n  # symmetric set
    if not bidirectional:
        out = out[: len(out) // 2]
    return out.astype(np.int64)


def angles_for(shape: Sequence[int], settings: dict[str, Any], *, bidirectional: bool,
               distances: Sequence[int] | None = None) -> np.ndarray:
    """:func:`generate_angles` with the ``distances`` / ``force2D`` settings."""
    f2d = settings["force2Ddimension"] if settings["force2D"] else None
    return generate_angles(shape, settings["distances"] if distances is None else distances,
                           bidirectional=bidirectional, force2d_dimension=f2d)


def pair_slices(shape: Sequence[int], offset: Sequence[int]) -> tuple[tuple[slice, ...], tuple[slice, ...]]:
    """Slices ``(src, dst)`` so that ``array[dst]`` is ``array[src]`` moved by ``offset``."""
    src, dst = [], []
    for n, o in zip(shape, offset):
        o = int(o)
        src.append(slice(max(0, -o), n - max(0, o)))
        dst.append(slice(max(0, o), n + min(0, o)))
    return tuple(src), tuple(dst)


def shifted(array: np.ndarray, offset: Sequence[int], fill: Any = 0) -> np.ndarray:
    """``out[v] = array[v + offset]`` (``fill`` where ``v + offset`` is outside)."""
    out = np.full(array.shape, fill, dtype=array.dtype)
    src, dst = pair_slices(array.shape, offset)
    out[src] = array[dst]
    return out
