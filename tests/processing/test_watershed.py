"""Watershed: touching balls are split, markers control the basins."""

from __future__ import annotations

import numpy as np
import pytest

from napari_medimg.processing import watershed as ws


def _two_touching_balls(spacing):
    shape = (20, 40, 60)
    grids = np.ogrid[tuple(slice(0, n) for n in shape)]
    centres = [(10, 20, 20), (10, 20, 40)]
    balls = [sum(((g - c) * s) ** 2 for g, c, s in zip(grids, centre, spacing)) <= 11.0**2 for centre in centres]
    return balls[0] | balls[1], balls, centres


def test_split_objects_separates_touching_balls_with_mm_distance():
    spacing = (2.0, 1.0, 1.0)
    mask, balls, centres = _two_touching_balls(spacing)
    labels = ws.split_objects(mask, min_distance=8.0, spacing=spacing)
    assert labels.dtype == np.uint8 and labels.max() == 2
    a, b = labels[centres[0]], labels[centres[1]]
    assert a != b and a > 0 and b > 0
    assert (labels[balls[0] & ~balls[1]] == a).mean() > 0.98
    # the peaks are 20 mm apart: a 25 mm minimum distance keeps one object
    assert ws.split_objects(mask, min_distance=25.0, spacing=spacing).max() == 1
    with pytest.raises(ValueError, match="empty"):
        ws.split_objects(np.zeros((4, 4)), spacing=(1.0, 1.0))


def test_marker_watershed_from_points_and_label_image():
    image = np.zeros((30, 60), np.float32)
    image[:, 30:] = 100.0  # two regions separated by an edge at x = 30
    points = np.array([(15, 5), (15, 55)])
    labels = ws.watershed_markers(image, points, sigma=1.0, spacing=(1.0, 1.0))
    assert labels.dtype == np.uint8
    assert (labels[:, :29] == 1).all() and (labels[:, 31:] == 2).all()
    seeds = np.zeros(image.shape, np.uint16)
    seeds[2, 2] = 7
    seeds[28, 58] = 300
    out = ws.watershed_markers(image, seeds, sigma=1.0, spacing=(1.0, 1.0))
    assert out.dtype == np.uint16 and set(np.unique(out)) == {7, 300}
    assert (out[:, :29] == 7).all()
    # flooding the image itself: a bright ridge separates two dark basins
    ridge = np.zeros((20, 41), np.float32)
    ridge[:, 20] = 50
    flat = ws.watershed_markers(ridge, [(10, 2), (10, 38)], use_gradient=False)
    assert (flat[:, :20] == 1).all() and (flat[:, 21:] == 2).all()
    masked = ws.watershed_markers(image, points, mask=image == 0, spacing=(1.0, 1.0))
    assert masked[:, 30:].max() == 0


def test_gradient_magnitude_is_per_mm():
    ramp = np.tile(np.arange(50, dtype=np.float32) * 3.0, (10, 1))  # 3 units per pixel along x
    grad = ws.gradient_magnitude(ramp, sigma=2.0, spacing=(1.0, 0.5))
    assert grad[5, 25] == pytest.approx(6.0, rel=1e-3)  # 0.5 mm pixels: 6 units per mm
    assert grad.dtype == np.float32
