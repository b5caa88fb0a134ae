"""The generator docks, opened from napari's menus: train a little on real images (an .npz stack; patches of an
opened CT under its mask), stop, save, generate a stack layer from the checkpoint."""

from __future__ import annotations

import os

import numpy as np
import pytest

from _widgets import gui_ticks, open_widget, prefer_medimg_reader

torch = pytest.importorskip("torch")
pytest.importorskip("matplotlib")


def test_train_stop_save_then_generate_a_stack(make_napari_viewer, qtbot, shared_data, tmp_path, one_torch_thread):
    viewer = make_napari_viewer(show=True)
    trainer = open_widget(viewer, "train_generator")
    assert type(trainer).__name__ == "TrainGeneratorWidget"
    trainer.source.value = ".npz file"
    trainer.npz.value = shared_data / "classification" / "pneumoniamnist_train_val.npz"
    trainer.split.value, trainer.classes.value = "train", "normal, pneumonia"
    trainer.method.value, trainer.iterations.value, trainer.batch_size.value = "gan", 10_000, 16
    timer, ticks = gui_ticks()
    trainer.train()
    assert trainer.busy and trainer.stop_button.enabled and not trainer.train_button.enabled
    # the sample grid appears and the loss curve grows while the GUI stays responsive
    qtbot.waitUntil(lambda: "generator samples (training)" in viewer.layers and trainer._latest is not None
                    and len(trainer._latest[1].get("loss", [])) >= 2, timeout=120_000)
    assert len(ticks) >= 5, "the GUI thread was blocked while training"
    trainer.stop()
    qtbot.waitUntil(lambda: not trainer.busy, timeout=30_000)
    run = trainer.run
    assert run.stopped == "cancelled" and 50 <= run.iterations < 10_000
    assert "stopped; the model so far is kept" in trainer.status.value and "3882 images" in trainer.status.value
    assert viewer.layers["generator samples (training)"].data.shape == (4 * 29 - 1, 4 * 29 - 1)
    trainer.checkpoint_path.value = tmp_path / "gan.safetensors"
    trainer.save()
    qtbot.waitUntil(lambda: not trainer.busy, timeout=30_000)
    assert (tmp_path / "gan.json").is_file()

    generator = open_widget(viewer, "generate_images")
    generator.model.value = "checkpoint file ..."
    generator.checkpoint.value = tmp_path / "gan.safetensors"
    assert generator.class_name.choices == ("(training shares)", "normal", "pneumonia")
    assert not generator.interpolate_button.enabled  # a GAN cannot encode images
    generator.n.value, generator.class_name.value, generator.seed.value = 12, "normal", 5
    generator.generate()
    qtbot.waitUntil(lambda: generator.worker is None, timeout=60_000)
    timer.stop()
    layer = viewer.layers["gan-generator samples"]
    assert layer.data.shape == (12, 28, 28) and layer.data.dtype == np.uint8
    assert layer.metadata["generated"]["classes"] == ["normal"] * 12
    assert "12 images in layer" in generator.status.value
    if os.environ.get("GENERATOR_SCREENSHOT"):
        viewer.screenshot(os.environ["GENERATOR_SCREENSHOT"], canvas_only=False)


def test_patches_of_an_opened_ct_under_a_mask_train_a_vae(make_napari_viewer, qtbot, shared_data, one_torch_thread):
    viewer = make_napari_viewer()
    prefer_medimg_reader()
    image = viewer.open(shared_data / "ct" / "pyradiomics_lung1" / "lung1_image.nrrd", plugin=None)[0]
    mask = viewer.open(shared_data / "ct" / "pyradiomics_lung1" / "lung1_label.nrrd", plugin=None)[0]
    trainer = open_widget(viewer, "train_generator")
    trainer.image_layer.value, trainer.mask_layer.value = image, mask
    trainer.patch_mm.value, trainer.patches.value, trainer.size.value = 24.0, 64, 16
    trainer.method.value, trainer.iterations.value, trainer.batch_size.value = "vae", 4, 8
    trainer.train()
    qtbot.waitUntil(lambda: not trainer.busy, timeout=60_000)
    run = trainer.run
    assert run is not None and run.iterations == 4, trainer.status.value
    assert run.card["input"]["image_size"] == [16, 16] and run.card["classes"] == []
    assert run.card["input"]["intensity"]["dtype"] == "float32"  # HU, mapped by the patches' percentiles
    assert "64 images of 16x16" in trainer.status.value
    # a bad size is reported in the dock, nothing raised
    trainer.new_model()
    trainer.size.value = 18
    trainer.train()
    assert "multiple of 4" in trainer.status.value and trainer.run is None

