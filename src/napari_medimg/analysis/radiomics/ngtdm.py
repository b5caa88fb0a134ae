"""Neighbouring Grey Tone Difference Matrix (NGTDM) features, as pyradiomics 3.1.0 defines them.

For every ROI voxel, the mean grey level of its ROI neighbours (26 in 3D for distance 1,
in-plane only with ``force2D``) is subtracted from its own; ``s_i`` sums the absolute
differences per grey level, ``n_i`` counts the voxels (a voxel without ROI neighbours
counts with difference 0, as in pyradiomics' C code).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .neighbours import angles_for, pair_slices

__all__ = ["ngtdm_matrix", "ngtdm_features", "compute"]

FEATURES = ("Coarseness", "Contrast", "Busyness", "Complexity", "Strength")


def ngtdm_matrix(levels: np.ndarray, mask: np.ndarray, settings: dict[str, Any]) -> np.ndarray:
    """Rows ``(n_i, s_i, i)`` for the grey levels present."""
    ng = int(levels[mask].max())
    angles = angles_for(levels.shape, settings, bidirectional=True)
    count = np.zeros(levels.shape, dtype=np.int32)
    total = np.zeros(levels.shape, dtype=np.float64)
    values = levels.astype(np.float64)
    for offset in angles:
        src, dst = pair_slices(levels.shape, offset)
        both = mask[src] & mask[dst]
        count[src] += both
        total[src] += np.where(both, values[dst], 0.0)
    c = count[mask]
    own = values[mask]
    diff = np.zeros(c.shape)
    has = c > 0
    diff[has] = np.abs(own[has] - total[mask][has] / c[has])
    gl = levels[mask].astype(np.int64) - 1
    n = np.bincount(gl, minlength=ng).astype(float)
    s = np.bincount(gl, weights=diff, minlength=ng)
    table = np.stack([n, s, np.arange(1, ng + 1, dtype=float)], axis=1)
    return table[n != 0]


def ngtdm_features(table: np.ndarray) -> dict[str, float]:
    """All NGTDM features from :func:`ngtdm_matrix`."""
    nvp = np.sum(table[:, 0])
    p_i = table[:, 0] / nvp
    s_i = table[:, 1]
    i = table[:, 2]
    ngp = table.shape[0]
    out: dict[str, float] = {}
    coarse = np.sum(p_i * s_i)
    out["Coarseness"] = 1000000.0 if coarse == 0 else 1 / coarse
    if ngp <= 1:
        out["Contrast"] = 0.0
    else:
        out["Contrast"] = (np.sum(p_i[:, None] * p_i[None, :] * (i[:, None] - i[None, :]) ** 2) / (ngp * (ngp - 1))) * (
            np.sum(s_i) / nvp)
    ip = i * p_i
    absdiff = np.sum(np.abs(ip[:, None] - ip[None, :]))
    out["Busyness"] = 0.0 if absdiff == 0 else np.sum(p_i * s_i) / absdiff
    ps = p_i * s_i
    out["Complexity"] = np.sum(np.abs(i[:, None] - i[None, :]) * ((ps[:, None] + ps[None, :]) / (p_i[:, None] + p_i[None, :]))) / nvp
    sum_s = np.sum(s_i)
    out["Strength"] = 0.0 if sum_s == 0 else np.sum((p_i[:, None] + p_i[None, :]) * (i[:, None] - i[None, :]) ** 2) / sum_s
    return {k: float(v) for k, v in out.items()}


def compute(levels: np.ndarray, mask: np.ndarray, settings: dict[str, Any], spacing: tuple[float, ...]
            ) -> dict[str, float]:
    """NGTDM features of a discretised ROI."""
    return ngtdm_features(ngtdm_matrix(levels, mask, settings))
