"""Segmentation metrics over annotated voxels (numpy only)."""

from __future__ import annotations

import numpy as np

from . import IGNORE_LABEL

__all__ = ["dice_counts", "dice_scores"]


def dice_counts(pred: np.ndarray, truth: np.ndarray, num_classes: int, ignore_label: int = IGNORE_LABEL) -> np.ndarray:
    """Counts for Dice per class over the annotated voxels of ``truth``.

    Parameters
    ----------
    pred, truth : numpy.ndarray
        Integer labels of the same shape; ``truth`` voxels equal to ``ignore_label`` or
        negative are left out.
    num_classes : int
        K, background included.
    ignore_label : int
        Unannotated voxels' label.

    Returns
    -------
    numpy.ndarray
        ``(K, 3)`` int64: true positives, predicted and true voxels per class (add them up
        over cases for a pooled Dice).
    """
    pred, truth = np.asarray(pred), np.asarray(truth)
    if pred.shape != truth.shape:
        raise ValueError(f"prediction shape {pred.shape} differs from the truth's {truth.shape}")
    keep = (truth != ignore_label) & (truth >= 0)
    p, t = pred[keep].astype(np.int64), truth[keep].astype(np.int64)
    p = np.where((p >= 0) & (p < num_classes), p, num_classes)  # out-of-range predictions count as wrong
    both = np.bincount(t[p == t], minlength=num_classes + 1)[:num_classes]
    return np.stack([both, np.bincount(p, minlength=num_classes + 1)[:num_classes],
                     np.bincount(np.minimum(t, num_classes), minlength=num_classes + 1)[:num_classes]], 1)


def dice_scores(counts: np.ndarray) -> np.ndarray:
    """Dice per class from ``(K, 3)`` counts (see :func:`dice_counts`); NaN where a class is absent from both."""
    counts = np.asarray(counts)
    tp, pred, true = counts[:, 0], counts[:, 1], counts[:, 2]
    denom = pred + true
    return np.where(denom > 0, 2.0 * tp / np.maximum(denom, 1), np.nan)
