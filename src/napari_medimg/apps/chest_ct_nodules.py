"""Lung nodule candidates on chest CT: multi-scale blob detection in mm inside the lungs.

The classical baseline of nodule detection: the scale-normalised Laplacian of Gaussian
(:func:`napari_medimg.analysis.edges.laplacian_of_gaussian`, sigma in mm, so anisotropic
slices are handled) at scales for balls of ``min_diameter_mm`` to ``max_diameter_mm``; a
candidate is a maximum of the strongest response over scales and space (one per
``min_diameter_mm`` neighbourhood), inside the lungs (:func:`.chest_ct.segment_lungs`, whose
holes are filled, so nodules within them count), denser than ``min_hu`` at its centre. Its
diameter is the best scale's ball (``2 sqrt(3) sigma``) and its score the response, in HU.
Candidates are ranked by score: a reader looks at the first ones, a learned false-positive
reduction would re-rank them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

__all__ = ["NoduleCandidates", "nodule_candidates"]


@dataclass
class NoduleCandidates:
    """Ranked nodule candidates, ready for a napari Points layer (``index`` through the layer) and a table.

    Attributes
    ----------
    index : numpy.ndarray
        ``(n, 3)`` voxel indices (numpy order), best first.
    world : numpy.ndarray
        ``(n, 3)`` world coordinates in mm (numpy order).
    diameter_mm : numpy.ndarray
        The best scale's ball diameter.
    score : numpy.ndarray
        Scale-normalised LoG response (HU), higher is more blob-like.
    hu : numpy.ndarray
        The CT value at the candidate.
    """

    index: np.ndarray
    world: np.ndarray
    diameter_mm: np.ndarray
    score: np.ndarray
    hu: np.ndarray

    def __len__(self) -> int:
        return int(self.index.shape[0])

    def table(self) -> dict[str, np.ndarray]:
        """``rank``, ``score``, ``diameter_mm``, ``hu``, ``z``/``row``/``col`` and ``z_mm``/``y_mm``/``x_mm``."""
        from ..point_table import position_columns

        return {"rank": np.arange(1, len(self) + 1), "score": self.score, "diameter_mm": self.diameter_mm,
                "hu": self.hu, **position_columns(self.index, self.world)}

    def summary(self) -> str:
        if not len(self):
            return "no candidate"
        return (f"{len(self)} candidates; the first: {self.diameter_mm[0]:.1f} mm, score {self.score[0]:.0f} "
                f"at ({', '.join(f'{v:.1f}' for v in self.world[0])}) mm")


def nodule_candidates(volume, *, min_diameter_mm: float = 5.0, max_diameter_mm: float = 30.0, scales: int = 6,
                      min_hu: float = -400.0, max_candidates: int = 30, progress=None, cancel=None) -> NoduleCandidates:
    """Nodule candidates of a chest CT, best first.

    Parameters
    ----------
    volume : Volume
        A CT in HU (3D).
    min_diameter_mm, max_diameter_mm : float
        Sizes looked for (balls of these diameters), and the smallest distance between two
        candidates (``min_diameter_mm``).
    scales : int
        Scales between them (geometric).
    min_hu : float
        A candidate's centre must be denser than this (vessels and nodules: soft tissue).
    max_candidates : int
        Keep the best this many.
    progress, cancel : callable, optional
        Progress (0 to 1) and cancel callbacks.

    Returns
    -------
    NoduleCandidates
    """
    from ..analysis.edges import laplacian_of_gaussian
    from ..progress import check_cancel, sub_progress
    from .chest_ct import segment_lungs

    hu = np.asarray(volume.array)
    if hu.ndim != 3:
        raise ValueError(f"nodule candidates need a 3D CT, got an image of shape {hu.shape}")
    if not 0 < min_diameter_mm <= max_diameter_mm:
        raise ValueError(f"need 0 < min_diameter_mm <= max_diameter_mm, got {min_diameter_mm}, {max_diameter_mm}")
    spacing = np.asarray(volume.spacing, float)
    check_cancel(cancel)
    lungs = segment_lungs(hu, spacing=tuple(spacing)) > 0
    if not lungs.any():
        raise ValueError("no lung found in this CT (is it in HU, and does it show the chest?)")
    diameters = np.geomspace(min_diameter_mm, max_diameter_mm, int(scales))
    sigmas = diameters / (2 * np.sqrt(3.0))  # a ball of radius r answers most at sigma = r / sqrt(3)
    best = np.full(hu.shape, -np.inf, np.float32)
    best_scale = np.zeros(hu.shape, np.uint8)
    for i, sigma in enumerate(sigmas):
        check_cancel(cancel)
        step = sub_progress(progress, 0.05 + 0.9 * i / len(sigmas), 0.05 + 0.9 * (i + 1) / len(sigmas))
        response = -laplacian_of_gaussian(hu.astype(np.float32, copy=False), sigma=float(sigma),
                                          spacing=tuple(spacing), progress=step, cancel=cancel)
        better = response > best
        best[better] = response[better]
        best_scale[better] = i
        del response, better
    check_cancel(cancel)
    footprint = np.maximum(1, np.round(min_diameter_mm / spacing)).astype(int) | 1  # odd sizes, about one nodule
    peaks = (best == ndimage.maximum_filter(best, size=tuple(footprint))) & lungs & (hu > min_hu) & (best > 0)
    index = np.argwhere(peaks)
    scores = best[peaks]
    order = np.argsort(-scores, kind="stable")
    index, scores = index[order], scores[order]
    sizes = diameters[best_scale[tuple(index.T)]] if len(index) else np.zeros(0)
    keep = _suppress(index * spacing, sizes, min_diameter_mm, int(max_candidates))
    index, scores, sizes = index[keep], scores[keep], sizes[keep]
    if progress is not None:
        progress(1.0)
    return NoduleCandidates(index.astype(np.float64), np.asarray(volume.index_to_world(index.astype(np.float64))),
                            sizes, scores.astype(np.float64), hu[tuple(index.T)].astype(np.float64))


def _suppress(positions_mm: np.ndarray, diameters: np.ndarray, min_distance: float, limit: int) -> list[int]:
    """Greedy non-maximum suppression of ranked peaks: a peak within a kept one's radius (or
    ``min_distance``) is the same blob; returns the kept rows, at most ``limit``."""
    kept: list[int] = []
    for i, position in enumerate(positions_mm):
        if len(kept) == limit:
            break
        if kept:
            distance = np.linalg.norm(positions_mm[kept] - position, axis=1)
            if np.any(distance < np.maximum(diameters[kept] / 2, min_distance)):
                continue
        kept.append(i)
    return kept
