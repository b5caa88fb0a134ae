"""Grey Level Run Length Matrix (GLRLM) features, as pyradiomics 3.1.0 defines them.

A run is a maximal chain of ROI voxels with the same grey level along one of the 13
(3D) offsets; voxels outside the ROI end a run. Run lengths are computed for all voxels
at once by propagating "remaining length" backwards along the offset (as many numpy
passes as the longest run). An offset along which no line holds two ROI voxels (e.g. the
slice direction of a one-slice ROI) is dropped, as in pyradiomics. Features are computed
per angle and averaged; ``weightingNorm`` sums the matrices weighted by the offset length
in mm (``no_weighting``: 1).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .glcm import weights_for
from .neighbours import angles_for, pair_slices

__all__ = ["glrlm_matrix", "glrlm_features", "compute"]

FEATURES = (
    "ShortRunEmphasis", "LongRunEmphasis", "GrayLevelNonUniformity", "GrayLevelNonUniformityNormalized",
    "RunLengthNonUniformity", "RunLengthNonUniformityNormalized", "RunPercentage", "GrayLevelVariance",
    "RunVariance", "RunEntropy", "LowGrayLevelRunEmphasis", "HighGrayLevelRunEmphasis",
    "ShortRunLowGrayLevelEmphasis", "ShortRunHighGrayLevelEmphasis", "LongRunLowGrayLevelEmphasis",
    "LongRunHighGrayLevelEmphasis",
)


def _runs(levels: np.ndarray, mask: np.ndarray, offset: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Grey level and length of every run along ``offset``."""
    src, dst = pair_slices(levels.shape, offset)
    # link[v] is True when v + offset continues the run through v
    link = np.zeros(mask.shape, dtype=bool)
    link[src] = mask[src] & mask[dst] & (levels[src] == levels[dst])
    start = mask.copy()
    start[dst] &= ~link[src]  # v starts a run unless v - offset links to it
    remaining = mask.astype(np.int32)
    if link.any():
        while True:
            ahead = np.zeros_like(remaining)
            ahead[src] = remaining[dst]
            new = np.where(link, ahead + 1, remaining)
            if np.array_equal(new, remaining):
                break
            remaining = new
    return levels[start], remaining[start]


def _has_multi_element_line(mask: np.ndarray, offset: np.ndarray) -> bool:
    """True when some line along ``offset`` holds at least two ROI voxels (pyradiomics' check)."""
    k = 1
    while True:
        step = offset * k
        if np.any(np.abs(step) >= np.asarray(mask.shape)):
            return False
        src, dst = pair_slices(mask.shape, step)
        if np.any(mask[src] & mask[dst]):
            return True
        k += 1


def glrlm_matrix(levels: np.ndarray, mask: np.ndarray, settings: dict[str, Any], spacing: tuple[float, ...]
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """GLRLMs ``(Ng', Nr, angles)`` (grey levels present only), the run counts per angle, the levels."""
    present = np.unique(levels[mask])
    ng = int(present.max())
    nr = int(max(levels.shape))
    angles = angles_for(levels.shape, settings, bidirectional=False, distances=[1])
    p = np.zeros((ng, nr, len(angles)))
    for a, offset in enumerate(angles):
        if not _has_multi_element_line(mask, offset):
            continue
        gl, rl = _runs(levels, mask, offset)
        p[:, :, a] = np.bincount((gl.astype(np.int64) - 1) * nr + (rl - 1), minlength=ng * nr).reshape(ng, nr)
    p = p[present - 1]
    if settings["weightingNorm"] is not None:
        w = weights_for(angles, spacing, settings["weightingNorm"], gaussian=False)
        p = (p * w[None, None, :]).sum(axis=2, keepdims=True)
    n_runs = p.sum(axis=(0, 1))
    if p.shape[2] > 1:
        p = p[:, :, n_runs != 0]
        n_runs = n_runs[n_runs != 0]
    n_runs = n_runs.astype(float)
    n_runs[n_runs == 0] = np.nan
    return p, n_runs, present


def glrlm_features(p: np.ndarray, n_runs: np.ndarray, gray_levels: np.ndarray) -> dict[str, float]:
    """All GLRLM features from run-length matrices ``p`` (G, Nr, A) and runs per angle."""
    pr = p.sum(axis=0)  # (Nr, A)
    pg = p.sum(axis=1)  # (G, A)
    iv = gray_levels.astype(float)[:, None]
    jv = np.arange(1, p.shape[1] + 1, dtype=float)
    keep = pr.sum(axis=1) != 0
    p = p[:, keep]
    pr = pr[keep]
    jv = jv[keep][:, None]
    i2 = iv[:, :, None] ** 2
    j2 = jv[None, :, :] ** 2
    nm = np.nanmean
    nr = n_runs
    out: dict[str, float] = {}
    out["ShortRunEmphasis"] = nm((pr / jv**2).sum(axis=0) / nr)
    out["LongRunEmphasis"] = nm((pr * jv**2).sum(axis=0) / nr)
    out["GrayLevelNonUniformity"] = nm((pg**2).sum(axis=0) / nr)
    out["GrayLevelNonUniformityNormalized"] = nm((pg**2).sum(axis=0) / nr**2)
    out["RunLengthNonUniformity"] = nm((pr**2).sum(axis=0) / nr)
    out["RunLengthNonUniformityNormalized"] = nm((pr**2).sum(axis=0) / nr**2)
    n_vox = (pr * jv).sum(axis=0)
    out["RunPercentage"] = nm(nr / n_vox)
    pgn = pg / nr[None, :]
    u_i = (pgn * iv).sum(axis=0, keepdims=True)
    out["GrayLevelVariance"] = nm((pgn * (iv - u_i) ** 2).sum(axis=0))
    prn = pr / nr[None, :]
    u_j = (prn * jv).sum(axis=0, keepdims=True)
    out["RunVariance"] = nm((prn * (jv - u_j) ** 2).sum(axis=0))
    pn = p / nr[None, None, :]
    out["RunEntropy"] = nm(-(pn * np.log2(pn + np.spacing(1))).sum(axis=(0, 1)))
    out["LowGrayLevelRunEmphasis"] = nm((pg / iv**2).sum(axis=0) / nr)
    out["HighGrayLevelRunEmphasis"] = nm((pg * iv**2).sum(axis=0) / nr)
    out["ShortRunLowGrayLevelEmphasis"] = nm((p / (i2 * j2)).sum(axis=(0, 1)) / nr)
    out["ShortRunHighGrayLevelEmphasis"] = nm((p * i2 / j2).sum(axis=(0, 1)) / nr)
    out["LongRunLowGrayLevelEmphasis"] = nm((p * j2 / i2).sum(axis=(0, 1)) / nr)
    out["LongRunHighGrayLevelEmphasis"] = nm((p * i2 * j2).sum(axis=(0, 1)) / nr)
    return {k: float(v) for k, v in out.items()}


def compute(levels: np.ndarray, mask: np.ndarray, settings: dict[str, Any], spacing: tuple[float, ...]
            ) -> dict[str, float]:
    """GLRLM features of a discretised ROI."""
    p, n_runs, present = glrlm_matrix(levels, mask, settings, spacing)
    return glrlm_features(p, n_runs, present)
