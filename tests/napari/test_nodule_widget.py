"""Recipes > Lung nodule candidates from napari's menu: ranked points on the voxels, and Cancel.

Kept out of test_gui.py: the PySide6 pass of scripts/test.sh reruns test_gui.py for the napari
face, and this widget's behaviour (26 s of detection) needs one binding only."""

from __future__ import annotations

import numpy as np

from _widgets import open_widget, prefer_medimg_reader
from napari_medimg import read


def test_nodule_candidates_from_the_menu_points_and_cancel(make_napari_viewer, qtbot, shared_data):
    """Recipes > Lung nodule candidates (chest CT) on lung1 opened with File > Open: a ranked Points
    layer on the image's voxels; a second run cancelled mid-way leaves no layer."""
    import time

    viewer = make_napari_viewer()
    prefer_medimg_reader()
    (image,) = viewer.open(shared_data / "ct/pyradiomics_lung1/lung1_image.nrrd", plugin=None)  # as File > Open
    widget = open_widget(viewer, "lung_nodule_candidates")
    widget.input_layer.value = image
    widget.parameter_widgets["max_candidates"].value = 10
    worker = widget.start(start_thread=False)
    with qtbot.waitSignal(worker.finished, timeout=120_000):
        worker.start()
    points = viewer.layers[-1]
    assert points._type_string == "points" and len(points.data) == 10
    assert list(points.features["rank"]) == list(range(1, 11))
    np.testing.assert_allclose(image.scale, (5.0, 0.5703125, 0.5703125))  # read with its geometry
    # the first candidate is the labelled nodule (tests/apps/test_nodules.py), here in world mm
    label = read(shared_data / "ct/pyradiomics_lung1/lung1_label.nrrd")
    from scipy import ndimage

    centre = label.index_to_world(np.array(ndimage.center_of_mass(label.array > 0)))
    assert np.linalg.norm(points.features[["z_mm", "y_mm", "x_mm"]].to_numpy()[0] - centre) < 4.0
    index = points.features[["z", "row", "col"]].to_numpy()
    np.testing.assert_allclose(points.data, [image.data_to_world(i) for i in index], atol=1e-6)
    count = len(viewer.layers)
    worker = widget.start()
    qtbot.waitUntil(lambda: widget._fraction > 0.1, timeout=60_000)
    started = time.perf_counter()
    with qtbot.waitSignal(worker.finished, timeout=30_000):
        widget.cancel()
    assert time.perf_counter() - started < 1.5
    assert len(viewer.layers) == count
