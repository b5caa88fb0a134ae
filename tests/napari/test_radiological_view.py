"""Coronal and sagittal views with superior up and the right orientation letters, 2D and 3D."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from napari_medimg._napari.radiological_view import edge_letters, radiological_view

PLUGIN = "napari-medimg"
AXIAL, CORONAL, SAGITTAL = (0, 1, 2), (1, 0, 2), (2, 0, 1)  # dims order; the last two are shown
EXPECTED = {
    AXIAL: {"top": "A", "bottom": "P", "left": "R", "right": "L"},
    CORONAL: {"top": "S", "bottom": "I", "left": "R", "right": "L"},
    SAGITTAL: {"top": "S", "bottom": "I", "left": "A", "right": "P"},
}
SHOTS = os.environ.get("MEDIMG_SCREENSHOTS")  # a folder to keep the pictures in, for a person to look at


def test_edge_letters_known_answers():
    up, right = np.array([-1.0, 0.0]), np.array([0.0, 1.0])  # napari's default 2D camera
    assert edge_letters([1, 2], up, right) == EXPECTED[AXIAL]
    assert edge_letters([0, 2], -up, right) == EXPECTED[CORONAL]
    # an oblique 3D camera names both axes it follows, the stronger first
    diagonal = np.array([0.8, 0.0, 0.6])
    assert edge_letters([0, 1, 2], diagonal, np.array([0.0, 1.0, 0.0]))["top"] == "SL"


def _superior_marker_row(viewer, image) -> float:
    """Mean screen row of a red marker painted on the most superior slices, as a fraction of the height."""
    shape = image.data.shape
    marker = np.zeros(shape, np.uint8)
    marker[-max(2, shape[0] // 6) :, :, :] = 1  # highest slice index = most superior in the display frame
    layer = viewer.add_labels(marker, scale=image.scale, translate=image.translate, name="superior", opacity=1.0)
    layer.colormap = {1: "red", None: "transparent"} if hasattr(layer, "colormap") else layer.colormap
    viewer.reset_view()
    shot = viewer.screenshot(canvas_only=True, flash=False)
    viewer.layers.remove(layer)
    red = (shot[..., 0] > 180) & (shot[..., 1] < 80) & (shot[..., 2] < 80)
    assert red.any(), "the marker is not visible"
    return float(np.nonzero(red)[0].mean() / shot.shape[0]), shot


@pytest.mark.parametrize("sample", ["brain_mr", "chest_ct"])
def test_coronal_and_sagittal_show_superior_up_with_letters(make_napari_viewer, sample):
    viewer = make_napari_viewer(show=True)
    viewer.open_sample(PLUGIN, sample)
    image = viewer.layers[0]
    view = radiological_view(viewer)
    for name, order in (("axial", AXIAL), ("coronal", CORONAL), ("sagittal", SAGITTAL)):
        viewer.dims.order = order
        assert view.letters() == EXPECTED[order], name
        shown = {edge: viewer.canvas.overlays[f"medimg_orientation_{edge}"].text for edge in EXPECTED[order]}
        assert shown == EXPECTED[order]
        if order != AXIAL:
            assert viewer.camera.orientation2d[0] == "up"
            row, shot = _superior_marker_row(viewer, image)
            assert row < 0.5, f"{name}: the superior slices are drawn at {row:.2f} of the height"
            if SHOTS:
                from PIL import Image

                Image.fromarray(shot).save(Path(SHOTS) / f"{sample}_{name}.png")
        else:
            assert viewer.camera.orientation2d[0] == "down"  # anterior at the top, as napari draws rows


def test_letters_follow_a_3d_camera_and_the_toggle(make_napari_viewer):
    from napari._app_model import get_app_model

    viewer = make_napari_viewer(show=True)
    viewer.open_sample(PLUGIN, "brain_mr")
    viewer.dims.ndisplay = 3
    view = radiological_view(viewer)
    viewer.camera.set_view_direction((-1.0, 0.0, 0.0), up_direction=(0.0, -1.0, 0.0))  # from above, anterior up
    assert view.letters() == {"top": "A", "bottom": "P", "left": "R", "right": "L"}
    viewer.camera.set_view_direction((0.0, 1.0, 0.0), up_direction=(1.0, 0.0, 0.0))  # from the front, head up
    letters = view.letters()
    assert letters["top"] == "S" and letters["bottom"] == "I" and {letters["left"], letters["right"]} == {"R", "L"}
    viewer.dims.ndisplay = 2
    viewer.dims.order = CORONAL
    get_app_model().commands.execute_command(f"{PLUGIN}.radiological_view").result()  # Layers > Visualize: off
    assert not view.enabled and viewer.camera.orientation2d[0] == "down"
    assert not viewer.canvas.overlays["medimg_orientation_top"].visible
    get_app_model().commands.execute_command(f"{PLUGIN}.radiological_view").result()  # and on again
    assert viewer.camera.orientation2d[0] == "up" and view.letters()["top"] == "S"
