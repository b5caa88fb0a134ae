"""Brain tumour centres on MR FLAIR as points: the shipped tumour U-Net's map, its pieces, their centres.

The detector is the shipped ``brats-flair-tumour`` U-Net: its whole-tumour map is split into
connected pieces (26-connected), pieces under ``min_volume_ml`` are dropped, and each piece
becomes a point at its centre of mass (world mm), ranked by volume. A point's
``confidence`` is how sure the model is inside the piece: 1 minus the mean normalised
entropy of its class probabilities there (1 = certain, 0 = a coin toss). ``diameter_mm``
is the diameter of the ball of the piece's volume, so napari draws each point at the
tumour's size.

Leave-one-case-out on the 3 BraTS cases of ../shared/data (a model trained on the other
two finds the third; ``python scripts/tumour_centre_experiment.py``, figures in
``scripts/results/tumour_centres.json``): see the module's numbers in the README and the
shipped model's card.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

__all__ = ["TumourCentres", "tumour_centres", "centres_of_pieces"]


@dataclass
class TumourCentres:
    """Tumour centres, largest first, ready for a napari Points layer and a table.

    Attributes
    ----------
    index : numpy.ndarray
        ``(n, 3)`` voxel indices of the centres (numpy order, fractional).
    world : numpy.ndarray
        ``(n, 3)`` world coordinates in mm (numpy order).
    volume_ml : numpy.ndarray
        Each piece's volume.
    diameter_mm : numpy.ndarray
        The diameter of the ball of that volume.
    confidence : numpy.ndarray
        1 minus the piece's mean normalised entropy (0-1).
    """

    index: np.ndarray
    world: np.ndarray
    volume_ml: np.ndarray
    diameter_mm: np.ndarray
    confidence: np.ndarray

    def __len__(self) -> int:
        return int(self.index.shape[0])

    def table(self) -> dict[str, np.ndarray]:
        """``rank``, ``class``, ``confidence``, ``volume_ml``, ``diameter_mm``, voxel and world coordinates."""
        from ..point_table import position_columns

        return {"rank": np.arange(1, len(self) + 1), "class": np.array(["whole tumour"] * len(self)),
                "confidence": self.confidence, "volume_ml": self.volume_ml, "diameter_mm": self.diameter_mm,
                **position_columns(self.index, self.world)}

    def summary(self) -> str:
        if not len(self):
            return "no tumour found"
        return (f"{len(self)} tumour piece(s); the largest {self.volume_ml[0]:.1f} mL centred at "
                f"({', '.join(f'{v:.1f}' for v in self.world[0])}) mm, confidence {self.confidence[0]:.2f}")


def centres_of_pieces(mask: np.ndarray, spacing, *, min_volume_ml: float = 0.5,
                      unsure: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centres of mass (voxel index), volumes (mL) and confidences of a mask's pieces, largest first.

    Parameters
    ----------
    mask : numpy.ndarray
        Boolean 3D mask.
    spacing : sequence of float
        Voxel spacing in mm.
    min_volume_ml : float
        Smaller pieces are dropped.
    unsure : numpy.ndarray, optional
        Uncertainty 0-100 on the mask's grid; confidence = 1 - its mean / 100 in the piece
        (NaN without it).
    """
    pieces, count = ndimage.label(mask, structure=np.ones((3,) * mask.ndim, bool))
    if not count:
        return np.zeros((0, mask.ndim)), np.zeros(0), np.zeros(0)
    ids = np.arange(1, count + 1)
    voxel_ml = float(np.prod(spacing)) / 1000.0
    volumes = np.bincount(pieces.ravel(), minlength=count + 1)[1:] * voxel_ml
    keep = ids[volumes >= min_volume_ml]
    keep = keep[np.argsort(-volumes[keep - 1], kind="stable")]
    centres = np.array(ndimage.center_of_mass(mask, pieces, keep), float).reshape(-1, mask.ndim)
    confidence = (1.0 - ndimage.mean(unsure.astype(np.float32), pieces, keep) / 100.0 if unsure is not None
                  else np.full(len(keep), np.nan))
    return centres, volumes[keep - 1], np.asarray(confidence, float).reshape(-1)


def tumour_centres(volume, *, min_volume_ml: float = 0.5, max_tumours: int = 10, progress=None,
                   cancel=None) -> TumourCentres:
    """Brain tumour centres on a FLAIR volume (the ``brain_tumour_centres`` operation).

    Parameters
    ----------
    volume : Volume
        A brain MR FLAIR volume (skull-stripped, as the shipped model was trained).
    min_volume_ml : float
        Pieces of the tumour map smaller than this are not reported.
    max_tumours : int
        At most this many points, the largest pieces.
    progress, cancel : callable, optional
        Progress fraction; cancel request (checked between slices).

    Returns
    -------
    TumourCentres
    """
    from ..learn.apply import predict_volume
    from ..learn.registry import shipped_model

    if volume.spatial_ndim != 3:
        raise ValueError("tumour centres: give a brain MR volume (3D), not a single picture")
    network, card = shipped_model("brats-flair-tumour")
    labels, unsure = predict_volume(network, card, volume, uncertainty=True, progress=progress, cancel=cancel)
    index, volume_ml, confidence = centres_of_pieces(labels.array == 1, volume.spacing, min_volume_ml=min_volume_ml,
                                                     unsure=unsure.array)
    index, volume_ml, confidence = index[:max_tumours], volume_ml[:max_tumours], confidence[:max_tumours]
    world = volume.index_to_world(index).reshape(-1, 3)
    diameter = np.cbrt(6.0 * volume_ml * 1000.0 / np.pi)
    return TumourCentres(index, world, volume_ml, diameter, confidence)
