"""The Generate dock with the shipped generators, opened from napari's menu: latent walk and reconstruction
with pneumoniamnist-vae, sampling pneumoniamnist-generator with Cancel."""

from __future__ import annotations

import numpy as np
import pytest

from _widgets import open_widget

pytest.importorskip("torch")


def test_shipped_generators_sample_interpolate_reconstruct_and_cancel(make_napari_viewer, qtbot, shared_data):
    viewer = make_napari_viewer()
    with np.load(shared_data / "classification" / "pneumoniamnist_train_val.npz") as data:
        val = data["val_images"][:6]
    stack = viewer.add_image(val, name="val radiographs")
    widget = open_widget(viewer, "generate_images")
    assert widget.model.value == "pneumoniamnist-generator"
    widget.model.value = "pneumoniamnist-vae"
    assert widget.interpolate_button.enabled
    widget.images_layer.value, widget.first.value, widget.second.value, widget.between.value = stack, 0, 5, 6
    widget.interpolate()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=60_000)
    path = viewer.layers["val radiographs 0 to 5 (VAE path)"].data
    assert path.shape == (6, 28, 28) and path.dtype == np.uint8
    widget.reconstruct()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=60_000)
    recon = viewer.layers["val radiographs VAE reconstruction"].data
    assert recon.shape == val.shape
    assert np.abs(recon.astype(float) - val).mean() < 25  # grey levels: the VAE keeps the picture
    np.testing.assert_array_equal(path[0], recon[0])
    widget.second.value = 9
    widget.interpolate()
    assert "choose indices below 6" in widget.status.value

    widget.model.value = "pneumoniamnist-generator"
    widget.n.value = 5000
    widget.generate()
    qtbot.waitUntil(lambda: widget.progress_bar.value > 0 or widget.worker is None, timeout=60_000)
    widget.cancel_button.changed.emit(True)
    qtbot.waitUntil(lambda: widget.worker is None, timeout=10_000)
    assert "cancelled" in widget.status.value
