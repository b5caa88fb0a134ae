"""Landmark detection: heat-map loss and decoding, training, chest landmarks from masks."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("monai")

from napari_medimg.apps.chest_xray_landmarks import (  # noqa: E402
    LANDMARKS,
    cardiothoracic_ratio,
    landmarks_from_labels,
)
from napari_medimg.learn.landmarks import (  # noqa: E402
    check_landmark_config,
    decode_heatmaps,
    fit_landmarks,
    heatmap_loss,
    landmark_card,
    predict_landmarks,
)


def _gaussian_logits(h, w, centres, sigma=2.0):
    rows, cols = np.mgrid[:h, :w]
    maps = [-((rows - r) ** 2 + (cols - c) ** 2) / (2 * sigma ** 2) for r, c in centres]
    return torch.tensor(np.array(maps)[None], dtype=torch.float32)


def test_decoding_finds_sub_pixel_peaks_with_confidence():
    centres = [(12.3, 20.7), (0.4, 30.0), (25.0, 5.5)]
    found, confidence = decode_heatmaps(_gaussian_logits(32, 40, centres, sigma=1.0), window=3)
    np.testing.assert_allclose(found[0, [0, 2]], [centres[0], centres[2]], atol=0.05)
    assert abs(found[0, 1, 1] - 30.0) < 0.05 and found[0, 1, 0] < 0.8  # at the border: pulled inside, not past it
    assert np.all(confidence > 0.9)  # a sharp peak holds nearly all the probability
    flat = torch.zeros(1, 1, 32, 40)
    # no peak: the first pixel wins, and its window (cut by two borders, 4 x 4) holds 16 pixels of mass
    assert decode_heatmaps(flat, window=3)[1][0, 0] == pytest.approx(16 / (32 * 40), rel=1e-5)


def test_loss_is_smallest_at_the_target_and_ignores_missing_points():
    points = torch.tensor([[[10.0, 12.0], [float("nan"), float("nan")]]])
    right = _gaussian_logits(24, 24, [(10.0, 12.0), (3.0, 3.0)])
    wrong = _gaussian_logits(24, 24, [(16.0, 6.0), (3.0, 3.0)])
    moved_missing = _gaussian_logits(24, 24, [(10.0, 12.0), (20.0, 20.0)])
    assert heatmap_loss(right, points, 2.0) < heatmap_loss(wrong, points, 2.0)
    assert heatmap_loss(right, points, 2.0) == pytest.approx(float(heatmap_loss(moved_missing, points, 2.0)))


def _dots(n, seed):
    """48x56 noisy images with a bright dot (landmark 1) and a dark dot (landmark 2)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:48, :56]
    images = rng.normal(0.5, 0.05, (n, 48, 56)).astype(np.float32)
    points = np.stack([rng.uniform(8, 40, (n, 2)) * [1, 1.15], rng.uniform(8, 40, (n, 2)) * [1, 1.15]], 1)
    for i in range(n):
        for k, sign in ((0, 1.0), (1, -1.0)):
            images[i] += sign * 0.6 * np.exp(-((yy - points[i, k, 0]) ** 2 + (xx - points[i, k, 1]) ** 2) / 6.0)
    return images, points


TINY = {"classes": ["bright", "dark"], "input": {"resize_to": [48, 56], "normalisation": {"kind": "none"}},
        "network": {"features": [8, 8, 16, 16, 32, 8]}, "augment": {"rotate_deg": 10.0, "noise": 0.0},
        "training": {"iterations": 150, "batch_size": 8, "steps_per_epoch": 50, "lr": 0.01, "warmup": 10}}


def test_fit_and_predict_landmarks_on_images_of_another_size():
    images, points = _dots(48, 0)
    points[3, 1] = np.nan  # a landmark not given on one image
    model, result, cfg = fit_landmarks(images, points, TINY)
    assert result.iterations == 150 and cfg["classes"] == ["bright", "dark"]
    card = landmark_card(cfg, result)
    test_images, test_points = _dots(12, 1)
    # the same scenes at twice the size: found in the images' own pixels
    big = np.repeat(np.repeat(test_images, 2, axis=1), 2, axis=2)
    found, confidence = predict_landmarks(model, card, list(big))
    errors = np.sqrt(((found - (test_points * 2 + 0.5)) ** 2).sum(-1))
    assert np.median(errors) < 3.0, errors  # pixels of the 96x112 images
    assert found.shape == (12, 2, 2) and np.all((confidence > 0) & (confidence <= 1))


def test_config_names_the_unknown():
    with pytest.raises(ValueError, match="unknown heatmap"):
        check_landmark_config({"heatmap": {"sigma": 2}})
    with pytest.raises(ValueError, match="sigma_px"):
        check_landmark_config({"heatmap": {"sigma_px": 0}})


def test_chest_landmarks_from_a_drawn_labelling():
    """Two rectangles as lungs, a block as the heart with a wider top: known corners."""
    labels = np.zeros((100, 120), np.uint8)
    labels[20:80, 10:50] = 1  # right lung (image left)
    labels[30:90, 70:110] = 2  # left lung
    labels[40:95, 45:80] = 3  # heart region
    labels[40:55, 40:45] = 3  # upper part, wider to the right: above 35 % of the height it does not count
    points = landmarks_from_labels(labels)
    named = dict(zip(LANDMARKS, points))
    np.testing.assert_allclose(named["right lung apex"], [20, 29.5])
    np.testing.assert_allclose(named["left lung apex"], [30, 89.5])
    np.testing.assert_allclose(named["right costophrenic angle"], [79, 10])  # furthest down and out
    np.testing.assert_allclose(named["left costophrenic angle"], [89, 109])
    np.testing.assert_allclose(named["thorax right"], [49.5, 10])
    np.testing.assert_allclose(named["thorax left"], [59.5, 109])
    assert named["heart right border"][1] == 45 and named["heart left border"][1] == 79
    assert cardiothoracic_ratio(points) == pytest.approx((79 - 45) / (109 - 10))
    no_heart = landmarks_from_labels(np.where(labels == 3, 0, labels))
    assert np.isnan(no_heart[4:6]).all() and np.isnan(cardiothoracic_ratio(no_heart))
