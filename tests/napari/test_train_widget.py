"""The Train widget, opened from napari's plugin menu: train, stop, save, load, resume, predict.

Real data: 8 slices (96 x 96 mm) of a BraTS 2013 FLAIR around the tumour, with the
tumour painted on 4 slices (one held out for the validation Dice).
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from _widgets import gui_ticks, open_widget

torch = pytest.importorskip("torch")
pytest.importorskip("monai")
pytest.importorskip("matplotlib")

CASE = "mr/brats_tumour/brats_2013_pat0001_1"
CROP = (slice(60, 68), slice(76, 172), slice(36, 132))
PAINTED = [1, 3, 5, 6]


def _viewer_with_painted_tumour(make_napari_viewer, shared_data):
    from napari_medimg._napari.layers import add_layer, volume_to_layer_data
    from napari_medimg.io import read
    from napari_medimg.volume import Volume

    def cropped(name, **kwargs):
        volume = read(shared_data / CASE / name)
        start = [s.start for s in CROP]
        origin = tuple(volume.index_to_world(np.array(start)))
        array = np.ascontiguousarray(volume.array[CROP])
        return Volume(array, volume.spacing, origin, volume.direction, {})

    image = cropped("Flair_subtrMeanDivStd.nii.gz")
    tumour = cropped("OTMultiClass.nii.gz").array > 0
    painted = np.zeros(tumour.shape, np.uint8)
    painted[PAINTED] = tumour[PAINTED]
    viewer = make_napari_viewer()
    image_layer = add_layer(viewer, *volume_to_layer_data(image, name="flair"))
    labels_layer = add_layer(viewer, *volume_to_layer_data(image.with_array(painted), name="tumour paint",
                                                           layer_type="labels"))
    return viewer, image_layer, labels_layer, tumour


def test_train_stop_save_load_resume_predict_keeps_the_gui_running(make_napari_viewer, qtbot, shared_data,
                                                                  tmp_path, one_torch_thread):
    viewer, image_layer, labels_layer, tumour = _viewer_with_painted_tumour(make_napari_viewer, shared_data)
    widget = open_widget(viewer, "train_segmentation")
    assert type(widget).__name__ == "TrainWidget"
    widget.image_layer.value, widget.labels_layer.value = image_layer, labels_layer
    widget.size.value, widget.patch_mm.value, widget.device.value = "tiny", 32.0, "cpu"
    widget.iterations.value = 1000  # far more than will run: Stop ends it
    assert not widget.predict_button.enabled and not widget.save_button.enabled
    timer, ticks = gui_ticks()

    # train, and stop once the curves have two points
    widget.train()
    assert widget.busy and widget.stop_button.enabled and not widget.train_button.enabled
    qtbot.waitUntil(lambda: len(widget.history.get("loss", [])) >= 2, timeout=60_000)
    during = len(ticks)
    assert during >= 5, "the GUI thread was blocked while training"
    widget.stop()
    qtbot.waitUntil(lambda: not widget.busy, timeout=30_000)
    session = widget.session
    card = session.card
    assert card["training"]["stopped"] == "cancelled"
    stopped_at = session.history["iterations"][-1]
    assert 50 <= stopped_at < 1000 and len(session.history["val_dice"]) >= 2  # 25 steps an epoch
    assert card["validation"]["kind"] == "held-out painted slices" and card["validation"]["slices"] == 1
    assert card["input"]["spacing"] == [1.0, 1.0] and card["input"]["patch_size"] == [32, 32]
    assert card["classes"][1]["value"] == 1 and len(card["classes"][1]["color"]) == 3
    assert "CPU" in widget.device_info.value
    assert 0 < widget.progress_bar.value < 1000
    assert widget.predict_button.enabled and widget.train_button.text.startswith("Train more")
    assert "stopped; best weights kept" in widget.status.value and "1 held out for validation" in widget.status.value

    # save, forget, load: the checkpoint brings its curves back
    widget.checkpoint_path.value = tmp_path / "tumour.safetensors"
    widget.save()
    qtbot.waitUntil(lambda: not widget.busy, timeout=30_000)
    assert (tmp_path / "tumour.safetensors").is_file() and (tmp_path / "tumour.json").is_file()
    widget.new_model()
    assert widget.session is None and not widget.predict_button.enabled
    widget.load()
    qtbot.waitUntil(lambda: not widget.busy, timeout=30_000)
    assert widget.session is not session and widget.session.history == session.history
    assert all(torch.equal(v, session.state[k]) for k, v in widget.session.state.items())

    # resume from the checkpoint: the iterations count on
    widget.iterations.value = 6
    before = len(ticks)
    widget.train()
    qtbot.waitUntil(lambda: not widget.busy, timeout=60_000)
    assert widget.session.history["iterations"][-1] == stopped_at + 6
    assert widget.session.card["training"]["stopped"] == "max_iterations" and widget.progress_bar.value == 1000

    # predict into a new labels layer on the image's grid
    widget.predict()
    qtbot.waitUntil(lambda: not widget.busy, timeout=60_000)
    timer.stop()
    assert len(ticks) > before + 5, "the GUI thread was blocked while resuming or predicting"
    prediction = viewer.layers["flair prediction"]
    assert prediction.__class__.__name__ == "Labels"
    np.testing.assert_array_equal(prediction.scale, image_layer.scale)
    np.testing.assert_array_equal(prediction.translate, image_layer.translate)
    assert prediction.data.shape == image_layer.data.shape and prediction.data.dtype == np.uint8
    assert set(np.unique(prediction.data)) <= {0, 1}
    found = prediction.data == 1
    dice = 2 * np.count_nonzero(found & tumour) / max(1, np.count_nonzero(found) + np.count_nonzero(tumour))
    print(f"stopped at {stopped_at} iterations; whole-crop Dice after {stopped_at + 6}: {dice:.2f}")
    assert dice > 0.3  # a few dozen steps of a tiny net: the tumour is found, not yet outlined
    # where the model is unsure: an uncertainty layer on the same grid, higher at the tumour's edge than far from it
    unsure = viewer.layers["flair uncertainty"]
    np.testing.assert_array_equal(unsure.scale, image_layer.scale)
    assert unsure.data.shape == image_layer.data.shape and unsure.data.dtype == np.uint8
    from scipy import ndimage

    edge = ndimage.binary_dilation(tumour, iterations=2) & ~ndimage.binary_erosion(tumour, iterations=2)
    far = ~ndimage.binary_dilation(tumour, iterations=12) & (np.asarray(image_layer.data) != 0)
    assert unsure.data[edge].mean() > unsure.data[far].mean()
    assert "least sure on slice" in widget.status.value
    if os.environ.get("TRAIN_WIDGET_SCREENSHOT"):
        viewer.screenshot(os.environ["TRAIN_WIDGET_SCREENSHOT"], canvas_only=False)


def test_errors_are_shown_in_the_widget_not_raised(make_napari_viewer, qtbot, shared_data):
    viewer, image_layer, labels_layer, _ = _viewer_with_painted_tumour(make_napari_viewer, shared_data)
    widget = open_widget(viewer, "train_segmentation")
    widget.image_layer.value, widget.labels_layer.value = image_layer, labels_layer
    widget.add_pair()
    widget.add_pair()  # the same pair once
    assert not widget.pairs_label.native.isHidden() and widget.pairs_label.value == "flair + tumour paint"
    widget.clear_pairs()
    assert widget.pairs_label.native.isHidden() and widget.extra_pairs == []
    labels_layer.data = np.zeros_like(labels_layer.data)  # nothing painted
    widget.train()
    qtbot.waitUntil(lambda: not widget.busy, timeout=60_000)
    assert "paint the structure" in widget.status.value and widget.session is not None and not widget.session.has_model
    widget.checkpoint_path.value = "/nonexistent/model.safetensors"
    widget.load()
    qtbot.waitUntil(lambda: not widget.busy, timeout=30_000)
    assert "Load checkpoint failed" in widget.status.value and "model.json" in widget.status.value


def test_importing_the_training_docks_does_not_import_torch():
    import subprocess
    import sys

    code = ("import sys; import napari_medimg._qt.train_widget, napari_medimg.learn.layers, "
            "napari_medimg._qt.generator_train_widget, napari_medimg._qt.generate_widget, "
            "napari_medimg.learn.generative.data; "
            "print('torch' in sys.modules, 'monai' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert out.stdout.split() == ["False", "False"]
