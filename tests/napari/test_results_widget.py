"""Results dock: one row per object of the active labels layer, names and colours, linked selections."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from qtpy.QtCore import Qt

from _widgets import open_widget, prefer_medimg_reader
from napari_medimg._qt import results_widget
from napari_medimg.processing.morphology import label_summary

PLUGIN = "napari-medimg"


def _rows(widget):
    return {int(widget.row_values(r)["label"]): widget.row_values(r) for r in range(widget.table.rowCount())}


def _measured(widget, qtbot):
    """Wait for the dock's measurement (a worker thread for volumes over SYNC_VOXELS)."""
    qtbot.waitUntil(lambda: widget.status.value.endswith(" ms") or " ms;" in widget.status.value, timeout=30_000)
    return widget


def _status_over(viewer, layer, index):
    """napari's status text with the view on the voxel's slice and the cursor over it."""
    world = layer.data_to_world(np.asarray(index, dtype=float))
    viewer.dims.set_point(0, world[0])
    viewer.cursor.position = tuple(world)
    return layer.get_status(viewer.cursor.position, world=True)["coordinates"]


def test_rows_equal_the_library_on_chest_ct_with_hu(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, "chest_ct")
    image, nodule = viewer.layers[0], viewer.layers[1]
    widget = _measured(open_widget(viewer, "results"), qtbot)
    assert nodule.data.size > results_widget.SYNC_VOXELS  # measured in a worker thread
    assert widget.layer == nodule and widget.image == image  # active labels layer, image on its grid
    headers = [widget.table.horizontalHeaderItem(c).text() for c in range(widget.table.columnCount())]
    assert headers == ["colour", "name", "label", "voxels", "volume (mL)", "mean (HU)", "std (HU)", "min (HU)", "max (HU)"]
    summary = label_summary(np.asarray(nodule.data), spacing=nodule.scale)
    rows = _rows(widget)
    assert sorted(rows) == [s["label"] for s in summary]
    ct = np.asarray(image.data)
    for s in summary:
        row = widget.results["label"].tolist().index(s["label"])
        assert widget.results["voxel_count"][row] == s["voxel_count"]
        assert widget.results["volume_ml"][row] == pytest.approx(s["volume_ml"])
        inside = ct[np.asarray(nodule.data) == s["label"]]
        assert widget.results["mean_HU"][row] == pytest.approx(inside.mean(dtype=np.float64))
        assert widget.results["std_HU"][row] == pytest.approx(inside.std(dtype=np.float64))
        assert widget.results["min_HU"][row] == inside.min() and widget.results["max_HU"][row] == inside.max()
        assert rows[s["label"]]["voxels"] == str(s["voxel_count"])
        assert rows[s["label"]]["mean (HU)"] == f"{inside.mean(dtype=np.float64):.6g}"


def test_totalsegmentator_sidecar_names_rows_status_and_matches_its_statistics(make_napari_viewer, shared_data, tmp_path, qtbot):
    source = shared_data / "ct/totalseg_example"
    shutil.copy(source / "example_seg_fast.nii.gz", tmp_path / "example_seg_fast.nii.gz")
    shutil.copy(source / "totalseg_class_map.json", tmp_path / "example_seg_fast.json")
    reference = json.loads((source / "statistics_example_seg_fast.json").read_text())
    viewer = make_napari_viewer()
    prefer_medimg_reader()  # File > IO utilities: no reader dialog for .nii.gz
    [image] = viewer.open(source / "example_ct_sm.nii.gz", plugin=None)
    [seg] = viewer.open(tmp_path / "example_seg_fast.nii.gz", plugin=None)
    assert seg.__class__.__name__ == "Labels"
    names = dict(zip(seg.features["index"], seg.features["name"]))
    assert names[5] == "liver" and names[1] == "spleen" and len(names) == 118  # 117 classes + background
    widget = _measured(open_widget(viewer, "results"), qtbot)
    assert widget.layer == seg and widget.image == image
    rows = _rows(widget)
    assert rows[5]["name"] == "liver"
    # TotalSegmentator's own figures: volume (mm3) and mean intensity per organ
    checked = 0
    for k, value in enumerate(widget.results["label"].tolist()):
        name = names[value]
        if name in reference and reference[name]["volume"] > 0:
            assert widget.results["volume_mm3"][k] == pytest.approx(reference[name]["volume"], rel=1e-6)
            assert widget.results[[c for c in widget.results if c.startswith("mean")][0]][k] == pytest.approx(
                reference[name]["intensity"], abs=1e-4
            )
            checked += 1
    assert checked == len(widget.results["label"]) >= 20
    # napari's own status text for a position over the liver names it
    liver = np.argwhere(np.asarray(seg.data) == 5)[0]
    assert "name: liver" in _status_over(viewer, seg, liver)


def test_typed_names_and_sidecar_colours(make_napari_viewer, tmp_path, qtbot):
    import napari_medimg

    data = tmp_path / "tumour_label.nrrd"  # "label" in the name: opens as a labels layer
    shutil.copy(Path(napari_medimg.__file__).parent / "data" / "brain_mr_tumour.nrrd", data)
    (tmp_path / "tumour_label.json").write_text(
        json.dumps({"labels": [{"value": 1, "name": "enhancing tumour", "color": [255, 0, 0]}]})
    )
    viewer = make_napari_viewer()
    prefer_medimg_reader()
    [layer] = viewer.open(data, plugin=None)  # as File > Open
    widget = _measured(open_widget(viewer, "results"), qtbot)
    row = widget.row_of(1)
    assert widget.row_values(row)["name"] == "enhancing tumour"
    swatch = widget.table.item(row, 0).data(Qt.ItemDataRole.DecorationRole)
    assert (swatch.red(), swatch.green(), swatch.blue()) == (255, 0, 0)
    np.testing.assert_allclose(layer.colormap.map(np.array([1], np.uint8))[0], [1, 0, 0, 1])
    # typing a name stores it in the layer's features, where napari's status bar finds it
    widget.table.item(row, 1).setText("tumour, left frontal")
    assert dict(zip(layer.features["index"], layer.features["name"]))[1] == "tumour, left frontal"
    voxel = np.argwhere(np.asarray(layer.data) == 1)[0]
    assert "name: tumour, left frontal" in _status_over(viewer, layer, voxel)
    assert widget.row_values(widget.row_of(1))["name"] == "tumour, left frontal"


def test_follows_active_layer_paint_and_operations(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, "brain_mr")
    image, tumour = viewer.layers[0], viewer.layers[1]
    widget = _measured(open_widget(viewer, "results"), qtbot)
    assert widget.layer == tumour and widget.image == image
    before = int(widget.results["voxel_count"][0])
    # painting a new object: measured again once the strokes pause
    centre = [s // 2 for s in tumour.data.shape]
    tumour.selected_label = 7
    tumour.paint(centre, 7, refresh=True)
    qtbot.waitUntil(lambda: widget.row_of(7) is not None, timeout=5000)
    counts = dict(zip(widget.results["label"].tolist(), widget.results["voxel_count"].tolist()))
    assert counts[7] == int(np.count_nonzero(np.asarray(tumour.data) == 7)) > 0
    assert counts[1] == int(np.count_nonzero(np.asarray(tumour.data) == 1)) <= before
    # an operation adds a labels layer, which becomes active: the dock shows it
    op = open_widget(viewer, "threshold_auto")
    op.input_layer.value = image
    worker = op.start(start_thread=False)
    with qtbot.waitSignal(worker.finished, timeout=60_000):
        worker.start()
    result = viewer.layers[-1]
    assert result.__class__.__name__ == "Labels" and viewer.layers.selection.active is result
    assert widget.layer == result and widget.image == image
    assert widget.table.rowCount() == 0  # the tumour's rows are gone while the result is measured
    _measured(widget, qtbot)
    expected = label_summary(np.asarray(result.data), spacing=result.scale)
    assert widget.results["voxel_count"].tolist() == [s["voxel_count"] for s in expected]
    assert widget.table.rowCount() == len(expected)
    # choosing the tumour layer again shows it
    viewer.layers.selection.active = tumour
    assert widget.layer == tumour
    qtbot.waitUntil(lambda: widget.row_of(7) is not None, timeout=30_000)


def test_large_volumes_are_measured_in_a_worker(make_napari_viewer, qtbot, monkeypatch):
    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, "brain_mr")
    widget = _measured(open_widget(viewer, "results"), qtbot)
    sync = {k: v.copy() for k, v in widget.results.items()}
    monkeypatch.setattr(results_widget, "SYNC_VOXELS", 0)
    assert widget.refresh() is not None  # a worker
    assert widget.status.value.startswith("measuring")
    _measured(widget, qtbot)
    assert widget.status.value.startswith("1 object")
    for key, values in sync.items():
        np.testing.assert_array_equal(widget.results[key], values)


def test_selection_follows_between_dock_table_plot_and_layer(make_napari_viewer):
    from matplotlib.backend_bases import MouseEvent

    viewer = make_napari_viewer()
    data = np.zeros((6, 30, 30), np.uint8)
    for k in range(1, 6):
        data[k - 1 : k + 1, 2 * k : 2 * k + k + 1, 3 : 3 + k] = k
    volumes = [0.0] + [float(np.count_nonzero(data == k)) for k in range(1, 6)]
    layer = viewer.add_labels(data, features={"index": list(range(6)), "volume_ml": volumes, "mean": [0.0, 5, 1, 4, 2, 3]})
    table = open_widget(viewer, "features_table")
    plots = open_widget(viewer, "feature_plots")
    results = open_widget(viewer, "results")
    table.layer_picker.value = layer
    plots.labels_layer.value = layer
    plots.x_column.value, plots.y_column.value = "volume_ml", "mean"
    plots.canvas.draw()
    target = int(np.flatnonzero(plots.point_labels == 4)[0])
    x, y = plots.scatter_axes.transData.transform(plots._points[target])
    plots.canvas.callbacks.process("button_press_event", MouseEvent("button_press_event", plots.canvas, x, y, button=1))
    assert layer.selected_label == 4
    selected = table.table.selectionModel().selectedRows()
    assert len(selected) == 1 and table.table.item(selected[0].row(), 0).text() == "4"
    assert results.table.selectionModel().selectedRows()[0].row() == results.row_of(4)
    # a row of the results dock selects the object and moves the plot ring and the table
    results.table.selectRow(results.row_of(2))
    assert layer.selected_label == 2
    np.testing.assert_allclose(plots.highlight.get_xydata(), [plots._points[plots.point_labels == 2][0]])
    selected = table.table.selectionModel().selectedRows()
    assert table.table.item(selected[0].row(), 0).text() == "2"
    assert viewer.dims.point[0] == round(np.argwhere(data == 2)[:, 0].mean())  # the slice through its centre
    assert table.table.minimumHeight() >= 200


def test_names_survive_a_new_measurement(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, "brain_mr")
    image, tumour = viewer.layers[0], viewer.layers[1]
    results = _measured(open_widget(viewer, "results"), qtbot)
    results.table.item(results.row_of(1), 1).setText("glioma")
    measure = open_widget(viewer, "measure")
    measure.labels_layer.value = tumour
    measure.image_layer.value = image
    worker = measure.start(start_thread=False)
    with qtbot.waitSignal(worker.finished, timeout=60_000):
        worker.start()
    features = tumour.features
    assert list(features["index"]) == [0, 1] and list(features["name"]) == ["", "glioma"]
    assert features["volume_ml"][1] == pytest.approx(results.results["volume_ml"][0])
    assert results.row_values(results.row_of(1))["name"] == "glioma"
