"""Image classifier widget on PneumoniaMNIST: tag 300 radiographs, predict 200 others.

One stack layer holds 300 training images (150 normal, 150 pneumonia, a seeded sample of
the training split: its first images are all pneumonia) followed by the first 200
validation images. The training images are tagged from their labels (0 normal,
1 pneumonia), the classifier predicts the 200 untagged validation images.
Measured: 0.940 accuracy on them (descriptors + SVM, C chosen by 3-fold CV; seeds 1-3
of the sample gave 0.955, 0.96, 0.94), so the bound below is 0.88.
"""

from __future__ import annotations

import numpy as np
import pytest

from _pneumonia import pneumonia_stack
from _widgets import open_widget
from napari_medimg._qt.image_classifier_widget import (
    PREDICTIONS_METADATA_KEY,
    TAGS_METADATA_KEY,
    ImageClassifierWidget,
)

N_TRAIN, N_VAL = 300, 200
MIN_ACCURACY = 0.88
SCALE = (2.0, 0.5, 0.5)
TRANSLATE = (3.0, 0.0, 0.0)


@pytest.fixture(scope="module")
def stack(shared_data):
    """Images (500, 28, 28) and labels: 300 balanced training images, then 200 validation images."""
    return pneumonia_stack(shared_data, N_TRAIN, N_VAL)


def _wait(qtbot, worker, timeout=30_000):
    with qtbot.waitSignal(worker.finished, timeout=timeout):
        worker.start()


def _widget(make_napari_viewer, stack):
    viewer = make_napari_viewer()
    layer = viewer.add_image(stack[0], name="cxr", scale=SCALE, translate=TRANSLATE)
    widget = open_widget(viewer, "classify_images")
    assert widget.image_layer.value is layer
    return viewer, layer, widget


def _predicted(layer):
    stored = layer.metadata[PREDICTIONS_METADATA_KEY]
    return np.array([stored[i] for i in range(len(layer.data))])


def test_tag_train_predict_save_load(make_napari_viewer, qtbot, stack, tmp_path, monkeypatch):
    errors = []
    monkeypatch.setattr("napari.utils.notifications.show_error", errors.append)
    _, labels = stack
    viewer, layer, widget = _widget(make_napari_viewer, stack)
    assert widget.tag_status.value == "no tags yet"
    # "tag the image in view": the slider's world position maps to the image index
    # through the layer's scale and translation (image 7 sits at 3 + 2 * 7 = 17)
    viewer.dims.set_point(0, TRANSLATE[0] + SCALE[0] * 7)
    assert widget.index_in_view() == 7
    assert widget.view_status.value == "image 7: untagged / not predicted"
    widget.class_value.value = int(labels[7])
    widget.tag_in_view()
    assert layer.metadata[TAGS_METADATA_KEY] == {7: int(labels[7])}
    assert widget.view_status.value == f"image 7: tagged {labels[7]} / not predicted"
    widget.untag_in_view()
    assert layer.metadata[TAGS_METADATA_KEY] == {}
    widget.tag_in_view()
    # the rest of the training images from a script
    for k in (0, 1):
        widget.tag(np.flatnonzero(labels[:N_TRAIN] == k), k)
    tags = widget.tags
    assert sorted(tags) == list(range(N_TRAIN)) and all(tags[i] == labels[i] for i in tags)
    assert widget.tag_status.value == "300 tagged: 0: 150, 1: 150"
    widget.tag(N_TRAIN + N_VAL, 1)  # outside the stack: refused, nothing changes
    assert len(widget.tags) == N_TRAIN and "outside the stack" in errors[-1]
    # a cancelled training stops early and writes nothing
    worker = widget.train(start_thread=False)
    widget.cancel()
    _wait(qtbot, worker)
    assert widget.results.value == "Train cancelled" and widget.predictions == {}
    assert widget.train_button.enabled and not widget.cancel_button.enabled

    _wait(qtbot, widget.train(start_thread=False))
    predicted = _predicted(layer)
    accuracy = float(np.mean(predicted[N_TRAIN:] == labels[N_TRAIN:]))
    print(f"accuracy on the {N_VAL} untagged validation images: {accuracy:.3f}")
    assert accuracy >= MIN_ACCURACY
    assert "balanced accuracy" in widget.results.value and "confusion" in widget.results.value
    assert widget.result.scores.accuracy > 0.85  # CV on the tagged images
    # the table: one row per image, index / tag / predicted
    table = widget.table
    assert table.rowCount() == N_TRAIN + N_VAL
    row = N_TRAIN + 5
    assert [table.item(row, c).text() for c in range(3)] == [str(row), "", str(predicted[row])]
    assert table.item(3, 1).text() == str(labels[3])
    # scrolling updates the status; show_image moves the slider
    widget.show_image(row)
    assert widget.index_in_view() == row
    assert widget.view_status.value == f"image {row}: untagged / predicted {predicted[row]}"
    viewer.dims.set_point(0, TRANSLATE[0] + SCALE[0] * 7)
    assert widget.view_status.value == f"image 7: tagged {labels[7]} / predicted {predicted[7]}"

    # save, clear the predictions, load into a fresh widget: identical predictions
    path = widget.save_model(tmp_path / "pneumonia.skops")
    layer.metadata = {k: v for k, v in layer.metadata.items() if k != PREDICTIONS_METADATA_KEY}
    assert widget.predictions == {}
    other = open_widget(viewer, "classify_images")
    other.image_layer.value = layer
    _wait(qtbot, other.load_and_predict(path, start_thread=False))
    np.testing.assert_array_equal(_predicted(layer), predicted)
    assert "loaded svm image classifier" in other.results.value
    assert len(viewer.layers) == 1


def test_one_class_or_bad_model_reports_and_adds_nothing(make_napari_viewer, stack, monkeypatch, tmp_path):
    errors = []
    monkeypatch.setattr("napari.utils.notifications.show_error", errors.append)
    images, labels = stack
    viewer, layer, widget = _widget(make_napari_viewer, stack)
    widget.tag(np.flatnonzero(labels[:N_TRAIN] == 1), 1)  # pneumonia only
    assert widget.train(start_thread=False) is None
    assert errors and "two different classes" in errors[-1]
    assert PREDICTIONS_METADATA_KEY not in layer.metadata and widget.classifier is None
    assert len(viewer.layers) == 1 and widget.train_button.enabled
    # a single image of the second class is not enough either
    widget.tag(0, 0)
    assert widget.train(start_thread=False) is None and "at least two images" in errors[-1]
    with pytest.raises(ValueError, match="train an image classifier"):
        widget.save_model(tmp_path / "none.skops")
    bogus = tmp_path / "bogus.skops"
    bogus.write_bytes(b"not a zip")
    assert widget.load_and_predict(bogus, start_thread=False) is None
    assert "Load model failed" in errors[-1]
    # a 2D layer is not a stack
    viewer.add_image(images[0], name="single")
    widget.image_layer.value = viewer.layers["single"]
    widget.tag_in_view()
    assert "stack of 2D images" in errors[-1]
    assert widget.table.rowCount() == 0
