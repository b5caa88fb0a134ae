"""Grey Level Co-occurrence Matrix (GLCM) features, as pyradiomics 3.1.0 defines them.

One matrix per offset ("angle"; 13 in 3D for distance 1), counted with ``numpy.bincount``
of paired grey levels, made symmetric (``symmetricalGLCM``), normalised per angle; each
feature is computed per angle and averaged (``nanmean``). With ``weightingNorm`` the
matrices are weighted by ``exp(-d**2)`` (d: the offset's length in mm under that norm;
``no_weighting``: 1) and summed into one matrix first.

IBSI notes: pyradiomics' ``Idmn``/``Idn`` normalise by the largest grey level ``Ng``
(IBSI by the number of grey levels), ``Imc2`` is IBSI's IMC2, ``SumSquares`` is IBSI's
joint variance, ``MCC`` is not in IBSI.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .neighbours import angles_for, pair_slices

__all__ = ["glcm_matrix", "glcm_features", "compute"]

FEATURES = (
    "Autocorrelation", "JointAverage", "ClusterProminence", "ClusterShade", "ClusterTendency",
    "Contrast", "Correlation", "DifferenceAverage", "DifferenceEntropy", "DifferenceVariance",
    "JointEnergy", "JointEntropy", "Imc1", "Imc2", "Idm", "MCC", "Idmn", "Id", "Idn",
    "InverseVariance", "MaximumProbability", "SumAverage", "SumEntropy", "SumSquares",
)

EPS = np.spacing(1)


def weights_for(angles: np.ndarray, spacing: tuple[float, ...], norm: str, *, gaussian: bool) -> np.ndarray:
    """Distance weights per angle (pyradiomics: GLCM uses exp(-d**2), GLRLM d itself)."""
    step = np.abs(angles) * np.asarray(spacing)[None, :]
    if norm == "infinity":
        d = step.max(axis=1)
        return np.exp(-d**2) if gaussian else d
    if norm == "euclidean":
        d2 = (step**2).sum(axis=1)
        return np.exp(-d2) if gaussian else np.sqrt(d2)
    if norm == "manhattan":
        d = step.sum(axis=1)
        return np.exp(-d**2) if gaussian else d
    return np.ones(len(angles))


def glcm_matrix(levels: np.ndarray, mask: np.ndarray, settings: dict[str, Any], spacing: tuple[float, ...]
                ) -> tuple[np.ndarray, np.ndarray]:
    """Normalised GLCMs ``(Ng', Ng', angles)`` over the grey levels present, and those levels.

    Parameters
    ----------
    levels : numpy.ndarray
        Discretised grey levels (1..Ng inside the ROI, 0 outside), numpy order.
    mask : numpy.ndarray
        bool ROI.
    settings : dict
        Resolved settings (``distances``, ``force2D``, ``symmetricalGLCM``, ``weightingNorm``).
    spacing : tuple of float
        Voxel spacing (numpy order), used for distance weighting only.
    """
    present = np.unique(levels[mask])
    ng = int(present.max())
    angles = angles_for(levels.shape, settings, bidirectional=False)
    p = np.zeros((ng, ng, len(angles)))
    for a, offset in enumerate(angles):
        src, dst = pair_slices(levels.shape, offset)
        both = mask[src] & mask[dst]
        index = (levels[src][both].astype(np.int64) - 1) * ng + (levels[dst][both] - 1)
        p[:, :, a] = np.bincount(index, minlength=ng * ng).reshape(ng, ng)
    keep = present - 1
    p = p[np.ix_(keep, keep)]
    if settings["symmetricalGLCM"]:
        p = p + p.transpose(1, 0, 2)
    if settings["weightingNorm"] is not None:
        w = weights_for(angles, spacing, settings["weightingNorm"], gaussian=True)
        p = (p * w[None, None, :]).sum(axis=2, keepdims=True)
    sums = p.sum(axis=(0, 1))
    if p.shape[2] > 1:
        p = p[:, :, sums != 0]
        sums = sums[sums != 0]
    sums = sums.astype(float)
    sums[sums == 0] = np.nan
    return p / sums[None, None, :], present


def glcm_features(p: np.ndarray, gray_levels: np.ndarray, ng: int) -> dict[str, float]:
    """All GLCM features from normalised matrices ``p`` (G, G, A); ``ng`` is the largest level."""
    g = gray_levels.astype(float)
    i = g[:, None, None]
    j = g[None, :, None]
    n_angles = p.shape[2]
    px = p.sum(axis=1)  # (G, A)
    py = p.sum(axis=0)  # (G, A)
    ux = (i * p).sum(axis=(0, 1))  # (A,)
    uy = (j * p).sum(axis=(0, 1))
    k_sum = np.arange(2, ng * 2 + 1, dtype=float)
    k_diff = np.arange(0, ng, dtype=float)
    flat = p.reshape(-1, n_angles)
    sum_index = (g[:, None] + g[None, :]).astype(np.int64).ravel() - 2
    diff_index = np.abs(g[:, None] - g[None, :]).astype(np.int64).ravel()
    p_add = np.zeros((len(k_sum), n_angles))
    np.add.at(p_add, sum_index, flat)
    p_sub = np.zeros((len(k_diff), n_angles))
    np.add.at(p_sub, diff_index, flat)
    hxy = -(p * np.log2(p + EPS)).sum(axis=(0, 1))
    out: dict[str, float] = {}
    nanmean = np.nanmean
    out["Autocorrelation"] = nanmean((p * (i * j)).sum(axis=(0, 1)))
    out["JointAverage"] = float(np.mean(ux))
    centred = (i + j) - ux[None, None, :] - uy[None, None, :]
    out["ClusterProminence"] = nanmean((p * centred**4).sum(axis=(0, 1)))
    out["ClusterShade"] = nanmean((p * centred**3).sum(axis=(0, 1)))
    out["ClusterTendency"] = nanmean((p * centred**2).sum(axis=(0, 1)))
    out["Contrast"] = nanmean((p * np.abs(i - j) ** 2).sum(axis=(0, 1)))
    sigx = (p * (i - ux) ** 2).sum(axis=(0, 1)) ** 0.5
    sigy = (p * (j - uy) ** 2).sum(axis=(0, 1)) ** 0.5
    corm = (p * (i - ux) * (j - uy)).sum(axis=(0, 1))
    corr = corm / (sigx * sigy + EPS)
    corr[sigx * sigy == 0] = 1
    out["Correlation"] = nanmean(corr)
    kd = k_diff[:, None]
    diff_avg = (kd * p_sub).sum(axis=0)
    out["DifferenceAverage"] = nanmean(diff_avg)
    out["DifferenceEntropy"] = nanmean(-(p_sub * np.log2(p_sub + EPS)).sum(axis=0))
    out["DifferenceVariance"] = nanmean((p_sub * (kd - diff_avg[None, :]) ** 2).sum(axis=0))
    out["JointEnergy"] = nanmean((p**2).sum(axis=(0, 1)))
    out["JointEntropy"] = nanmean(hxy)
    hx = -(px * np.log2(px + EPS)).sum(axis=0)
    hy = -(py * np.log2(py + EPS)).sum(axis=0)
    pxpy = px[:, None, :] * py[None, :, :]
    hxy1 = -(p * np.log2(pxpy + EPS)).sum(axis=(0, 1))
    div = np.fmax(hx, hy)
    imc1 = hxy - hxy1
    nz = div != 0
    imc1[nz] /= div[nz]
    imc1[~nz] = 0
    out["Imc1"] = nanmean(imc1)
    hxy2 = -(pxpy * np.log2(pxpy + EPS)).sum(axis=(0, 1))
    with np.errstate(invalid="ignore"):
        imc2 = (1 - np.e ** (-2 * (hxy2 - hxy))) ** 0.5
    imc2[hxy2 == hxy] = 0
    out["Imc2"] = nanmean(imc2)
    out["Idm"] = nanmean((p_sub / (1 + kd**2)).sum(axis=0))
    out["MCC"] = _mcc(p, px, py)
    out["Idmn"] = nanmean((p_sub / (1 + (kd**2) / (ng**2))).sum(axis=0))
    out["Id"] = nanmean((p_sub / (1 + kd)).sum(axis=0))
    out["Idn"] = nanmean((p_sub / (1 + (kd / ng))).sum(axis=0))
    out["InverseVariance"] = nanmean((p_sub[1:] / kd[1:] ** 2).sum(axis=0))
    out["MaximumProbability"] = nanmean(p.max(axis=(0, 1)))
    out["SumAverage"] = nanmean((k_sum[:, None] * p_add).sum(axis=0))
    out["SumEntropy"] = nanmean(-(p_add * np.log2(p_add + EPS)).sum(axis=0))
    out["SumSquares"] = nanmean((p * (i - ux) ** 2).sum(axis=(0, 1)))
    return {k: float(v) for k, v in out.items()}


def _mcc(p: np.ndarray, px: np.ndarray, py: np.ndarray) -> float:
    if p.shape[0] < 2:
        return 1.0  # flat region: a 1x1 matrix has one eigenvalue
    # Q(i, j) = sum_k p(i, k) p(j, k) / (px(i) py(k) + eps)
    a = p / (px[:, None, :] * py[None, :, :] + EPS)
    q = np.einsum("ika,jka->aij", a, p)
    eig = np.linalg.eigvals(q)
    eig.sort(axis=-1)
    return float(np.nanmean(np.sqrt(eig[:, -2])).real)


def compute(levels: np.ndarray, mask: np.ndarray, settings: dict[str, Any], spacing: tuple[float, ...]
            ) -> dict[str, float]:
    """GLCM features of a discretised ROI (see :func:`glcm_matrix`)."""
    p, present = glcm_matrix(levels, mask, settings, spacing)
    return glcm_features(p, present, int(present.max()))
