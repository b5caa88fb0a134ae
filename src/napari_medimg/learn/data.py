"""Preparing (image, labels) pairs for training: normalise and bring to one spacing (numpy only)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .infer import to_grid
from .normalize import normalize

__all__ = ["resampled_shape", "resample_pair", "prepare_pairs"]


def resampled_shape(shape: Sequence[int], spacing: Sequence[float], target: Sequence[float]) -> tuple[int, ...]:
    """Grid size covering the same extent at the target spacing (at least one voxel per axis)."""
    if not (len(shape) == len(spacing) == len(target)):
        raise ValueError(f"shape {tuple(shape)}, spacing {tuple(spacing)} and target {tuple(target)} differ in axes")
    if any(s <= 0 for s in (*spacing, *target)):
        raise ValueError(f"spacings must be positive, got {tuple(spacing)} and {tuple(target)}")
    return tuple(max(1, int(round(n * s / t))) for n, s, t in zip(shape, spacing, target))


def resample_pair(image: np.ndarray, labels: np.ndarray, spacing: Sequence[float],
                  target: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Resample an image (linear) and its labels (nearest) to a target spacing.

    Parameters
    ----------
    image : numpy.ndarray
        ``labels.shape`` or channel-first ``(C, *labels.shape)``.
    labels : numpy.ndarray
        Integer labels; the ignore value survives (nearest neighbour).
    spacing, target : sequence of float
        Current and wanted spacing in mm, array axis order.

    Returns
    -------
    image, labels : numpy.ndarray
        float32 image (channel axis kept if given) and labels of the same dtype, on the new grid.
    """
    from scipy.ndimage import zoom

    labels = np.asarray(labels)
    image = np.asarray(image, dtype=np.float32)
    channels = image.ndim == labels.ndim + 1
    stack = image if channels else image[None]
    if stack.shape[1:] != labels.shape:
        raise ValueError(f"image shape {image.shape} does not match labels shape {labels.shape}")
    shape = resampled_shape(labels.shape, spacing, target)
    if shape == labels.shape:
        return image, labels
    factors = [n / o for n, o in zip(shape, labels.shape)]
    out = np.stack([zoom(c, factors, order=1, mode="nearest", grid_mode=True) for c in stack])
    if out.shape[1:] != shape:  # zoom rounds on its own; crop or pad by edge to the exact grid
        pad = [(0, 0)] + [(0, max(0, n - m)) for n, m in zip(shape, out.shape[1:])]
        out = np.pad(out, pad, mode="edge")[(slice(None), *(slice(0, n) for n in shape))]
    return (out if channels else out[0]), to_grid(labels, shape)


def prepare_pairs(pairs, spacings, *, target_spacing: Sequence[float] | None = None,
                  normalisation: dict | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """Normalise each image and resample each pair to one spacing, ready for :class:`.patches.PatchSampler`.

    Parameters
    ----------
    pairs : sequence of (image, labels)
        As for :func:`resample_pair`.
    spacings : sequence of float or sequence of sequences
        One spacing for all pairs, or one per pair.
    target_spacing : sequence of float, optional
        The spacing to train at; None keeps each pair's own.
    normalisation : dict, optional
        See :mod:`.normalize`, applied per image before resampling.

    Returns
    -------
    list of (image, labels)
    """
    spacings = list(spacings)
    if spacings and np.isscalar(spacings[0]):
        spacings = [spacings] * len(pairs)
    if len(spacings) != len(pairs):
        raise ValueError(f"{len(pairs)} pairs but {len(spacings)} spacings")
    out = []
    for (image, labels), spacing in zip(pairs, spacings):
        image = normalize(image, normalisation) if normalisation is not None else np.asarray(image, np.float32)
        if target_spacing is not None:
            image, labels = resample_pair(image, labels, spacing, target_spacing)
        out.append((image, np.asarray(labels)))
    return out
