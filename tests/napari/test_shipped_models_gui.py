"""A shipped model from napari's menus: Layers > Classify > Learned models > Segment with a shipped model."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("monai")

from _widgets import open_widget  # noqa: E402

from napari_medimg._napari.label_names import NAME  # noqa: E402


def test_busi_lesion_model_segments_an_ultrasound_image_into_named_labels(make_napari_viewer, qtbot, shared_data):
    viewer = make_napari_viewer()
    image_path = shared_data / "ultrasound/busi_breast/images/malignant_001.png"
    (image,) = viewer.open(str(image_path))  # a picture: napari's own reader, as a user gets it
    widget = open_widget(viewer, "segment_with_model")
    widget.input_layer.value = image
    widget.parameter_widgets["model"].value = "busi-lesion"
    worker = widget.start(start_thread=False)
    with qtbot.waitSignal(worker.finished, timeout=120_000):
        worker.start()
    result = viewer.layers[-1]
    assert type(result).__name__ == "Labels" and result.data.shape == image.data.shape[:2]
    np.testing.assert_allclose(result.scale, image.scale[:2])
    np.testing.assert_allclose(result.translate, image.translate[:2])
    names = dict(zip(result.features["index"], result.features[NAME]))
    assert names[1] == "lesion" and "volume_ml" in result.features
    from skimage import io

    truth = io.imread(shared_data / "ultrasound/busi_breast/masks/malignant_001.png") > 0
    pred = np.asarray(result.data) == 1
    # a development image of the model (its cross-validated figure is in its card): a wiring check
    assert 2 * (pred & truth).sum() / (pred.sum() + truth.sum()) > 0.7
