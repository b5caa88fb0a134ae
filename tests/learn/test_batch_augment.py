"""Batch augmentation: points follow the images they are on."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from napari_medimg.learn.batch_augment import augment_batch, random_affine, warp, warp_points  # noqa: E402

SPEC = {"rotate_deg": 25.0, "scale": 0.2, "shift": 0.1, "intensity_scale": 0.0, "intensity_shift": 0.0, "noise": 0.0}


def test_points_land_where_the_warped_blob_lands():
    """A gaussian blob at each point: after the warp, its centre of mass is where warp_points says."""
    generator = torch.Generator().manual_seed(3)
    h, w = 64, 80
    rng = np.random.default_rng(0)
    points = torch.tensor(rng.uniform([16, 16], [h - 16, w - 16], (12, 1, 2)), dtype=torch.float32)
    yy, xx = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    blobs = torch.exp(-((yy - points[:, 0, 0, None, None]) ** 2 + (xx - points[:, 0, 1, None, None]) ** 2) / 8.0)
    theta = random_affine(12, SPEC, flip_axes=(0, 1), generator=generator)
    warped = warp(blobs[:, None], theta)[:, 0]
    moved = warp_points(points, theta, (h, w))[:, 0]
    mass = warped.sum((1, 2))
    centre = torch.stack([(warped * yy).sum((1, 2)) / mass, (warped * xx).sum((1, 2)) / mass], 1)
    inside = ((moved > 6) & (moved < torch.tensor([h - 6.0, w - 6.0]))).all(1)  # blobs cut by a border move
    assert int(inside.sum()) >= 8
    np.testing.assert_allclose(centre[inside].numpy(), moved[inside].numpy(), atol=0.15)


def test_identity_spec_leaves_images_and_points():
    spec = {k: 0.0 for k in SPEC}
    x = torch.rand(3, 1, 20, 30)
    points = torch.rand(3, 4, 2) * 20
    out, moved = augment_batch(x, spec, (), torch.Generator().manual_seed(0), points=points)
    np.testing.assert_allclose(out.numpy(), x.numpy(), atol=1e-5)
    np.testing.assert_allclose(moved.numpy(), points.numpy(), atol=1e-4)
