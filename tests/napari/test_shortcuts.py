"""Keyboard shortcuts bound when a study opens: planes, CT windows, frequent tools."""

from __future__ import annotations

import numpy as np
from napari.utils.key_bindings import KeyBinding

from napari_medimg._napari.shortcuts import SHORTCUTS

PLUGIN = "napari-medimg"


def _press(viewer, key):
    viewer.keymap[KeyBinding.from_str(key)](viewer)


def test_shortcuts_switch_planes_windows_and_open_tools(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, "chest_ct")  # opening a study binds the keys
    assert all(KeyBinding.from_str(key) in viewer.keymap for key in SHORTCUTS)
    _press(viewer, "Alt-2")
    assert tuple(viewer.dims.order) == (1, 0, 2) and viewer.camera.orientation2d[0] == "up"
    _press(viewer, "Alt-3")
    assert tuple(viewer.dims.order) == (2, 0, 1)
    _press(viewer, "Alt-1")
    assert tuple(viewer.dims.order) == (0, 1, 2) and viewer.camera.orientation2d[0] == "down"
    ct = viewer.layers[0]
    viewer.layers.selection.active = ct
    ct.contrast_limits = (-160.0, 240.0)  # soft tissue
    _press(viewer, "Alt-W")
    np.testing.assert_allclose(ct.contrast_limits, (-1350.0, 150.0))  # then lung
    _press(viewer, "Alt-W")
    np.testing.assert_allclose(ct.contrast_limits, (-500.0, 1300.0))  # then bone
    for key in ("Alt-G", "Alt-P"):
        _press(viewer, key)
    assert any("Region growing" in name for name in viewer.window.dock_widgets)
    assert any("Pixel classifier" in name for name in viewer.window.dock_widgets)
