"""Three linked planes: pictures through the viewer's point, superior up, a click moves the point."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from _widgets import open_widget

PLUGIN = "napari-medimg"


def test_three_views_follow_and_set_the_point(make_napari_viewer, qtbot):
    viewer = make_napari_viewer(show=True)
    viewer.open_sample(PLUGIN, "brain_mr")
    image = viewer.layers[0]
    widget = open_widget(viewer, "three_views")
    widget.image_layer.value = image
    data = np.asarray(image.data)
    index = (12, 100, 140)
    viewer.dims.set_point((0, 1, 2), tuple(image.data_to_world(index)))
    low, high = image.contrast_limits
    grey = lambda a: np.clip((a.astype(np.float32) - low) * (255.0 / (high - low)), 0, 255).astype(np.uint8)  # noqa: E731
    np.testing.assert_array_equal(widget.views["axial"].picture, grey(data[12]))
    np.testing.assert_array_equal(widget.views["coronal"].picture, grey(data[::-1, 100, :]))  # superior on top
    np.testing.assert_array_equal(widget.views["sagittal"].picture, grey(data[::-1, :, 140]))
    # coronal picture is drawn in millimetres: 6.5 mm slices are taller than 0.78 mm pixels
    pixmap = widget.views["coronal"].pixmap()
    expected = data.shape[0] * image.scale[0] / (data.shape[2] * image.scale[2])
    assert abs(pixmap.height() / pixmap.width() - expected) < 0.05
    # a click in the sagittal picture at (row of slice 20, column 60) moves the viewer there
    widget.click("sagittal", row=data.shape[0] - 1 - 20, column=60)
    assert tuple(viewer.dims.current_step) == (20, 60, 140)
    np.testing.assert_array_equal(widget.views["axial"].picture, grey(data[20]))
    if os.environ.get("MEDIMG_SCREENSHOTS"):
        widget.native.grab().save(str(Path(os.environ["MEDIMG_SCREENSHOTS"]) / "three_views.png"))
