"""Many objects in one labels layer: region growing organ after organ from napari's menu."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from _widgets import open_widget, prefer_medimg_reader
from napari_medimg._napari.objects import add_objects

ORGANS = {5: "liver", 1: "spleen", 11: "left lower lung lobe", 32: "T12 vertebra", 117: "costal cartilages"}


def test_five_clicks_fill_one_labels_layer_and_undo_takes_back_the_last(make_napari_viewer, qtbot, shared_data):
    folder = shared_data / "ct" / "totalseg_example"
    viewer = make_napari_viewer()
    prefer_medimg_reader()
    (image,) = viewer.open(folder / "example_ct_sm.nii.gz", plugin=None)
    (reference,) = viewer.open(folder / "example_seg.nii.gz", plugin=None)  # TotalSegmentator's labels
    organs = np.asarray(reference.data)
    viewer.layers.remove(reference)
    assert organs.shape == image.data.shape
    widget = open_widget(viewer, "region_grow")
    widget.input_layer.value = image
    assert widget.objects.chosen is None  # the first click makes a new layer
    seeds = viewer.add_points(np.zeros((1, 3)), name="clicks", size=3, units=image.units)
    widget.parameter_widgets["seeds"].value = seeds
    states = []
    for organ in ORGANS:
        inside = organs == organ
        seed = np.unravel_index(np.argmax(ndimage.distance_transform_edt(inside)), inside.shape)
        seeds.data = [image.data_to_world(seed)]  # the click at the organ's deepest voxel
        worker = widget.start(start_thread=False)
        with qtbot.waitSignal(worker.finished, timeout=60_000):
            worker.start()
        target = widget.objects.chosen
        assert target is not None and target.data.shape == image.data.shape
        data = np.asarray(target.data).copy()
        assert data[seed] != 0  # the click's voxel belongs to an object (this one, or an earlier one's)
        for before_id, before in enumerate(states, start=1):  # earlier objects keep every voxel and their id
            assert np.array_equal(data[states[-1] == before_id], np.full(np.count_nonzero(states[-1] == before_id), before_id))
        states.append(data)
    layer = widget.objects.chosen
    final = np.asarray(layer.data)
    assert sorted(np.unique(final).tolist()) == [0, 1, 2, 3, 4, 5]
    assert sum(layer._type_string == "labels" for layer in viewer.layers) == 1  # one layer, five objects
    assert list(layer.features["index"]) == [0, 1, 2, 3, 4, 5]
    # the lung lobe (object 3) is the lobe: Dice 0.73 against TotalSegmentator's (one click, defaults)
    lobe = final == 3
    assert 2 * np.count_nonzero(lobe & (organs == 11)) / (np.count_nonzero(lobe) + np.count_nonzero(organs == 11)) > 0.7
    widget.objects.undo_last_run()
    np.testing.assert_array_equal(np.asarray(layer.data), states[3])  # the fifth run only is gone
    assert not widget.objects.undo_button.enabled
    assert list(layer.features["index"]) == [0, 1, 2, 3, 4]


def test_paint_over_and_grid_checks(make_napari_viewer):
    viewer = make_napari_viewer()
    layer = viewer.add_labels(np.zeros((4, 6), np.uint8))
    first = np.zeros((4, 6), np.uint8)
    first[:, :3] = 1
    assert add_objects(layer, first) == [1]
    second = np.zeros((4, 6), np.uint8)
    second[:2] = 7  # overlaps object 1 on its left half
    second[3, 5] = 9
    assert add_objects(layer, second) == [2, 3]
    np.testing.assert_array_equal(layer.data[:2], [[1, 1, 1, 2, 2, 2]] * 2)  # object 1 kept its voxels
    assert layer.data[3, 5] == 3
    assert add_objects(layer, second, paint_over=True) == [4, 5]
    np.testing.assert_array_equal(layer.data[:2], [[4] * 6] * 2)
    assert add_objects(layer, np.zeros((4, 6))) == []
    layer.undo()  # napari's own undo takes back the last run as a whole
    np.testing.assert_array_equal(layer.data[:2], [[1, 1, 1, 2, 2, 2]] * 2)
    import pytest

    with pytest.raises(ValueError, match="grid"):
        add_objects(layer, np.ones((5, 6)))
    full = viewer.add_labels(np.full((2, 2), 254, np.uint8))
    with pytest.raises(ValueError, match="no room"):
        add_objects(full, np.array([[0, 1], [2, 0]]), paint_over=True)
