"""Chest radiograph landmarks and the cardiothoracic ratio, from masks or from the shipped detector.

Eight landmarks on a frontal radiograph (patient's right on the image's left), defined from a
lung / heart labelling (1 right lung, 2 left lung, 3 heart region) by :func:`landmarks_from_labels`:

- right and left lung apex: the top of each lung;
- right and left costophrenic angle: each lung's lowest lateral corner (the point furthest
  down and out along the 45 degree diagonal);
- heart right and left border: the widest horizontal extent of the heart region, in its lower
  part (below 35 % of its height, where the heart, not the upper mediastinum, is widest);
- thorax right and left: the most lateral points of the lungs (the inner rib margins).

The cardiothoracic ratio is the heart's width over the thorax's (horizontal distances).

On ``../shared/data/xray/cxr_lungs_covid`` the heart region (label 3) is the cardiomediastinum
*outside* the lung masks, which include lung behind the heart: its borders lie medial to the
heart silhouette and, low down, it spreads along the diaphragm. The heart-border landmarks are
therefore poorly defined there, and the ratio (0.14-0.60 over those masks) is not a clinical
cardiothoracic ratio; the detector learns and is scored on the same definition (figures in
its card: the lung landmarks are found best).

The shipped detector ``cxr-landmarks`` (:mod:`napari_medimg.learn.landmarks`) finds them on a
new radiograph (:func:`detect_chest_landmarks`), with a confidence per point.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["LANDMARKS", "LANDMARK_MODEL", "landmarks_from_labels", "cardiothoracic_ratio", "ChestLandmarks",
           "detect_chest_landmarks"]

#: The landmarks, in the detector's channel order.
LANDMARKS = ("right lung apex", "left lung apex", "right costophrenic angle", "left costophrenic angle",
             "heart right border", "heart left border", "thorax right", "thorax left")
#: The shipped detector.
LANDMARK_MODEL = "cxr-landmarks"
_HEART_FROM = 0.35  # the heart's borders are looked for below this fraction of its height


def _mean_point(rows: np.ndarray, cols: np.ndarray, pick: np.ndarray) -> np.ndarray:
    return np.array([rows[pick].mean(), cols[pick].mean()])


def landmarks_from_labels(labels: np.ndarray) -> np.ndarray:
    """The eight landmarks of a lung / heart labelling, ``(8, 2)`` (row, col); NaN where a structure is missing.

    Parameters
    ----------
    labels : numpy.ndarray
        2D labels: 1 right lung (image left), 2 left lung, 3 heart region; other values ignored.
    """
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ValueError(f"chest landmarks need a 2D labelling, got shape {labels.shape}")
    out = np.full((len(LANDMARKS), 2), np.nan)
    for side, value in ((0, 1), (1, 2)):
        rows, cols = np.nonzero(labels == value)
        if rows.size == 0:
            continue
        outward = -cols if value == 1 else cols  # lateral is the image's left for the right lung
        out[side] = _mean_point(rows, cols, rows == rows.min())
        corner = rows + outward
        out[2 + side] = _mean_point(rows, cols, corner == corner.max())
        out[6 + side] = _mean_point(rows, cols, outward == outward.max())
    rows, cols = np.nonzero(labels == 3)
    if rows.size:
        lower = rows >= rows.min() + _HEART_FROM * (rows.max() - rows.min())
        rows, cols = rows[lower], cols[lower]
        out[4] = _mean_point(rows, cols, cols == cols.min())
        out[5] = _mean_point(rows, cols, cols == cols.max())
    return out


def cardiothoracic_ratio(points: np.ndarray) -> float:
    """Heart width over thorax width (horizontal) from the eight landmarks (NaN if any is missing)."""
    points = np.asarray(points, float)
    heart = points[5, 1] - points[4, 1]
    thorax = points[7, 1] - points[6, 1]
    if not (np.isfinite(heart) and np.isfinite(thorax)) or thorax <= 0:
        return float("nan")
    return float(heart / thorax)


@dataclass
class ChestLandmarks:
    """Landmarks found on a radiograph, ready for a napari Points layer (``world``) and a table.

    Attributes
    ----------
    index : numpy.ndarray
        ``(8, 2)`` (row, col) continuous pixel indices.
    world : numpy.ndarray
        ``(8, ndim)`` world coordinates in mm (numpy order) of the image's grid (2, or 3 for a
        one-slice volume): ``origin + direction @ (spacing * index)``.
    confidence : numpy.ndarray
        ``(8,)`` the detector's probability mass at each point (0 to 1).
    ratio : float
        The cardiothoracic ratio of the landmarks.
    """

    index: np.ndarray
    world: np.ndarray
    confidence: np.ndarray
    ratio: float

    def __len__(self) -> int:
        return int(self.index.shape[0])

    def summary(self) -> str:
        """One line: the ratio and the least sure landmark."""
        worst = int(np.argmin(self.confidence))
        return (f"{len(self)} landmarks, cardiothoracic ratio {self.ratio:.3f}; least sure: {LANDMARKS[worst]} "
                f"(confidence {self.confidence[worst]:.2f})")

    def table(self) -> dict[str, np.ndarray]:
        """Columns for the Points layer's ``features``: ``landmark``, ``confidence``, ``row``, ``col``,
        ``y_mm``, ``x_mm`` and the ``cardiothoracic_ratio`` (the same on every row)."""
        from ..point_table import position_columns

        return {"landmark": np.array(LANDMARKS), "confidence": self.confidence,
                **position_columns(self.index, self.world[:, -2:]),
                "cardiothoracic_ratio": np.full(len(self), self.ratio)}


def detect_chest_landmarks(volume, *, progress=None, cancel=None) -> ChestLandmarks:
    """Find the eight landmarks on a frontal chest radiograph with the shipped detector.

    Parameters
    ----------
    volume : Volume
        A 2D radiograph (or a volume of one slice).
    progress, cancel : callable, optional
        Progress (0 to 1) and cancel callbacks.

    Returns
    -------
    ChestLandmarks
    """
    from ..learn.landmarks import landmarks_on_volume
    from ..learn.registry import shipped_model
    from ..progress import check_cancel

    check_cancel(cancel)
    model, card = shipped_model(LANDMARK_MODEL)
    check_cancel(cancel)
    index, world, confidence = landmarks_on_volume(model, card, volume)
    if progress is not None:
        progress(1.0)
    return ChestLandmarks(index, world, confidence, cardiothoracic_ratio(index))
