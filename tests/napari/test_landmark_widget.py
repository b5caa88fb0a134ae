"""Learn > Train a landmark detector: points placed in napari, trained in a worker, predicted as Points."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("monai")

from _widgets import open_widget  # noqa: E402
from napari_medimg._qt.landmark_widget import NAME_FEATURE, landmark_training_data  # noqa: E402

SCALE, TRANSLATE = (1.0, 0.8, -0.6), (0.0, 5.0, 40.0)  # the in-plane axis flipped, scaled, moved


def _scenes(n, seed):
    """64x64 noisy images with a bright dot ("tip") and a dark dot ("base")."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:64, :64]
    images = rng.normal(0.5, 0.05, (n, 64, 64)).astype(np.float32)
    points = rng.uniform(10, 54, (n, 2, 2))
    for i in range(n):
        for k, sign in ((0, 1.0), (1, -1.0)):
            images[i] += sign * 0.6 * np.exp(-((yy - points[i, k, 0]) ** 2 + (xx - points[i, k, 1]) ** 2) / 8.0)
    return images, points


def test_training_data_from_placed_points():
    index = np.array([[0, 5, 6], [0, 7, 8], [2, 1, 2]], float)
    used, points, names = landmark_training_data(3, index, ["tip", "base", "tip"])
    assert used.tolist() == [0, 2] and names == ["base", "tip"]
    np.testing.assert_allclose(points[0], [[7, 8], [5, 6]])
    assert np.isnan(points[1, 0]).all() and points[1, 1].tolist() == [1, 2]
    with pytest.raises(ValueError, match="twice"):
        landmark_training_data(3, index[[0, 0, 2]], ["tip", "tip", "tip"])
    with pytest.raises(ValueError, match="two images"):
        landmark_training_data(3, index[:2], ["tip", "base"])


def test_train_cancel_train_predict_on_a_flipped_scaled_stack(make_napari_viewer, qtbot, tmp_path):
    images, truth = _scenes(40, 0)
    viewer = make_napari_viewer()
    layer = viewer.add_image(images, name="scenes", scale=SCALE, translate=TRANSLATE)
    tagged = 30  # points placed on the first 30 images; the last 10 are predicted
    data = [(i, *truth[i, k]) for i in range(tagged) for k in range(2)]
    world = [layer.data_to_world(p) for p in data]
    viewer.add_points(world, name="placed", features={NAME_FEATURE: ["tip", "base"] * tagged})
    widget = open_widget(viewer, "train_landmarks")
    assert widget.image_layer.value is layer and widget.points_layer.value.name == "placed"
    widget.steps.value = 5000
    widget.size.value = 64
    widget.train()
    ticks = []
    qtbot.waitUntil(lambda: ticks.append(1) or len(ticks) > 3, timeout=10_000)  # the event loop runs
    widget.cancel_button.changed.emit(True)
    qtbot.waitUntil(lambda: not widget.cancel_button.enabled, timeout=20_000)
    assert "cancelled" in widget.results.value and widget.model is None
    widget.steps.value = 150
    worker = widget.train(start_thread=False)
    with qtbot.waitSignal(worker.finished, timeout=180_000):
        worker.start()
    assert widget.model is not None and widget.predict_button.enabled
    worker = widget.predict(start_thread=False)
    with qtbot.waitSignal(worker.finished, timeout=60_000):
        worker.start()
    found = viewer.layers["scenes landmarks"]
    assert len(found.data) == 2 * len(images)
    names = list(found.features[NAME_FEATURE])
    assert names[:2] == ["base", "tip"]  # the card's order (sorted names)
    index = np.array([layer.world_to_data(p) for p in found.data])  # back through the flipped transform
    predicted = index[:, 1:].reshape(len(images), 2, 2)[:, ::-1]  # (tip, base) as in truth
    errors = np.hypot(*(predicted[tagged:] - truth[tagged:]).transpose(2, 0, 1))
    assert np.median(errors) < 3.0, errors  # pixels, on images it never saw
    written = widget.save(tmp_path / "dots")
    assert written.name == "dots.safetensors" and written.with_suffix(".json").exists()
