"""Augmentation of a batch of 2D images (and points on them) in torch: affine and intensity.

Imports torch. Used by the whole-image models (classifiers, landmark detectors), whose batches
are small images warped on the fly; segmentation patches have their own augmentation in mm
(:mod:`.augment`).

Settings (a dict, stored in model cards): ``rotate_deg`` (degrees), ``scale``, ``shift`` (of
the image size), ``intensity_scale``, ``intensity_shift`` and ``noise`` (standard deviation),
each the half-width of a uniform draw (the noise a gaussian's sd).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["random_affine", "warp", "warp_points", "jitter_intensity", "augment_batch", "AugmentedBatches"]


def random_affine(n: int, spec: dict, flip_axes: Sequence[int], generator: torch.Generator) -> torch.Tensor:
    """``(n, 2, 3)`` random affines (rotation, zoom, shift, flips) in :func:`torch.nn.functional.affine_grid`'s
    convention: each maps an output position (x, y) in [-1, 1] to the input position it samples."""

    def uniform(scale: float) -> torch.Tensor:
        return (torch.rand(n, generator=generator) * 2 - 1) * scale

    def flip(axis: int) -> torch.Tensor:
        return torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0) if axis in flip_axes else torch.ones(n)

    angle = uniform(math.radians(spec["rotate_deg"]))
    zoom = 1.0 + uniform(spec["scale"])
    flip_y, flip_x = flip(0), flip(1)
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    # a flip negates a column
    return torch.stack([torch.stack([cos * flip_x, -sin * flip_y, uniform(spec["shift"]) * 2], 1),
                        torch.stack([sin * flip_x, cos * flip_y, uniform(spec["shift"]) * 2], 1)], 1)


def warp(x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """Images ``(n, c, h, w)`` resampled through ``theta`` (bilinear, borders repeated)."""
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def warp_points(points: torch.Tensor, theta: torch.Tensor, shape: Sequence[int]) -> torch.Tensor:
    """Where points ``(n, k, 2)`` (row, col pixel coordinates of the input) land in :func:`warp`'s output."""
    h, w = shape
    size = torch.tensor([w, h], dtype=points.dtype)
    xy = (2 * points.flip(-1) + 1) / size - 1  # pixel (row, col) -> normalised (x, y)
    a, t = theta[:, :, :2], theta[:, :, 2]
    out = torch.linalg.solve(a, (xy - t[:, None, :]).transpose(1, 2)).transpose(1, 2)
    return (((out + 1) * size - 1) / 2).flip(-1)


def jitter_intensity(x: torch.Tensor, spec: dict, generator: torch.Generator) -> torch.Tensor:
    """Random contrast about each image's mean, brightness shift and gaussian noise."""
    n = x.shape[0]
    contrast = (1.0 + (torch.rand(n, generator=generator) * 2 - 1) * spec["intensity_scale"]).view(n, 1, 1, 1)
    brightness = ((torch.rand(n, generator=generator) * 2 - 1) * spec["intensity_shift"]).view(n, 1, 1, 1)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * contrast + mean + brightness
    if spec["noise"]:
        x = x + torch.randn(x.shape, generator=generator) * spec["noise"]
    return x


def augment_batch(x: torch.Tensor, spec: dict, flip_axes: Sequence[int], generator: torch.Generator,
                  points: torch.Tensor | None = None):
    """Random affine and intensity changes of a batch; with ``points`` ``(n, k, 2)``, also where they go.

    Returns
    -------
    torch.Tensor, or (torch.Tensor, torch.Tensor) with ``points``
    """
    theta = random_affine(x.shape[0], spec, flip_axes, generator)
    warped = jitter_intensity(warp(x, theta), spec, generator)
    if points is None:
        return warped
    return warped, warp_points(points, theta, x.shape[-2:])


class AugmentedBatches:
    """Base of the whole-image training streams: ``steps`` augmented batches a pass (an "epoch").

    Subclasses draw a batch's rows with ``self.rng`` and augment with ``self.generator`` in
    ``__iter__``; both are seeded, so a run repeats exactly.

    Parameters
    ----------
    images : numpy.ndarray
        ``(N, C, h, w)`` prepared images.
    batch_size, steps : int
        Images per batch; batches per pass.
    augment : dict or None
        The settings of this module; None for none.
    flip_axes : sequence of int
        Axes mirrored at random (0 up-down, 1 left-right), with ``augment``.
    seed : int
        Seed of the draws and the augmentation (a new pass continues the same stream).
    """

    def __init__(self, images: np.ndarray, *, batch_size: int, steps: int, augment: dict | None,
                 flip_axes: Sequence[int] = (), seed: int = 0):
        self.images = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32))
        self.batch_size, self.steps, self.augment, self.flip_axes = int(batch_size), int(steps), augment, flip_axes
        self.rng = np.random.default_rng(seed)
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return self.steps
