"""Object classifier, feature selection and plots widgets on ~30 synthetic objects of two kinds."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from _widgets import open_widget
from napari_medimg._qt.classify_widget import (
    CLUSTER_COLUMN,
    PREDICTED_COLUMN,
    PROBABILITY_COLUMN,
    TAG_COLUMN,
    ObjectClassifierWidget,
    class_image,
    default_feature_columns,
)

SCALE = (2.0, 0.5, 0.5)
TRANSLATE = (5.0, 10.0, -3.0)


def _objects(seed: int = 0):
    """30 balls on a 24 x 96 x 96 grid: 15 small bright ones (kind 1), 15 large dark ones (kind 2).

    Label values are shuffled so that they say nothing about the kind.
    """
    rng = np.random.default_rng(seed)
    shape = (24, 96, 96)
    labels = np.zeros(shape, np.uint8)
    image = rng.normal(100, 5, shape).astype(np.float32)
    zz, yy, xx = np.indices(shape)
    centres = [(z, y, x) for z in (6, 17) for y in range(8, 96, 16) for x in range(8, 96, 16)]
    order = rng.permutation(len(centres))[:30]
    values = rng.permutation(np.arange(1, 31))
    kind = {}
    for n, (c, value) in enumerate(zip(order, values)):
        cz, cy, cx = centres[c]
        k = 1 if n < 15 else 2
        r = rng.uniform(1.6, 2.4) if k == 1 else rng.uniform(4.5, 5.5)
        mask = (zz - cz) ** 2 + (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
        labels[mask] = value
        image[mask] = (300.0 if k == 1 else 20.0) + rng.normal(0, 5, int(mask.sum()))
        kind[int(value)] = k
    return labels, image, kind


@pytest.fixture(scope="module")
def objects():
    """Labels, image, kind per label, and the measured features (with a noise column)."""
    from napari_medimg.analysis.measure import measure_labels, to_layer_features
    from napari_medimg.volume import Volume

    labels, image, kind = _objects()
    geometry = {"spacing": SCALE, "origin": TRANSLATE}
    table = measure_labels(Volume.from_array(labels, **geometry), Volume.from_array(image, **geometry))
    table["noise"] = np.random.default_rng(1).normal(size=len(table["label"]))
    return labels, image, kind, to_layer_features(table)


def _layer(viewer, objects):
    labels, image, _, features = objects
    viewer.add_image(image, name="image", scale=SCALE, translate=TRANSLATE)
    return viewer.add_labels(
        labels.copy(), name="objects", features=features, scale=SCALE, translate=TRANSLATE,
        metadata={"medimg": {"modality": "CT"}},
    )


def _wait(qtbot, worker, timeout=30_000):
    with qtbot.waitSignal(worker.finished, timeout=timeout):
        worker.start()


def _kinds_of(layer, kind):
    rows = layer.features[layer.features["index"] != 0]
    return rows, np.array([kind[int(i)] for i in rows["index"]])


def test_class_image_is_a_lookup_dense_and_sparse():
    labels = np.array([[0, 3, 3], [7, 7, 5]], np.uint16)
    np.testing.assert_array_equal(class_image(labels, [3, 7], [2, 1]), [[0, 2, 2], [1, 1, 0]])
    sparse = np.array([[0, 4_000_000_000], [12, 12]], np.uint32)
    out = class_image(sparse, [12, 4_000_000_000], [1, 3])
    np.testing.assert_array_equal(out, [[0, 3], [1, 1]])
    assert out.dtype == np.uint8


def test_default_columns_leave_out_ids_positions_and_nan(objects):
    import pandas as pd

    features = pd.DataFrame(objects[3])
    columns = default_feature_columns(features)
    assert "index" not in columns and "centroid_z_mm" not in columns and "volume_ml" in columns
    assert "elongation" in columns  # finite for every ball
    features["elongation"] = np.nan
    assert "elongation" not in default_feature_columns(features)


def test_tag_train_predict_and_class_layer(make_napari_viewer, qtbot, objects, tmp_path):
    viewer = make_napari_viewer()
    layer = _layer(viewer, objects)
    _, _, kind, _ = objects
    widget = open_widget(viewer, "classify_objects")
    widget.labels_layer.value = layer
    small = [v for v, k in kind.items() if k == 1][:3]
    large = [v for v, k in kind.items() if k == 2][:3]
    # kind 1 -> class 2 and kind 2 -> class 1, so class numbers are not just the kinds
    for value in small:
        layer.selected_label = value
        widget.class_value.value = 2
        widget.tag_selected()
    widget.class_value.value = 1
    for value in large[:2]:
        layer.selected_label = value
        widget.tag_selected()
    # Ctrl+click on the third large object tags it too
    position = layer.data_to_world(np.argwhere(layer.data == large[2])[0])
    viewer.dims.set_point(0, position[0])  # clicks land on the slice in view
    event = SimpleNamespace(position=position, view_direction=None, dims_displayed=[1, 2], modifiers=())
    widget._on_click(layer, event)  # a plain click does not tag
    assert TAG_COLUMN not in layer.features or layer.features.set_index("index")[TAG_COLUMN][large[2]] == 0
    event.modifiers = ("Control",)
    widget._on_click(layer, event)
    assert layer.selected_label == large[2]
    tags = layer.features.set_index("index")[TAG_COLUMN]
    assert sorted(tags[tags > 0].index) == sorted(small + large)
    assert widget.tag_status.value == "tags: 1: 3, 2: 3"
    # untag / retag round trip
    layer.selected_label = small[0]
    widget.untag_selected()
    assert layer.features.set_index("index")[TAG_COLUMN][small[0]] == 0
    widget.class_value.value = 2
    widget.tag_selected()

    worker = widget.train(start_thread=False)
    _wait(qtbot, worker)
    rows, kinds = _kinds_of(layer, kind)
    expected = np.where(kinds == 1, 2, 1)
    untagged = rows[TAG_COLUMN].to_numpy() == 0
    predicted = rows[PREDICTED_COLUMN].to_numpy()
    assert untagged.sum() == 24
    assert np.mean(predicted[untagged] == expected[untagged]) >= 0.9
    assert np.all((rows[PROBABILITY_COLUMN] > 0) & (rows[PROBABILITY_COLUMN] <= 1))
    assert "balanced accuracy 1.000" in widget.results.value and "confusion" in widget.results.value
    # the class layer: every voxel of an object carries the object's class, on the source grid
    classes = viewer.layers["objects classes"]
    np.testing.assert_allclose(classes.scale, SCALE)
    np.testing.assert_allclose(classes.translate, TRANSLATE)
    assert classes.metadata["medimg"]["modality"] == "CT"
    assert classes.data.dtype == np.uint8
    lookup = dict(zip(rows["index"], predicted))
    truth = np.vectorize(lambda v: lookup.get(int(v), 0))(layer.data)
    np.testing.assert_array_equal(classes.data, truth)
    # training again updates that layer rather than piling up new ones
    _wait(qtbot, widget.train(start_thread=False))
    assert [l.name for l in viewer.layers].count("objects classes") == 1 and len(viewer.layers) == 3

    # the model saves, loads and predicts the same on a fresh copy of the layer
    path = widget.save_model(tmp_path / "objects.skops")
    fresh = viewer.add_labels(
        layer.data.copy(), name="again", features=objects[3], scale=SCALE, translate=TRANSLATE
    )
    widget.labels_layer.value = fresh
    _wait(qtbot, widget.load_and_predict(path, start_thread=False))
    again = fresh.features.set_index("index")[PREDICTED_COLUMN]
    model_says = rows.set_index("index")[PREDICTED_COLUMN]
    untagged_labels = rows["index"][untagged]
    np.testing.assert_array_equal(again[untagged_labels], model_says[untagged_labels])
    np.testing.assert_array_equal(viewer.layers["again classes"].data > 0, fresh.data > 0)


def test_train_without_enough_tags_reports_and_keeps_layers(
    make_napari_viewer, qtbot, objects, monkeypatch, tmp_path
):
    import napari_medimg._qt.classify_widget as module

    errors = []
    monkeypatch.setattr("napari.utils.notifications.show_error", errors.append)
    viewer = make_napari_viewer()
    layer = _layer(viewer, objects)
    widget = open_widget(viewer, "classify_objects")
    widget.labels_layer.value = layer
    layer.selected_label = int(layer.features["index"][1])
    widget.tag_selected()  # one class only
    _wait(qtbot, widget.train(start_thread=False))
    assert errors and "two different classes" in errors[-1]
    assert len(viewer.layers) == 2 and widget.train_button.enabled
    assert module.PREDICTED_COLUMN not in layer.features
    # a file that is not a model is refused with a message, nothing runs
    bogus = tmp_path / "bogus.skops"
    bogus.write_bytes(b"not a zip")
    assert widget.load_and_predict(bogus, start_thread=False) is None
    assert "Load model failed" in errors[-1] and "not a skops" in errors[-1]
    with pytest.raises(ValueError, match="train a classifier"):
        widget.save_model(tmp_path / "none.skops")


@pytest.mark.parametrize("method", ["kmeans", "gmm"])
def test_cluster_finds_the_two_kinds(make_napari_viewer, qtbot, objects, method):
    viewer = make_napari_viewer()
    layer = _layer(viewer, objects)
    widget = open_widget(viewer, "classify_objects")
    widget.labels_layer.value = layer
    widget.cluster_method.value = method
    _wait(qtbot, widget.cluster(start_thread=False))
    rows, kinds = _kinds_of(layer, objects[2])
    clusters = rows[CLUSTER_COLUMN].to_numpy()
    assert set(clusters) == {1, 2}
    # one cluster per kind (up to numbering)
    assert len(set(zip(clusters, kinds))) == 2
    layer_of = viewer.layers["objects clusters"]
    assert set(np.unique(layer_of.data)) == {0, 1, 2}
    np.testing.assert_allclose(layer_of.translate, TRANSLATE)


def _with_kind_column(layer, kind):
    features = layer.features.copy()
    features["kind"] = [kind.get(int(i), 0) for i in features["index"]]
    layer.features = features


def test_feature_selection_ranks_informative_above_noise(make_napari_viewer, qtbot, objects):
    from napari_medimg._qt.classify_widget import SELECTION_METADATA_KEY
    from napari_medimg._qt.selection_widget import FeatureSelectionWidget

    viewer = make_napari_viewer()
    layer = _layer(viewer, objects)
    _with_kind_column(layer, objects[2])
    widget = open_widget(viewer, "feature_selection")
    widget.labels_layer.value = layer
    assert widget.target.value == "kind"  # the only class column
    assert "noise" in widget.feature_columns.value and "kind" not in widget.feature_columns.choices
    _wait(qtbot, widget.start(start_thread=False))
    report = widget.report
    ranks = dict(zip(report.table["feature"], report.table["MI rank"]))
    assert ranks["mean"] < ranks["noise"] and ranks["volume_ml"] < ranks["noise"]
    assert report.table["feature"][-1] in ("noise", "elongation", "flatness")  # uninformative at the bottom
    # correlated copies are dropped: voxel_count, volume_mm3 and volume_ml are one feature
    assert len({"voxel_count", "volume_mm3", "volume_ml"} & set(report.selected)) <= 1
    assert "noise" not in report.selected and report.selected
    # the table shows every feature, marks the selected ones; the CV curve is drawn
    assert widget.table.rowCount() == len(widget.feature_columns.value)
    header = [widget.table.horizontalHeaderItem(c).text() for c in range(widget.table.columnCount())]
    marked = [widget.table.item(r, 0).text() for r in range(widget.table.rowCount())
              if widget.table.item(r, header.index("selected")).text() == "yes"]
    assert sorted(marked) == sorted(report.selected)
    (line,) = [l for l in widget.figure.axes[0].get_lines() if len(l.get_xdata()) > 2]
    np.testing.assert_array_equal(line.get_xdata(), report.n_features)
    assert layer.metadata[SELECTION_METADATA_KEY]["selected"] == report.selected
    # the classifier takes the selection over
    classifier = open_widget(viewer, "classify_objects")
    classifier.labels_layer.value = layer
    classifier.use_feature_selection()
    assert list(classifier.feature_columns.value) == report.selected


def test_plots_draw_every_object_and_pick_selects_it(make_napari_viewer, objects):
    from matplotlib.backend_bases import MouseEvent

    from napari_medimg._qt.plots_widget import NO_COLOUR, PlotsWidget

    viewer = make_napari_viewer()
    layer = _layer(viewer, objects)
    widget = open_widget(viewer, "feature_plots")
    widget.labels_layer.value = layer
    assert widget.colour_column.value == NO_COLOUR  # no class column yet
    widget.x_column.value, widget.y_column.value = "volume_ml", "mean"
    rows = layer.features[layer.features["index"] != 0]
    offsets = widget.scatter.get_offsets()
    assert len(offsets) == 30
    np.testing.assert_allclose(np.asarray(offsets), rows[["volume_ml", "mean"]].to_numpy())
    heights = sum(patch.get_height() for patch in widget.histogram_axes.patches)
    assert heights == 30
    # a class column colours the points: two colours, 15 points each, and a stacked histogram
    _with_kind_column(layer, objects[2])
    assert widget.colour_column.value == "kind"
    colours = [tuple(c) for c in widget.scatter.get_facecolors()]
    assert len(colours) == 30 and sorted(colours.count(c) for c in set(colours)) == [15, 15]
    assert [t.get_text() for t in widget.scatter_axes.get_legend().get_texts()] == ["1", "2"]
    # clicking a point selects its object in the layer
    widget.canvas.draw()
    target = 7
    x, y = widget.scatter_axes.transData.transform(widget._points[target])
    event = MouseEvent("button_press_event", widget.canvas, x, y, button=1)
    widget.canvas.callbacks.process("button_press_event", event)
    assert layer.selected_label == widget.point_labels[target] and layer.show_selected_label
    np.testing.assert_allclose(widget.highlight.get_xydata(), [widget._points[target]])
