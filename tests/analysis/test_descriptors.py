"""HOG, LBP and intensity histograms, keypoints with world coordinates."""

from __future__ import annotations

import numpy as np
import pytest

from napari_medimg.analysis.descriptors import (
    detect_keypoints,
    hog_descriptor,
    image_descriptor_matrix,
    intensity_histogram,
    lbp_histogram,
    region_hog,
    region_lbp_histograms,
)
from napari_medimg.volume import Volume

CENTRES = [(30.3, 40.6), (90.0, 120.0), (64.5, 80.0)]


def _blobs(shape=(128, 160), sizes=(3, 5, 4)) -> np.ndarray:
    y, x = np.indices(shape)
    image = np.zeros(shape, np.float32)
    for (cy, cx), s in zip(CENTRES, sizes):
        image += np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * s * s))
    return image


def test_hog_matches_scikit_image_with_cells_in_mm():
    from skimage.feature import hog

    image = _blobs()
    ours = hog_descriptor(image, cell_size=4.0, block_size=2, spacing=(0.5, 0.5))  # 8-pixel cells
    theirs = hog(image, orientations=9, pixels_per_cell=(8, 8), cells_per_block=(2, 2), block_norm="L2-Hys")
    assert ours.dtype == np.float32
    np.testing.assert_allclose(ours, theirs, atol=1e-6)
    with pytest.raises(ValueError, match="fewer than one block"):
        hog_descriptor(np.zeros((10, 10)), cell_size=8.0)
    with pytest.raises(ValueError, match="2D"):
        hog_descriptor(np.zeros((3, 10, 10)))


def test_region_descriptors():
    image = _blobs()
    labels = np.zeros(image.shape, np.uint16)
    labels[20:42, 30:52] = 2
    labels[80:101, 105:136] = 5
    ids, features = region_hog(image, labels, patch_shape=(32, 32), cells=4, margin=2.0)
    assert ids.tolist() == [2, 5] and features.shape == (2, 9 * 4 * 9) and features.dtype == np.float32
    ids, hists = region_lbp_histograms(image, labels, radius=1.0, points=8)
    assert ids.tolist() == [2, 5] and hists.shape == (2, 10)
    np.testing.assert_allclose(hists.sum(axis=1), 1, atol=1e-6)
    np.testing.assert_allclose(hists[1], lbp_histogram(image, mask=labels == 5), atol=1e-7)


def test_intensity_histogram():
    image = np.array([[0, 1, 2, 3], [4, 5, 6, 7]], np.uint8)
    np.testing.assert_allclose(intensity_histogram(image, bins=4), [0.25] * 4)
    np.testing.assert_allclose(intensity_histogram(image, bins=2, value_range=(0, 4)), [0.25, 0.75])
    np.testing.assert_allclose(intensity_histogram(image, bins=2, mask=image < 2), [0.5, 0.5])


def test_sift_keypoints_land_on_blobs_with_world_coordinates():
    image = _blobs()
    spacing, origin = (0.5, 0.8), (10.0, -20.0)
    kp = detect_keypoints(image, spacing=spacing, origin=origin)
    assert len(kp) >= 3 and kp.descriptors.shape == (len(kp), 128)
    for cy, cx in CENTRES:
        distance = np.hypot(kp.index[:, 0] - cy, kp.index[:, 1] - cx)
        assert distance.min() < 0.2  # sub-pixel (scikit-image's upsampling offset corrected)
    np.testing.assert_allclose(kp.world, np.asarray(origin) + np.asarray(spacing) * kp.index)
    # larger blobs give larger scales
    nearest = [np.argmin(np.hypot(kp.index[:, 0] - cy, kp.index[:, 1] - cx)) for cy, cx in CENTRES]
    scales = kp.scale[nearest]
    assert scales[0] < scales[2] < scales[1]
    table = kp.table()
    assert set(table) >= {"row", "col", "y_mm", "x_mm", "scale", "scale_mm", "orientation"}
    np.testing.assert_allclose(table["scale_mm"], kp.scale * 0.65)


def test_keypoints_on_volume_and_orb():
    image = _blobs()
    direction = np.array([[1.0, 0, 0], [0, 0, 1.0], [0, 1.0, 0]])  # y and x swapped in world
    volume = Volume(np.stack([np.zeros_like(image), image]), (3.0, 0.5, 0.5), (5.0, 1.0, 2.0), direction)
    kp = detect_keypoints(volume)
    assert len(kp) >= 3 and np.all(kp.index[:, 0] == 1)
    np.testing.assert_allclose(kp.world, volume.index_to_world(kp.index))
    squares = np.zeros((120, 120), np.float32)
    squares[30:60, 30:60] = 1
    squares[70:100, 60:110] = 1
    orb = detect_keypoints(squares, method="orb", options={"n_keypoints": 20})
    corners = np.array([[30, 30], [30, 59], [59, 30], [59, 59], [70, 60], [70, 109], [99, 60], [99, 109]])
    assert len(orb) > 0 and orb.descriptors.dtype == bool
    distance = np.min(np.linalg.norm(orb.index[:, None, :] - corners[None], axis=2), axis=1)
    assert np.median(distance) < 4
    empty = detect_keypoints(np.zeros((64, 64), np.float32))
    assert len(empty) == 0 and empty.world.shape == (0, 2)


def test_image_descriptor_matrix_layout():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(5, 28, 28)).astype(np.uint8)
    X, names = image_descriptor_matrix(images, value_range=(0, 255))
    assert X.shape == (5, len(names)) and X.dtype == np.float32
    assert sum(n.startswith("hog_") for n in names) == 324
    assert sum(n.startswith("lbp_") for n in names) == 4 * 10
    assert sum(n.startswith("hist_") for n in names) == 16 and sum(n.startswith("thumb_") for n in names) == 49
    hist = X[:, [i for i, n in enumerate(names) if n.startswith("hist_")]]
    np.testing.assert_allclose(hist.sum(axis=1), 1, atol=1e-6)
    thumb = X[0, [i for i, n in enumerate(names) if n.startswith("thumb_")]]
    assert thumb[0] == pytest.approx(images[0, :4, :4].mean() / 255, abs=1e-6)


@pytest.mark.parametrize("method", ["sift", "orb"])
def test_keypoints_found_in_a_child_process_equal_those_found_here(method, monkeypatch):
    import dataclasses

    from napari_medimg.analysis import descriptors

    image = _blobs()
    volume = np.stack([image, np.zeros_like(image), image[::-1]])
    here = detect_keypoints(volume, method=method, spacing=(2.0, 0.5, 0.5))  # no cancel: in this process
    monkeypatch.setattr(descriptors, "CHILD_FROM_PIXELS", 1)
    fractions = []
    there = detect_keypoints(
        volume, method=method, spacing=(2.0, 0.5, 0.5), progress=fractions.append, cancel=lambda: False
    )
    assert len(here) > 3 and fractions == [1 / 3, 2 / 3, 1.0]  # per slice, sent back by the child
    for field in dataclasses.fields(here):
        a, b = getattr(here, field.name), getattr(there, field.name)
        assert a == b if field.name == "method" else np.array_equal(a, b, equal_nan=a.dtype.kind == "f"), field.name


def test_cancel_terminates_sift_inside_one_large_image():
    """One SIFT call on a 1024 x 1024 image (2-3.5 s on 2 loaded cores) checks nothing: the child is terminated."""
    import threading
    import time

    from napari_medimg.progress import OperationCancelled

    rng = np.random.default_rng(0)
    image = rng.normal(0, 1, (1024, 1024)).astype(np.float32)
    image[300:700, 300:700] += 3
    pressed = threading.Event()
    timer = threading.Timer(0.5, pressed.set)
    timer.start()
    started = time.perf_counter()
    with pytest.raises(OperationCancelled):
        detect_keypoints(image, cancel=pressed.is_set)
    assert time.perf_counter() - started < 0.5 + 0.5
