"""Grey Level Size Zone Matrix (GLSZM) features, as pyradiomics 3.1.0 defines them.

Zones are connected components of equal grey level, 26-connected in 3D (8-connected
in-plane with ``force2D``), found with ``scipy.ndimage.label`` once per grey level.
``ZonePercentage`` divides by the number of ROI voxels.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage

__all__ = ["glszm_matrix", "glszm_features", "compute", "zone_structure"]

FEATURES = (
    "SmallAreaEmphasis", "LargeAreaEmphasis", "GrayLevelNonUniformity", "GrayLevelNonUniformityNormalized",
    "SizeZoneNonUniformity", "SizeZoneNonUniformityNormalized", "ZonePercentage", "GrayLevelVariance",
    "ZoneVariance", "ZoneEntropy", "LowGrayLevelZoneEmphasis", "HighGrayLevelZoneEmphasis",
    "SmallAreaLowGrayLevelEmphasis", "SmallAreaHighGrayLevelEmphasis", "LargeAreaLowGrayLevelEmphasis",
    "LargeAreaHighGrayLevelEmphasis",
)


def zone_structure(settings: dict[str, Any]) -> np.ndarray:
    """3x3x3 connectivity: all 26 neighbours, or the 8 in-plane ones with ``force2D``."""
    structure = np.ones((3, 3, 3), dtype=bool)
    if settings["force2D"]:
        axis = settings["force2Ddimension"]
        index = [slice(None)] * 3
        for side in (0, 2):
            index[axis] = side
            structure[tuple(index)] = False
    return structure


def glszm_matrix(levels: np.ndarray, mask: np.ndarray, settings: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """GLSZM ``(Ng', largest zone)`` over the grey levels present, and those levels."""
    present = np.unique(levels[mask])
    structure = zone_structure(settings)
    rows = []
    for gl in present:
        labels, n = ndimage.label(mask & (levels == gl), structure=structure)
        sizes = np.bincount(labels.ravel())[1:]
        rows.append(np.bincount(sizes)[1:] if n else np.zeros(0, dtype=np.int64))
    width = max(1, max(len(r) for r in rows))
    p = np.zeros((len(present), width))
    for k, row in enumerate(rows):
        p[k, : len(row)] = row
    return p, present


def glszm_features(p: np.ndarray, gray_levels: np.ndarray, n_voxels: int) -> dict[str, float]:
    """All GLSZM features from the zone matrix ``p`` (G, S)."""
    nz = p.sum()
    if nz == 0:
        nz = 1
    ps = p.sum(axis=0)
    pg = p.sum(axis=1)
    iv = gray_levels.astype(float)
    jv = np.arange(1, p.shape[1] + 1, dtype=float)
    keep = ps != 0
    p = p[:, keep]
    jv = jv[keep]
    ps = ps[keep]
    out: dict[str, float] = {}
    out["SmallAreaEmphasis"] = np.sum(ps / jv**2) / nz
    out["LargeAreaEmphasis"] = np.sum(ps * jv**2) / nz
    out["GrayLevelNonUniformity"] = np.sum(pg**2) / nz
    out["GrayLevelNonUniformityNormalized"] = np.sum(pg**2) / nz**2
    out["SizeZoneNonUniformity"] = np.sum(ps**2) / nz
    out["SizeZoneNonUniformityNormalized"] = np.sum(ps**2) / nz**2
    out["ZonePercentage"] = nz / n_voxels
    pgn = pg / nz
    u_i = np.sum(pgn * iv)
    out["GrayLevelVariance"] = np.sum(pgn * (iv - u_i) ** 2)
    psn = ps / nz
    u_j = np.sum(psn * jv)
    out["ZoneVariance"] = np.sum(psn * (jv - u_j) ** 2)
    pn = p / nz
    out["ZoneEntropy"] = -np.sum(pn * np.log2(pn + np.spacing(1)))
    out["LowGrayLevelZoneEmphasis"] = np.sum(pg / iv**2) / nz
    out["HighGrayLevelZoneEmphasis"] = np.sum(pg * iv**2) / nz
    i2 = iv[:, None] ** 2
    j2 = jv[None, :] ** 2
    out["SmallAreaLowGrayLevelEmphasis"] = np.sum(p / (i2 * j2)) / nz
    out["SmallAreaHighGrayLevelEmphasis"] = np.sum(p * i2 / j2) / nz
    out["LargeAreaLowGrayLevelEmphasis"] = np.sum(p * j2 / i2) / nz
    out["LargeAreaHighGrayLevelEmphasis"] = np.sum(p * i2 * j2) / nz
    return {k: float(v) for k, v in out.items()}


def compute(levels: np.ndarray, mask: np.ndarray, settings: dict[str, Any], spacing: tuple[float, ...]
            ) -> dict[str, float]:
    """GLSZM features of a discretised ROI."""
    p, present = glszm_matrix(levels, mask, settings)
    return glszm_features(p, present, int(np.count_nonzero(mask)))
