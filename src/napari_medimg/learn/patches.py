"""Spacing-aware, class-balanced patch sampling from (image, labels) pairs (numpy only).

A patch size is given in millimetres and converted to voxels per pair from its spacing.
Half of the patches (``foreground_fraction``) are centred on a foreground voxel (label > 0,
not the ignore value), the rest on any *labelled* voxel, so partially annotated volumes
give patches where annotation exists. Voxels labelled ``ignore_label`` (255 by default,
or any negative value) stay in the patch but are marked unlabelled for the loss.
Images smaller than a patch are padded (image with its minimum, labels with the ignore
value). Pairs of different spacing should be resampled to one spacing first if the
network is to see one scale; the sampler itself only converts millimetres to voxels.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from . import IGNORE_LABEL
from .augment import Augmentation

__all__ = ["patch_voxels", "PatchSampler"]


def patch_voxels(patch_mm: Sequence[float], spacing: Sequence[float], multiple: int = 1) -> tuple[int, ...]:
    """Convert a patch size in mm to voxels.

    Parameters
    ----------
    patch_mm : sequence of float
        Patch extent per axis in mm, in the array's axis order.
    spacing : sequence of float
        Voxel spacing per axis in mm.
    multiple : int
        Round each size to a multiple of this (e.g. 16 for a 4-level U-Net); at least ``multiple``.

    Returns
    -------
    tuple of int
        Patch size in voxels.
    """
    if len(patch_mm) != len(spacing):
        raise ValueError(f"patch size has {len(patch_mm)} axes but the spacing {len(spacing)}")
    out = []
    for mm, sp in zip(patch_mm, spacing):
        if not (mm > 0 and sp > 0):
            raise ValueError(f"patch size and spacing must be positive, got {mm} mm at {sp} mm")
        n = max(1, int(round(mm / sp)))
        out.append(max(multiple, int(round(n / multiple)) * multiple))
    return tuple(out)


def _labelled(labels: np.ndarray, ignore_label: int) -> np.ndarray:
    return (labels != ignore_label) & (labels >= 0)


class PatchSampler:
    """Random training patches from (image, labels) pairs.

    Parameters
    ----------
    pairs : sequence of (image, labels)
        ``labels`` has the spatial shape; ``image`` the same shape or channel-first
        ``(C, *spatial)``. Images should already be normalised.
    spacings : sequence of sequence of float
        Spacing in mm of each pair (or one spacing for all).
    patch_mm : sequence of float
        Patch size in mm per spatial axis.
    batch_size : int
        Patches per batch.
    batches_per_epoch : int
        How many batches one iteration over the sampler yields.
    foreground_fraction : float
        Fraction of patches centred on a foreground voxel (when the pair has any).
    ignore_label : int
        Label value meaning "not annotated" (negative values are unlabelled too).
    multiple : int
        Patch sizes in voxels are rounded to a multiple of this.
    flip_axes : sequence of int
        Spatial axes each patch is flipped along with probability 1/2 (image and labels
        together); only where the anatomy allows (not left-right for lateralised classes).
    augment : Augmentation or dict, optional
        Random rotation, scaling, elastic deformation (in mm, through each pair's spacing)
        and intensity changes (see :mod:`.augment`); None samples plain crops.
    seed : int
        Seed of the sampler's own random generator (each epoch continues the stream).

    Notes
    -----
    Iterating yields ``(images, labels)``: float32 ``(B, C, *patch)`` and int64
    ``(B, *patch)`` where unlabelled voxels carry ``ignore_label``. All pairs' patches
    have the same size in voxels, taken from the first pair's spacing.
    """

    def __init__(self, pairs, spacings, patch_mm, *, batch_size: int = 4, batches_per_epoch: int = 10,
                 foreground_fraction: float = 0.5, ignore_label: int = IGNORE_LABEL, multiple: int = 1,
                 flip_axes: Sequence[int] = (), augment=None, seed: int = 0):
        self.pairs = []
        if len(pairs) == 0:
            raise ValueError("no (image, labels) pairs to sample from")
        spacings = list(spacings)
        if spacings and np.isscalar(spacings[0]):
            spacings = [spacings] * len(pairs)
        if len(spacings) != len(pairs):
            raise ValueError(f"{len(pairs)} pairs but {len(spacings)} spacings")
        for i, (image, labels) in enumerate(pairs):
            image, labels = np.asarray(image, dtype=np.float32), np.asarray(labels)
            if image.shape == labels.shape:
                image = image[None]
            if image.shape[1:] != labels.shape:
                raise ValueError(f"pair {i}: image shape {image.shape} does not match labels shape {labels.shape}")
            labels = labels.astype(np.int64)
            labels[labels < 0] = ignore_label
            labelled = _labelled(labels, ignore_label)
            if not labelled.any():
                raise ValueError(f"pair {i} has no labelled voxel")
            self.pairs.append((image, labels, np.flatnonzero(labelled & (labels > 0)),
                               np.flatnonzero(labelled) if not labelled.all() else None))
        self.spacings = [np.asarray(sp, float) for sp in spacings]
        self.augment = augment if augment is None or isinstance(augment, Augmentation) else Augmentation.from_dict(augment)
        self.ndim = self.pairs[0][1].ndim
        if any(p[1].ndim != self.ndim for p in self.pairs) or len(patch_mm) != self.ndim:
            raise ValueError("all pairs and the patch size need the same number of spatial axes")
        self.channels = self.pairs[0][0].shape[0]
        self.patch_size = patch_voxels(patch_mm, spacings[0], multiple)
        self.batch_size = int(batch_size)
        self.batches_per_epoch = int(batches_per_epoch)
        self.foreground_fraction = float(foreground_fraction)
        self.ignore_label = int(ignore_label)
        self.flip_axes = tuple(int(a) for a in flip_axes)
        if any(not 0 <= a < self.ndim for a in self.flip_axes):
            raise ValueError(f"flip axes {self.flip_axes} outside the {self.ndim} spatial axes")
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return self.batches_per_epoch

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for _ in range(self.batches_per_epoch):
            yield self.batch()

    def batch(self) -> tuple[np.ndarray, np.ndarray]:
        """One batch of random patches: float32 ``(B, C, *patch)`` and int64 ``(B, *patch)``."""
        images = np.empty((self.batch_size, self.channels, *self.patch_size), np.float32)
        labels = np.empty((self.batch_size, *self.patch_size), np.int64)
        for b in range(self.batch_size):
            images[b], labels[b] = self.patch()
        return images, labels

    def fixed_batches(self, n: int, seed: int = 12345) -> list[tuple[np.ndarray, np.ndarray]]:
        """``n`` unaugmented batches drawn with their own seed (a fixed validation set), leaving this stream as it was."""
        state, augment = self.rng, self.augment
        self.rng, self.augment = np.random.default_rng(seed), None
        try:
            return [self.batch() for _ in range(n)]
        finally:
            self.rng, self.augment = state, augment

    def patch(self) -> tuple[np.ndarray, np.ndarray]:
        """One random patch ``(C, *patch)`` and its labels ``(*patch)``."""
        index = int(self.rng.integers(len(self.pairs)))
        image, labels, fg, labelled = self.pairs[index]
        if fg.size and self.rng.random() < self.foreground_fraction:
            flat = fg[int(self.rng.integers(fg.size))]
        elif labelled is not None:
            flat = labelled[int(self.rng.integers(labelled.size))]
        else:
            flat = int(self.rng.integers(labels.size))
        # along an axis the patch covers whole, it is centred on the image (augmentation then
        # rotates and zooms about the image's centre instead of cutting it off)
        centre = tuple(n // 2 if n <= size else int(c)
                       for c, n, size in zip(np.unravel_index(flat, labels.shape), labels.shape, self.patch_size))
        if self.augment is not None and self.augment.spatial:
            out_img, out_lab = self.augment.sample(image, labels, centre, self.patch_size, self.spacings[index],
                                                   self.rng, ignore_label=self.ignore_label)
        else:
            out_img, out_lab = self._crop(image, labels, centre)
        if self.augment is not None:
            self.augment.intensity(out_img, self.rng)
        flips = [a for a in self.flip_axes if self.rng.random() < 0.5]
        if flips:
            out_img = np.ascontiguousarray(np.flip(out_img, [a + 1 for a in flips]))
            out_lab = np.ascontiguousarray(np.flip(out_lab, flips))
        return out_img, out_lab

    def _crop(self, image, labels, centre):
        out_img = np.empty((image.shape[0], *self.patch_size), np.float32)
        out_img[...] = image.min()
        out_lab = np.full(self.patch_size, self.ignore_label, np.int64)
        lsrc, ldst = [], []
        for c, size, n in zip(centre, self.patch_size, labels.shape):
            start = int(c) - size // 2
            if n >= size:  # keep the patch inside the image
                start = min(max(start, 0), n - size)
            lo, hi = max(start, 0), min(start + size, n)
            lsrc.append(slice(lo, hi))
            ldst.append(slice(lo - start, hi - start))
        out_img[(slice(None), *ldst)] = image[(slice(None), *lsrc)]
        out_lab[tuple(ldst)] = labels[tuple(lsrc)]
        return out_img, out_lab
