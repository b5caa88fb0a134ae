"""Synthetic data for the learn/ tests: a bright disc on noise, and a tiny U-Net config."""

from __future__ import annotations

import numpy as np

TINY_UNET = {"name": "basic_unet", "spatial_dims": 2, "in_channels": 1, "out_channels": 2,
             "features": [8, 8, 16, 32, 64, 8]}


def disc_case(seed: int, n: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """A bright disc (label 1) on Gaussian noise: float32 image and uint8 labels."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:n, :n]
    cy, cx = rng.uniform(20, n - 20, 2)
    r = rng.uniform(8, 14)
    labels = ((yy - cy) ** 2 + (xx - cx) ** 2 < r * r).astype(np.uint8)
    image = labels + rng.normal(0, 0.35, (n, n))
    return image.astype(np.float32), labels
