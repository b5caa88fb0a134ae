import numpy as np
import pytest

from _widgets import open_widget
from napari_medimg._qt.features_table import FeaturesTableWidget


def _labels(viewer):
    data = np.zeros((5, 20, 20), np.uint8)
    data[1, 2:4, 2:4] = 1
    data[3, 10:15, 10:15] = 2
    data[2, 16:18, 3:5] = 3
    features = {"index": [0, 1, 2, 3], "volume_ml": [0.0, 0.004, 0.025, 0.004], "voxels": [0, 4, 25, 4]}
    return viewer.add_labels(data, features=features, scale=(2.0, 1.0, 1.0), translate=(10.0, 0.0, 0.0))


def test_table_rows_link_to_objects_and_export(make_napari_viewer, tmp_path):
    viewer = make_napari_viewer()
    layer = _labels(viewer)
    widget = open_widget(viewer, "features_table")
    widget.layer_picker.value = layer
    assert widget.table.rowCount() == 3  # background row left out
    assert [widget.table.horizontalHeaderItem(c).text() for c in range(3)] == ["index", "volume_ml", "voxels"]
    # sorting by volume puts label 2 last (numeric, not text order)
    widget.table.sortItems(1)
    assert widget.table.item(2, 0).text() == "2"
    widget.table.selectRow(2)
    assert layer.selected_label == 2 and layer.show_selected_label
    assert viewer.dims.point[0] == 10.0 + 2.0 * 3  # the slice through label 2
    widget.select_row_of(3)
    rows = widget.table.selectionModel().selectedRows()
    assert widget.table.item(rows[0].row(), 0).text() == "3"
    out = widget.export_csv(tmp_path / "features.csv")
    lines = out.read_text().splitlines()
    assert lines[0] == "index,volume_ml,voxels" and len(lines) == 4


def test_table_follows_feature_changes(make_napari_viewer):
    viewer = make_napari_viewer()
    layer = _labels(viewer)
    widget = open_widget(viewer, "features_table")
    widget.layer_picker.value = layer
    layer.features = {"index": [0, 1], "voxels": [0, 4]}
    assert widget.table.rowCount() == 1


def test_measure_widget_fills_features_with_volumes_hu_and_radiomics(make_napari_viewer, qtbot, tmp_path):
    from napari_medimg._qt.measure_widget import MeasureWidget
    from napari_medimg.sample_data import load_sample

    viewer = make_napari_viewer()
    viewer.open_sample("napari-medimg", "chest_ct")
    image, nodule = viewer.layers[0], viewer.layers[1]
    widget = open_widget(viewer, "measure")
    widget.labels_layer.value = nodule
    widget.image_layer.value = image
    widget.radiomics.value = True
    settings = tmp_path / "params.yaml"
    settings.write_text("setting:\n  binWidth: 25\nfeatureClass:\n  firstorder:\n  glcm:\n")
    widget.settings.value = settings
    worker = widget.start(start_thread=False)
    with qtbot.waitSignal(worker.finished, timeout=60_000):
        worker.start()
    features = nodule.features
    assert list(features["index"]) == [0, 1]
    ct, labels = load_sample("chest_ct")
    inside = ct.array[labels.array > 0]
    assert features["volume_ml"][1] == pytest.approx(inside.size * np.prod(ct.spacing) / 1000)
    assert features["mean_HU"][1] == pytest.approx(inside.mean())
    assert features["original_firstorder_Mean"][1] == pytest.approx(inside.mean())
    assert "original_glcm_Contrast" in features and "original_shape_Sphericity" not in features


def test_measure_widget_gives_the_share_of_voxels_below_thresholds_and_records_it(make_napari_viewer, qtbot):
    from napari_medimg._napari.recorder import recorder_for
    from napari_medimg.sample_data import load_sample

    viewer = make_napari_viewer()
    viewer.open_sample("napari-medimg", "chest_ct")
    image, nodule = viewer.layers[0], viewer.layers[1]
    widget = open_widget(viewer, "measure")
    widget.labels_layer.value, widget.image_layer.value = nodule, image
    widget.below.value = "-950, 0 ;"
    worker = widget.start(start_thread=False)
    with qtbot.waitSignal(worker.finished, timeout=60_000):
        worker.start()
    ct, labels = load_sample("chest_ct")
    inside = ct.array[labels.array > 0]
    assert nodule.features["percent_below_-950_HU"][1] == pytest.approx(100 * (inside < -950).mean())
    assert nodule.features["percent_below_0_HU"][1] == pytest.approx(100 * (inside < 0).mean())
    step = recorder_for().workflow.steps[-1]
    assert step.measure is not None and step.params["below"] == [-950.0, 0.0]
    widget.below.value = "-950, air"
    assert widget.start(start_thread=False) is None and "'air' is not a number" in widget.status.value
