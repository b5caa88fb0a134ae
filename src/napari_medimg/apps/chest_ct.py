"""Chest CT recipes."""

from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy import ndimage

from ..processing import morphology, segment

__all__ = ["segment_lungs", "LUNG_HU_MAX", "GAS_HU_MAX"]

# Aerated lung is below -400 HU; pure gas (bowel, outside air) has a median below -950 HU,
# while lung parenchyma sits around -800 HU.
LUNG_HU_MAX = -400.0
GAS_HU_MAX = -950.0


def segment_lungs(hu: np.ndarray, *, spacing: Sequence[float] | None = None, closing_mm: float = 3.0) -> np.ndarray:
    """Both lungs of a chest or abdominal CT by threshold and clean-up.

    Air below ``LUNG_HU_MAX`` that does not touch the in-plane border (outside air),
    minus pieces whose median is below ``GAS_HU_MAX`` (bowel gas), the two largest
    pieces, closed with a ball of ``closing_mm`` and with holes filled per slice
    (vessels and nodules inside the lungs).

    Parameters
    ----------
    hu : numpy.ndarray
        CT in Hounsfield units, (z, y, x).
    spacing : sequence of float, optional
        Voxel spacing in mm (numpy order).
    closing_mm : float
        Radius of the closing in mm.

    Returns
    -------
    numpy.ndarray
        uint8 mask of the lungs (airways that touch them included).

    Notes
    -----
    Measured: Dice 0.965 against the union of TotalSegmentator's lung lobes on its
    example CT; 2907 mL on pyradiomics' lung1 (tests/apps/test_recipes.py).
    """
    air = segment.threshold_range(hu, lower=-3000.0, upper=LUNG_HU_MAX)
    inner = segment.clear_border(air)
    if inner.max() == 0:
        return np.zeros(hu.shape, np.uint8)
    index = np.arange(1, int(inner.max()) + 1)
    medians = np.asarray(ndimage.median(hu, inner, index))
    parenchyma = np.isin(inner, index[medians > GAS_HU_MAX])
    lungs = segment.keep_largest(parenchyma, count=2) != 0
    lungs = morphology.binary_closing(lungs, radius=closing_mm, spacing=spacing)
    return morphology.fill_holes(lungs, per_slice=True)
