"""Display is not data: windows and 3D presets change how a layer looks, never its voxels."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from _widgets import open_widget, prefer_medimg_reader

from napari_medimg import read
from napari_medimg._napari.display import image_display_kwargs, looks_like_ct

PLUGIN = "napari-medimg"
SHOTS = os.environ.get("MEDIMG_SCREENSHOTS")


def test_ct_is_recognised_from_its_values_when_the_file_does_not_say(shared_data):
    ct = read(shared_data / "ct/pyradiomics_lung1/lung1_image.nrrd")
    assert ct.metadata.get("modality") != "CT"  # NRRD names no modality
    assert looks_like_ct(ct)
    assert image_display_kwargs(ct)["contrast_limits"] == (-160.0, 240.0)  # soft tissue, not min-max
    assert not looks_like_ct(read(shared_data / "mr/pyradiomics/brain1_image.nrrd"))
    assert not looks_like_ct(read(shared_data / "ct/totalseg_example/example_seg.nii.gz"))


def _white_fraction(shot: np.ndarray) -> float:
    return float(np.count_nonzero(shot[..., :3].min(axis=-1) > 245) / shot[..., 0].size)


def test_window_presets_set_contrast_limits_and_3d_is_not_a_white_mip(make_napari_viewer, shared_data):
    viewer = make_napari_viewer(show=True)
    prefer_medimg_reader()
    (ct,) = viewer.open(shared_data / "ct/pyradiomics_lung1/lung1_image.nrrd", plugin=None)
    np.testing.assert_allclose(ct.contrast_limits, (-160.0, 240.0))
    assert ct.metadata["medimg"]["units"] == "HU"  # measurements of this layer are labelled HU
    voxels = np.asarray(ct.data).copy()
    widget = open_widget(viewer, "display")
    widget.image_layer.value = ct
    count = len(viewer.layers)
    widget.window_preset.value = "lung"
    np.testing.assert_allclose(ct.contrast_limits, (-1350.0, 150.0))
    widget.window_preset.value = "bone"
    np.testing.assert_allclose(ct.contrast_limits, (-500.0, 1300.0))
    widget.window_center.value, widget.window_width.value = 50.0, 350.0
    widget.apply_custom.clicked.emit()
    np.testing.assert_allclose(ct.contrast_limits, (-125.0, 225.0))
    widget.lower.value, widget.upper.value = 1.0, 99.0
    widget.auto.clicked.emit()
    np.testing.assert_allclose(ct.contrast_limits, np.percentile(voxels[::1], [1.0, 99.0]), rtol=0.02, atol=5)
    assert len(viewer.layers) == count and np.array_equal(np.asarray(ct.data), voxels)  # no new layer, same voxels
    # 3D: the default for CT is a bone surface; a plain MIP at the soft-tissue window is a white wash
    viewer.dims.ndisplay = 3
    viewer.reset_view()
    assert ct.rendering == "iso"
    default_3d = viewer.screenshot(canvas_only=True, flash=False)
    ct.rendering = "mip"
    ct.contrast_limits = (-160.0, 240.0)
    mip = viewer.screenshot(canvas_only=True, flash=False)
    if SHOTS:
        from PIL import Image

        Image.fromarray(default_3d).save(Path(SHOTS) / "ct_3d_default.png")
        Image.fromarray(mip).save(Path(SHOTS) / "ct_3d_white_mip.png")
    assert _white_fraction(mip) > 2 * _white_fraction(default_3d)
    widget.render_preset.value = "CT lung and airways"
    widget.apply_render.clicked.emit()
    assert ct.rendering == "minip" and viewer.dims.ndisplay == 3
    np.testing.assert_allclose(ct.contrast_limits, (-1000.0, -400.0))
    if SHOTS:
        Image.fromarray(viewer.screenshot(canvas_only=True, flash=False)).save(Path(SHOTS) / "ct_3d_lung.png")


@pytest.mark.parametrize("preset", ["MR (attenuated MIP)", "CT bone"])
def test_render_presets_keep_the_data(make_napari_viewer, preset):
    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, "brain_mr")
    image = viewer.layers[0]
    before = np.asarray(image.data).copy()
    widget = open_widget(viewer, "display")
    widget.image_layer.value = image
    widget.render_preset.value = preset
    widget.apply_render.clicked.emit()
    assert image.rendering in ("attenuated_mip", "iso")
    assert np.array_equal(np.asarray(image.data), before)
