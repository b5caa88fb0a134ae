"""First-order (intensity histogram and statistics) features, as pyradiomics 3.1.0 defines them.

Statistics use the grey values in the ROI (float64); ``Entropy`` and ``Uniformity`` use
the discretised histogram (``binWidth`` / ``binCount``). ``Energy``, ``TotalEnergy`` and
``RootMeanSquared`` add ``voxelArrayShift`` first. Percentiles are numpy's (linear).

IBSI notes: pyradiomics' ``Kurtosis`` is not the excess kurtosis (IBSI = this - 3);
``TotalEnergy`` is not an IBSI feature; IBSI computes energy without a shift.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["compute", "FEATURES"]

FEATURES = (
    "Energy", "TotalEnergy", "Entropy", "Minimum", "10Percentile", "90Percentile", "Maximum", "Mean",
    "Median", "InterquartileRange", "Range", "MeanAbsoluteDeviation", "RobustMeanAbsoluteDeviation",
    "RootMeanSquared", "Skewness", "Kurtosis", "Variance", "Uniformity",
)


def compute(image: np.ndarray, mask: np.ndarray, levels: np.ndarray, settings: dict[str, Any],
            spacing: tuple[float, ...]) -> dict[str, float]:
    """First-order features of the ROI.

    Parameters
    ----------
    image : numpy.ndarray
        Grey values (cropped ROI box).
    mask : numpy.ndarray
        bool ROI.
    levels : numpy.ndarray
        Discretised grey levels (same shape).
    settings : dict
        Resolved settings (``voxelArrayShift``).
    spacing : tuple of float
        Voxel spacing in mm (for ``TotalEnergy``).
    """
    x = image[mask].astype(float)
    shift = settings["voxelArrayShift"]
    _, counts = np.unique(levels[mask], return_counts=True)
    p = counts / float(counts.sum())
    eps = np.spacing(1)
    out: dict[str, float] = {}
    shifted = x + shift
    energy = np.sum(shifted**2)
    out["Energy"] = energy
    out["TotalEnergy"] = energy * np.multiply.reduce(np.asarray(spacing, dtype=float))
    out["Entropy"] = -np.sum(p * np.log2(p + eps))
    out["Minimum"] = np.min(x)
    p10, p25, p75, p90 = np.percentile(x, [10, 25, 75, 90])
    out["10Percentile"] = p10
    out["90Percentile"] = p90
    out["Maximum"] = np.max(x)
    mean = np.mean(x)
    out["Mean"] = mean
    out["Median"] = np.median(x)
    out["InterquartileRange"] = p75 - p25
    out["Range"] = np.max(x) - np.min(x)
    out["MeanAbsoluteDeviation"] = np.mean(np.abs(x - mean))
    robust = x[(x >= p10) & (x <= p90)]
    out["RobustMeanAbsoluteDeviation"] = np.mean(np.abs(robust - np.mean(robust)))
    out["RootMeanSquared"] = np.sqrt(energy / x.size)
    d = x - mean
    m2 = np.mean(d**2)
    m3 = np.mean(d**3)
    m4 = np.mean(d**4)
    out["Skewness"] = 0.0 if m2 == 0 else m3 / m2**1.5
    out["Kurtosis"] = 0.0 if m2 == 0 else m4 / m2**2.0
    out["Variance"] = np.std(x) ** 2
    out["Uniformity"] = np.sum(p**2)
    return {k: float(v) for k, v in out.items()}
