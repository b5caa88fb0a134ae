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


def _reference_relief(image, sigma, spacing):
    """The gradient as written before it became cancellable: one scipy gaussian_filter per derivative."""
    from scipy import ndimage

    total = np.zeros(image.shape, np.float32)
    for axis, step in enumerate(spacing):
        order = [0] * image.ndim
        order[axis] = 1
        sigmas = [sigma / s for s in spacing]
        d = ndimage.gaussian_filter(image, sigmas, order=order, mode="nearest", output=np.float32)
        d /= np.float32(step)
        total += d * d
    return np.sqrt(total)


@pytest.mark.parametrize("in_child", [False, True])
def test_marker_watershed_equals_the_direct_calls_in_this_process_and_in_a_child(in_child, monkeypatch):
    from skimage.segmentation import watershed

    monkeypatch.setattr(ws, "CHILD_FROM_VOXELS", 1 if in_child else 10**9)
    rng = np.random.default_rng(3)
    image = rng.normal(0, 1, (24, 30, 36)).astype(np.float32)
    seeds = np.zeros(image.shape, np.uint16)
    for k in range(1, 6):
        seeds[tuple(rng.integers(0, n) for n in image.shape)] = 40 * k
    mask = rng.random(image.shape) > 0.1
    spacing = (2.0, 1.0, 0.7)
    reports = []
    out = ws.watershed_markers(
        image, seeds, sigma=1.5, mask=mask, compactness=0.01, spacing=spacing,
        progress=reports.append, cancel=lambda: False,
    )
    relief = _reference_relief(image, 1.5, spacing)
    assert np.array_equal(ws.gradient_magnitude(image, sigma=1.5, spacing=spacing), relief)
    expected = watershed(relief, seeds, mask=mask, compactness=0.01)
    assert out.dtype == np.uint8 and np.array_equal(out, expected)  # labels up to 200
    assert reports == sorted(reports) and 0 < reports[0] <= 0.3 and reports[-2:] == [0.3, 1.0]
    flat = ws.watershed_markers(image, seeds, use_gradient=False, cancel=lambda: False)
    assert np.array_equal(flat, watershed(image, seeds))


def _cancel_after(reports, fraction, delay):
    """A cancel check that says yes ``delay`` seconds after progress first reached ``fraction``."""
    import time

    reached = []

    def cancel() -> bool:
        if not reached and reports and reports[-1] >= fraction:
            reached.append(time.perf_counter())
        return bool(reached) and time.perf_counter() - reached[0] > delay

    return cancel, reached


@pytest.mark.parametrize("use_gradient", [False, True])
def test_cancel_stops_the_flood_and_the_gradient_within_a_second(use_gradient):
    """5 M voxels: the flood alone takes ~3 s on 2 loaded cores, the sigma-4 gradient ~2 s."""
    import time

    from napari_medimg.progress import OperationCancelled

    rng = np.random.default_rng(0)
    image = rng.normal(0, 1, (80, 256, 256)).astype(np.float32)
    seeds = np.zeros(image.shape, np.uint8)
    seeds[40, 128, 128], seeds[2, 2, 2] = 1, 2
    reports = []
    # with the gradient: cancel in its middle; without: once the flood (after 30 %) has run 0.5 s
    cancel, reached = _cancel_after(reports, 0.1 if use_gradient else 0.3, 0.2 if use_gradient else 0.5)
    with pytest.raises(OperationCancelled):
        ws.watershed_markers(
            image, seeds, sigma=4.0, use_gradient=use_gradient, progress=reports.append, cancel=cancel
        )
    latency = time.perf_counter() - reached[0] - (0.2 if use_gradient else 0.5)
    assert latency < 1.0, f"stopped {latency:.2f} s after Cancel"
    assert reports[-1] < (0.3 if use_gradient else 1.0)
