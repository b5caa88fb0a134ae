"""2D shape features (``shape2D``), as pyradiomics 3.1.0 defines them.

For a 2D ROI, or a 3D ROI one voxel thick along ``force2Ddimension`` (``force2D=True``).
The contour comes from marching squares on the ROI padded by one pixel, with vertices at
edge midpoints; in the two saddle cases the inside pixels are kept apart (as in
pyradiomics' ``cshape.c``). ``MeshSurface`` is the signed (shoelace) area enclosed by the
contour, ``Perimeter`` its length, ``MaximumDiameter`` the largest distance between
contour vertices; axis lengths come from the PCA of pixel-centre coordinates in mm.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .preprocessing import RadiomicsInputError
from .shape import _max_distance, principal_moments

__all__ = ["compute", "contour_coefficients", "FEATURES"]

FEATURES = (
    "MeshSurface", "PixelSurface", "Perimeter", "PerimeterSurfaceRatio", "Sphericity", "MaximumDiameter",
    "MajorAxisLength", "MinorAxisLength", "Elongation",
)

# Square corners (y, x): bit k of the case index is corner k inside the ROI.
CORNERS = np.array([(0, 0), (0, 1), (1, 1), (1, 0)])
# Edge e joins corners EDGES[e]; its vertex is the midpoint.
EDGES = np.array([(0, 1), (1, 2), (2, 3), (3, 0)])
MIDPOINTS = (CORNERS[EDGES[:, 0]] + CORNERS[EDGES[:, 1]]) / 2.0
# Segments per case (pairs of edges). Saddles (5, 10) cut off each inside corner separately.
_SEGMENTS = {
    1: [(3, 0)], 2: [(0, 1)], 3: [(3, 1)], 4: [(1, 2)], 5: [(1, 2), (3, 0)], 6: [(0, 2)], 7: [(3, 2)],
    8: [(2, 3)], 9: [(2, 0)], 10: [(0, 1), (2, 3)], 11: [(2, 1)], 12: [(1, 3)], 13: [(1, 0)], 14: [(0, 3)],
}


def _segment_table() -> np.ndarray:
    out = np.full((16, 2, 2), -1, dtype=np.int64)
    for case, segments in _SEGMENTS.items():
        for k, seg in enumerate(segments):
            out[case, k] = seg
    return out


SEGMENT_TABLE = _segment_table()


def contour_coefficients(mask: np.ndarray, spacing: tuple[float, float]) -> tuple[float, float, np.ndarray]:
    """Perimeter (mm), enclosed area (mm²) and contour vertices (pixel units x2) of a 2D bool ROI."""
    padded = np.pad(mask.astype(bool), 1)
    sp = np.asarray(spacing, dtype=float)
    ny, nx = padded.shape[0] - 1, padded.shape[1] - 1
    case = np.zeros((ny, nx), dtype=np.int64)
    for k, (dy, dx) in enumerate(CORNERS):
        case |= padded[dy : dy + ny, dx : dx + nx].astype(np.int64) << k
    squares = np.flatnonzero((case > 0) & (case < 15))
    origin = np.stack(np.unravel_index(squares, case.shape), axis=1)
    real = case.ravel()[squares]
    segs = SEGMENT_TABLE[real]
    sq, slot = np.nonzero(segs[:, :, 0] >= 0)
    edges = segs[sq, slot]  # (m, 2)
    a = (origin[sq] + MIDPOINTS[edges[:, 0]]) * sp
    b = (origin[sq] + MIDPOINTS[edges[:, 1]]) * sp
    perimeter = np.sqrt(((a - b) ** 2).sum(axis=1)).sum()
    # orient each segment with the inside on a fixed side: test with a corner off the segment
    e0, e1 = EDGES[edges[:, 0]], EDGES[edges[:, 1]]
    p0_shared = (e0[:, 0] == e1[:, 0]) | (e0[:, 0] == e1[:, 1])
    q0_shared = (e0[:, 1] == e1[:, 0]) | (e0[:, 1] == e1[:, 1])
    # the corner cut off by the segment, or corner 0 for a segment across the square
    test = np.where(p0_shared, e0[:, 0], np.where(q0_shared, e0[:, 1], 0))
    inside = (real[sq] >> test) & 1
    point = (origin[sq] + CORNERS[test]) * sp
    d, t = b - a, point - a
    side = np.sign(d[:, 0] * t[:, 1] - d[:, 1] * t[:, 0]) * np.where(inside, 1, -1)
    cross = a[:, 0] * b[:, 1] - b[:, 0] * a[:, 1]
    surface = abs((side * cross).sum()) / 2.0
    vertices = []
    for axis in range(2):
        lo = [slice(None)] * 2
        hi = [slice(None)] * 2
        lo[axis] = slice(0, -1)
        hi[axis] = slice(1, None)
        cross_edges = np.argwhere(padded[tuple(lo)] != padded[tuple(hi)]) * 2
        cross_edges[:, axis] += 1
        vertices.append(cross_edges)
    return float(perimeter), float(surface), np.concatenate(vertices)


def compute(mask: np.ndarray, spacing: tuple[float, ...], settings: dict[str, Any]) -> dict[str, float]:
    """2D shape features of a bool ROI: 2D, or 3D and one voxel thick along ``force2Ddimension``."""
    if mask.ndim == 3:
        axis = settings.get("force2Ddimension", 0)
        if not settings.get("force2D", False):
            raise RadiomicsInputError("shape2D on a 3D ROI needs force2D=True (and a one-slice ROI)")
        if mask.shape[axis] > 1:
            raise RadiomicsInputError(
                f"shape2D needs a ROI one voxel thick along axis {axis}; this ROI spans {mask.shape[axis]} "
                "slices (pick one slice, or use shape for 3D)"
            )
        mask = np.squeeze(mask, axis=axis)
        spacing = tuple(s for k, s in enumerate(spacing) if k != axis)
    perimeter, surface, vertices = contour_coefficients(mask, spacing)
    phys = vertices * (np.asarray(spacing, dtype=float) / 2.0)
    diameter = np.sqrt(_max_distance(phys))
    eig = principal_moments(mask, spacing)
    n = int(np.count_nonzero(mask))
    out = {
        "MeshSurface": surface,
        "PixelSurface": n * float(np.prod(spacing)),
        "Perimeter": perimeter,
        "PerimeterSurfaceRatio": perimeter / surface,
        "Sphericity": (2 * np.sqrt(np.pi * surface)) / perimeter,
        "MaximumDiameter": diameter,
        "MajorAxisLength": np.sqrt(eig[1]) * 4 if eig[1] >= 0 else np.nan,
        "MinorAxisLength": np.sqrt(eig[0]) * 4 if eig[0] >= 0 else np.nan,
        "Elongation": np.sqrt(eig[0] / eig[1]) if eig[0] >= 0 and eig[1] > 0 else np.nan,
    }
    return {k: float(v) for k, v in out.items()}
