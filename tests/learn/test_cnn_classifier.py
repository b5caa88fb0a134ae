"""CNN image classifiers: preparation, calibration, scores, training, saliency, checkpoints."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("monai")

from napari_medimg.learn.checkpoint import load_checkpoint, save_checkpoint  # noqa: E402
from napari_medimg.learn.classify import (  # noqa: E402
    Calibration,
    check_classifier_config,
    classification_scores,
    classifier_card,
    cross_validate_classifier,
    fit_calibration,
    fit_classifier,
    grad_cam,
    predict_proba,
    prepare_images,
)


def test_prepare_images_grey_resized_normalised():
    rng = np.random.default_rng(0)
    grey = rng.integers(0, 4096, (2, 100, 60)).astype(np.uint16)
    colour = np.repeat(grey[0][..., None], 3, axis=-1).astype(np.float32)
    out = prepare_images([grey[0], grey[1], colour], (28, 24), {"kind": "percentile", "low": 0.5, "high": 99.5})
    assert out.shape == (3, 1, 28, 24) and out.dtype == np.float32
    assert 0.0 <= out.min() and out.max() <= 1.0
    np.testing.assert_allclose(out[0], out[2], atol=1e-6)  # colour averaged to the same grey
    # shrinking averages areas: a constant image stays constant, a 2x2 block image its block means
    blocks = np.kron(np.array([[0.0, 1.0], [1.0, 0.0]]), np.ones((4, 4)))
    small = prepare_images([blocks], (2, 2), {"kind": "none"})
    np.testing.assert_allclose(small[0, 0], [[0, 1], [1, 0]])
    with pytest.raises(ValueError, match="NaN"):
        prepare_images([np.full((8, 8), np.nan)], (8, 8), {"kind": "none"})
    with pytest.raises(ValueError, match="2D"):
        prepare_images([np.zeros((4, 8, 8))], (8, 8), None)


def test_config_checks_sections_and_classes():
    cfg = check_classifier_config({"classes": [{"value": 0, "name": "a"}, {"value": 1, "name": "b"}],
                                   "training": {"iterations": 5}})
    assert cfg["classes"] == ["a", "b"] and cfg["training"]["iterations"] == 5
    assert cfg["training"]["batch_size"] == 64  # defaults kept for what is not given
    with pytest.raises(ValueError, match="unknown training"):
        check_classifier_config({"training": {"iteration": 5}})
    with pytest.raises(ValueError, match="0..K-1"):
        check_classifier_config({"classes": [{"value": 1, "name": "a"}, {"value": 2, "name": "b"}]})
    with pytest.raises(ValueError, match="flip_axes"):
        check_classifier_config({"flip_axes": [2]})


def test_scores_known_answers():
    truth = np.array([0, 0, 0, 1, 1, 1, 1, 1])
    p1 = np.array([0.1, 0.4, 0.6, 0.3, 0.7, 0.8, 0.9, 0.95])
    probabilities = np.stack([1 - p1, p1], 1)
    s = classification_scores(truth, probabilities)
    assert s["confusion"] == [[2, 1], [1, 4]]
    assert s["accuracy"] == pytest.approx(6 / 8)
    assert s["balanced_accuracy"] == pytest.approx((2 / 3 + 4 / 5) / 2)
    # AUC: of the 15 (positive, negative) pairs the positive scores higher in 13 (0.3 < 0.4, 0.3 < 0.6)
    assert s["auc"] == pytest.approx(13 / 15)
    # perfectly calibrated at confidence 0.75: ECE 0
    confident = np.tile([[0.25, 0.75]], (4, 1))
    assert classification_scores(np.array([1, 1, 1, 0]), confident)["ece"] == pytest.approx(0.0, abs=1e-12)
    assert classification_scores(np.array([1, 1, 0, 0]), confident)["ece"] == pytest.approx(0.25)


def test_calibration_recovers_temperature_and_bias():
    """Logits 2 s + 3 of true log-odds s (equal priors): temperature 2 and bias -1.5 undo them."""
    rng = np.random.default_rng(1)
    s = rng.uniform(-6, 6, 20000)
    y = (rng.random(s.size) < 1 / (1 + np.exp(-s))).astype(np.int64)
    logits = np.stack([np.zeros_like(s), 2 * s + 3], 1).astype(np.float32)
    cal = fit_calibration(logits, y)
    assert cal.temperature == pytest.approx(2.0, rel=0.08)
    assert cal.bias[0] == 0.0 and cal.bias[1] == pytest.approx(-1.5, abs=0.15)
    # class counts do not move the fit: keeping a tenth of the negatives gives the same calibration
    keep = (y == 1) | (rng.random(y.size) < 0.1)
    cal_imbalanced = fit_calibration(logits[keep], y[keep])
    assert cal_imbalanced.bias[1] == pytest.approx(cal.bias[1], abs=0.2)
    p = cal.apply(torch.from_numpy(logits)).numpy()
    np.testing.assert_allclose(p.sum(1), 1.0, atol=1e-6)


def _discs(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Noisy 32x32 images; class 1 has a bright disc at a random place (class 0 none)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:32, :32]
    images = rng.normal(0.0, 0.3, (n, 32, 32)).astype(np.float32)
    labels = np.arange(n) % 2
    centres = rng.integers(8, 24, (n, 2))
    for i in np.flatnonzero(labels):
        images[i][(yy - centres[i, 0]) ** 2 + (xx - centres[i, 1]) ** 2 <= 16] += 1.5
    return images, labels, centres


TINY = {"classes": ["empty", "disc"], "input": {"resize_to": [32, 32], "normalisation": {"kind": "none"}},
        "network": {"block_inplanes": [8, 16, 16, 32]}, "augment": {"rotate_deg": 0.0, "noise": 0.0},
        "training": {"iterations": 60, "batch_size": 16, "steps_per_epoch": 20, "lr": 0.005, "warmup": 5}}


def test_fit_predict_explain_save_load(tmp_path):
    images, labels, centres = _discs(160, 0)
    model, result, calibration, cfg = fit_classifier(images, labels, TINY)
    assert result.iterations == 60 and len(result.history["val_dice"]) == 3  # held-out AUC per epoch
    assert result.best_metric > 0.95
    card = classifier_card(cfg, result, calibration)
    test_images, test_labels, test_centres = _discs(60, 1)
    p = predict_proba(model, card, test_images)
    scores = classification_scores(test_labels, p)
    assert scores["accuracy"] >= 0.9 and scores["auc"] >= 0.97
    # the saliency of a disc image peaks on the disc
    hits = 0
    for i in np.flatnonzero(test_labels)[:10]:
        cam = grad_cam(model, card, test_images[i], target=1)
        assert cam.shape == (32, 32) and cam.max() == pytest.approx(1.0)
        peak = np.unravel_index(np.argmax(cam), cam.shape)
        hits += np.hypot(*(np.array(peak) - test_centres[i])) <= 6
    assert hits >= 8
    # a checkpoint with its card gives the same probabilities
    path = save_checkpoint(tmp_path / "discs.safetensors", model, card)
    loaded, loaded_card = load_checkpoint(path)
    assert loaded_card["kind"] == "classifier" and loaded_card["classes"][1]["name"] == "disc"
    np.testing.assert_allclose(predict_proba(loaded, loaded_card, test_images), p, atol=1e-5)


def test_cancel_stops_within_a_step():
    images, labels, _ = _discs(40, 2)
    steps = []
    _, result, _, _ = fit_classifier(images, labels, TINY, progress=lambda f, h: steps.append(f),
                                     cancel=lambda: len(steps) >= 3)
    assert result.stopped == "cancelled" and result.iterations == 3


def test_labels_are_checked():
    images, labels, _ = _discs(10, 3)
    with pytest.raises(ValueError, match="at least two images"):
        fit_classifier(images, np.r_[labels[:-1] * 0, 1], TINY)
    with pytest.raises(ValueError, match="labels for"):
        fit_classifier(images, labels[:5], TINY)


def test_pneumonia_cross_validation_small(shared_data):
    """Two folds over 400 PneumoniaMNIST images (balanced), 150 steps each: the CNN learns the task.

    Measured: accuracy 0.930 / 0.955, AUC 0.987 / 0.987, ECE 0.02 / 0.04 (seed 0); the bounds
    leave room for the run-to-run variation of a tiny run, far above chance (0.5)."""
    data = np.load(shared_data / "classification" / "pneumoniamnist_train_val.npz")
    labels = data["train_labels"][:, 0].astype(np.int64)
    rng = np.random.default_rng(0)
    pick = np.sort(np.concatenate([rng.choice(np.flatnonzero(labels == k), 200, replace=False) for k in (0, 1)]))
    config = {"classes": ["normal", "pneumonia"], "training": {"iterations": 150, "batch_size": 32,
                                                               "steps_per_epoch": 50}}
    cv = cross_validate_classifier(data["train_images"][pick], labels[pick], config, k=2)
    assert [f["n"] for f in cv["folds"]] == [200, 200]
    assert np.array(cv["confusion"]).sum() == 400
    assert cv["mean"]["accuracy"] >= 0.85 and cv["mean"]["auc"] >= 0.93
    assert cv["mean"]["ece"] <= 0.12
