"""Grey Level Dependence Matrix (GLDM) features, as pyradiomics 3.1.0 defines them.

A neighbour (26 in 3D for distance 1, in-plane only with ``force2D``) inside the ROI is
dependent when its grey level differs by at most ``gldm_a``; ``P(i, j)`` counts voxels of
level ``i`` with ``j - 1`` dependent neighbours.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .neighbours import angles_for, pair_slices

__all__ = ["gldm_matrix", "gldm_features", "compute"]

FEATURES = (
    "SmallDependenceEmphasis", "LargeDependenceEmphasis", "GrayLevelNonUniformity",
    "DependenceNonUniformity", "DependenceNonUniformityNormalized", "GrayLevelVariance",
    "DependenceVariance", "DependenceEntropy", "LowGrayLevelEmphasis", "HighGrayLevelEmphasis",
    "SmallDependenceLowGrayLevelEmphasis", "SmallDependenceHighGrayLevelEmphasis",
    "LargeDependenceLowGrayLevelEmphasis", "LargeDependenceHighGrayLevelEmphasis",
)


def gldm_matrix(levels: np.ndarray, mask: np.ndarray, settings: dict[str, Any]
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """GLDM without empty rows / columns, its dependence values (j = dependents + 1), the levels."""
    present = np.unique(levels[mask])
    ng = int(present.max())
    angles = angles_for(levels.shape, settings, bidirectional=True)
    alpha = settings["gldm_a"]
    dependents = np.zeros(levels.shape, dtype=np.int32)
    signed = levels.astype(np.int64)
    for offset in angles:
        src, dst = pair_slices(levels.shape, offset)
        dep = mask[src] & mask[dst] & (np.abs(signed[src] - signed[dst]) <= alpha)
        dependents[src] += dep
    nd = 2 * len(angles) + 1
    index = (signed[mask] - 1) * nd + dependents[mask]
    p = np.bincount(index, minlength=ng * nd).reshape(ng, nd).astype(float)
    jv = np.arange(1, nd + 1, dtype=float)
    pd = p.sum(axis=0)
    pg = p.sum(axis=1)
    p = p[pg != 0][:, pd != 0]
    return p, jv[pd != 0], present


def gldm_features(p: np.ndarray, jv: np.ndarray, gray_levels: np.ndarray, n_voxels: int) -> dict[str, float]:
    """All GLDM features; ``n_voxels`` (Np) normalises, as in pyradiomics."""
    pd = p.sum(axis=0)
    pg = p.sum(axis=1)
    iv = gray_levels.astype(float)
    nz = float(n_voxels)
    out: dict[str, float] = {}
    out["SmallDependenceEmphasis"] = np.sum(pd / jv**2) / nz
    out["LargeDependenceEmphasis"] = np.sum(pd * jv**2) / nz
    out["GrayLevelNonUniformity"] = np.sum(pg**2) / nz
    out["DependenceNonUniformity"] = np.sum(pd**2) / nz
    out["DependenceNonUniformityNormalized"] = np.sum(pd**2) / nz**2
    pgn = pg / nz
    u_i = np.sum(pgn * iv)
    out["GrayLevelVariance"] = np.sum(pgn * (iv - u_i) ** 2)
    pdn = pd / nz
    u_j = np.sum(pdn * jv)
    out["DependenceVariance"] = np.sum(pdn * (jv - u_j) ** 2)
    pn = p / nz
    out["DependenceEntropy"] = -np.sum(pn * np.log2(pn + np.spacing(1)))
    out["LowGrayLevelEmphasis"] = np.sum(pg / iv**2) / nz
    out["HighGrayLevelEmphasis"] = np.sum(pg * iv**2) / nz
    i2 = iv[:, None] ** 2
    j2 = jv[None, :] ** 2
    out["SmallDependenceLowGrayLevelEmphasis"] = np.sum(p / (i2 * j2)) / nz
    out["SmallDependenceHighGrayLevelEmphasis"] = np.sum(p * i2 / j2) / nz
    out["LargeDependenceLowGrayLevelEmphasis"] = np.sum(p * j2 / i2) / nz
    out["LargeDependenceHighGrayLevelEmphasis"] = np.sum(p * i2 * j2) / nz
    return {k: float(v) for k, v in out.items()}


def compute(levels: np.ndarray, mask: np.ndarray, settings: dict[str, Any], spacing: tuple[float, ...]
            ) -> dict[str, float]:
    """GLDM features of a discretised ROI."""
    p, jv, present = gldm_matrix(levels, mask, settings)
    return gldm_features(p, jv, present, int(np.count_nonzero(mask)))
