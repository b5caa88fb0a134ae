"""The scribble classifier in napari: live preview while painting, segmentation, cancel, files."""

from __future__ import annotations

import numpy as np
from qtpy.QtCore import QTimer
from scipy import ndimage

from _widgets import open_widget
from napari_medimg._qt.scribble_widget import PREVIEW_NAME, ScribbleClassifierWidget

PLUGIN = "napari-medimg"


def _paint_strokes(layer, tumour, z):
    """Tumour strokes inside the label and background strokes around it, on slice z, as paint events."""
    inside = ndimage.binary_erosion(tumour[z], iterations=2)
    ring = ndimage.binary_dilation(tumour[z], iterations=8) & ~ndimage.binary_dilation(tumour[z], iterations=4)
    far = np.zeros_like(ring)
    far[40:216:8, 30:226] = True  # lines through the head and air
    far &= ~ndimage.binary_dilation(tumour[z], iterations=15)
    for mask, value in ((inside, 1), (ring | far, 2)):
        rows, cols = np.nonzero(mask)
        layer.data_setitem((np.full(rows.size, z), rows, cols), value)  # one stroke: emits events.paint


def _viewer_with_scribbles(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, "brain_mr")
    image, tumour_layer = viewer.layers[0], viewer.layers[1]
    widget = open_widget(viewer, "scribble_classifier")
    widget.image_layer.value = image
    scribbles = widget.add_scribbles_layer()
    assert scribbles.data.shape == image.data.shape and np.allclose(scribbles.translate, image.translate)
    tumour = np.asarray(tumour_layer.data) > 0
    z = int(np.argmax(tumour.sum(axis=(1, 2))))
    return viewer, widget, scribbles, tumour, z


def test_preview_follows_painting_without_blocking_the_gui(make_napari_viewer, qtbot):
    viewer, widget, scribbles, tumour, z = _viewer_with_scribbles(make_napari_viewer)
    viewer.dims.set_point(0, viewer.layers[0].data_to_world([z, 0, 0])[0])
    ticks = []
    timer = QTimer()
    timer.setInterval(5)
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start()
    _paint_strokes(scribbles, tumour, z)  # the stroke schedules a fit + slice preview
    qtbot.waitUntil(lambda: PREVIEW_NAME in viewer.layers, timeout=60_000)
    timer.stop()
    assert len(ticks) >= 5, "the GUI thread was blocked while training"
    preview = viewer.layers[PREVIEW_NAME]
    assert preview.data.shape == (1, *tumour.shape[1:])
    np.testing.assert_allclose(preview.data_to_world([0, 0, 0]), viewer.layers[0].data_to_world([z, 0, 0]))
    shown = preview.data[0] == 1
    dice = 2 * np.count_nonzero(shown & tumour[z]) / (np.count_nonzero(shown) + np.count_nonzero(tumour[z]))
    assert dice > 0.75  # 0.81 measured: raw forest output on the painted slice
    # the background class (2) is 0 in the preview: transparent, only the object is coloured
    assert set(np.unique(preview.data).tolist()) == {0, 1}
    assert preview.data.mean() < 0.1  # the object, not a wash over the image
    assert viewer.layers.selection.active == scribbles  # the user keeps painting (== : the widget holds a proxy)
    area_cm2 = np.count_nonzero(shown) * np.prod(viewer.layers[0].scale[1:]) / 100.0
    assert widget.status.value.endswith(f"objects {area_cm2:.2f} cm²")


def test_brush_size_is_given_in_mm(make_napari_viewer):
    viewer, widget, scribbles, tumour, z = _viewer_with_scribbles(make_napari_viewer)
    pixel = float(viewer.layers[0].scale[-1])  # 0.78125 mm
    assert scribbles.brush_size == round(3.0 / pixel) == 4  # the default 3 mm
    widget.brush_mm.value = 10.0
    assert scribbles.brush_size == round(10.0 / pixel) == 13
    assert abs(scribbles.brush_size * pixel - 10.0) <= pixel / 2


def test_segment_volume_cancel_and_files(make_napari_viewer, qtbot, tmp_path):
    viewer, widget, scribbles, tumour, z = _viewer_with_scribbles(make_napari_viewer)
    widget.live.value = False
    _paint_strokes(scribbles, tumour, z)
    count = len(viewer.layers)
    worker = widget.segment(start_thread=False)
    with qtbot.waitSignal(worker.finished, timeout=120_000):
        worker.start()
        widget.cancel()
    assert len(viewer.layers) == count  # cancelled: nothing added
    viewer.layers.selection.active = scribbles
    worker = widget.segment(start_thread=False)
    with qtbot.waitSignal(worker.finished, timeout=120_000):
        worker.start()
    classes = viewer.layers[f"{viewer.layers[0].name} classes"]
    assert classes._type_string == "labels" and np.allclose(classes.scale, viewer.layers[0].scale)
    grown = np.asarray(classes.data) == 1
    dice = 2 * np.count_nonzero(grown & tumour) / (np.count_nonzero(grown) + np.count_nonzero(tumour))
    assert dice > 0.64  # 0.676 measured: scribbles on ONE slice (three slices: 0.836, tests/analysis)
    # background voxels are 0: only the object is drawn, over a transparent background
    assert set(np.unique(classes.data).tolist()) == {0, 1}
    probability = viewer.layers[f"{viewer.layers[0].name} probability of class 1"].data
    assert np.all(np.asarray(classes.data)[probability < 0.3] == 0)
    volume_ml = np.count_nonzero(grown) * np.prod(viewer.layers[0].scale) / 1000.0
    row = classes.features.set_index("index").loc[1]
    assert row["voxel_count"] == np.count_nonzero(grown)
    np.testing.assert_allclose(row["volume_ml"], volume_ml, rtol=1e-12)
    assert widget.status.value == f"segmented; class 1: {volume_ml:.2f} mL"
    assert viewer.layers.selection.active == scribbles  # adding the results kept the painted layer active
    widget.model_path.value = tmp_path / "brain.npz"
    widget.save()
    assert (tmp_path / "brain.npz").is_file()
    widget.load()
    assert list(widget.classifier.classes_) == [1, 2]


def test_preview_after_a_stroke_on_a_brats_flair_comes_within_0_3_s(make_napari_viewer, qtbot, shared_data):
    """A BraTS FLAIR opened as a user opens it: the slice in view is prefetched when the user
    arrives, and each later stroke's preview (the preview forest on cached features) is shown
    in under 0.3 s (median of 6 strokes; benchmarks/bench_interactive.py gives 0.14 s for the
    library path)."""
    import time

    from _widgets import prefer_medimg_reader
    from napari_medimg import read

    case = shared_data / "mr" / "brats_tumour" / "brats_2013_pat0001_1"
    viewer = make_napari_viewer()
    prefer_medimg_reader()
    viewer.open(case / "Flair_subtrMeanDivStd.nii.gz", plugin=None)
    tumour = read(case / "OTMultiClass.nii.gz").array > 0
    widget = open_widget(viewer, "scribble_classifier")
    widget.image_layer.value = viewer.layers[0]
    scribbles = widget.add_scribbles_layer()
    z = int(np.argmax(tumour.sum(axis=(1, 2))))
    viewer.dims.set_point(0, viewer.layers[0].data_to_world([z, 0, 0])[0])
    qtbot.waitUntil(lambda: z in widget.cache._slices, timeout=30_000)  # prefetched on arrival
    _paint_strokes(scribbles, tumour, z)
    qtbot.waitUntil(lambda: PREVIEW_NAME in viewer.layers and widget.preview_worker is None, timeout=30_000)
    preview = viewer.layers[PREVIEW_NAME]
    shown: list[float] = []
    preview.events.data.connect(lambda *_: shown.append(time.perf_counter()))
    inside = np.argwhere(ndimage.binary_erosion(tumour[z], iterations=2))
    outside = np.argwhere(~ndimage.binary_dilation(tumour[z], iterations=10) & (viewer.layers[0].data[z] > -1))
    latencies = []
    for k in range(6):
        pixels = (inside if k % 2 else outside)[k * 7 : k * 7 + 30 : 3]
        before = len(shown)
        start = time.perf_counter()
        scribbles.data_setitem((np.full(len(pixels), z), pixels[:, 0], pixels[:, 1]), 1 + k % 2)  # a stroke
        qtbot.waitUntil(lambda: len(shown) > before and widget.preview_worker is None, timeout=30_000)
        latencies.append(shown[-1] - start)
    print("preview latencies (s):", [round(t, 3) for t in latencies])
    assert float(np.median(latencies)) < 0.3, latencies
    assert set(np.unique(preview.data).tolist()) <= {0, 1} and (preview.data == 1).any()


def test_segmented_objects_can_go_into_an_existing_labels_layer(make_napari_viewer, qtbot):
    viewer, widget, scribbles, tumour, z = _viewer_with_scribbles(make_napari_viewer)
    widget.live.value = False
    _paint_strokes(scribbles, tumour, z)
    image = viewer.layers[0]
    earlier = np.zeros(image.data.shape, np.uint8)
    earlier[:, :10, :10] = 1  # an object segmented before, in a corner of the head's image
    target = viewer.add_labels(earlier.copy(), name="objects", scale=image.scale, translate=image.translate)
    widget.objects.layer.reset_choices()
    widget.objects.layer.value = target
    count = len(viewer.layers)
    worker = widget.segment(start_thread=False)
    with qtbot.waitSignal(worker.finished, timeout=120_000):
        worker.start()
    assert len(viewer.layers) == count  # no new layer: the tumour went into "objects"
    data = np.asarray(target.data)
    assert sorted(np.unique(data).tolist()) == [0, 1, 2]
    np.testing.assert_array_equal(data[earlier == 1], 1)  # the earlier object kept every voxel
    grown = data == 2
    assert 2 * np.count_nonzero(grown & tumour) / (np.count_nonzero(grown) + np.count_nonzero(tumour)) > 0.6
    assert list(target.features["index"]) == [0, 1, 2]
    widget.objects.undo_last_run()
    np.testing.assert_array_equal(np.asarray(target.data), earlier)


def test_preview_on_a_2d_radiograph(make_napari_viewer, qtbot, shared_data):
    """A chest radiograph opened by napari's own reader (a 2D picture): strokes in the lungs
    and around them give a preview of the whole picture that finds the lungs."""
    from skimage.io import imread

    folder = shared_data / "xray" / "cxr_lungs_montgomery"
    viewer = make_napari_viewer()
    (image,) = viewer.open(folder / "images" / "1.jpg", plugin=None)
    lungs = imread(folder / "masks" / "1-mask.png") > 0
    assert lungs.shape == image.data.shape
    widget = open_widget(viewer, "scribble_classifier")
    widget.image_layer.value = image
    scribbles = widget.add_scribbles_layer()
    inside = ndimage.binary_erosion(lungs, iterations=15)
    outside = ~ndimage.binary_dilation(lungs, iterations=15)
    for mask, value in ((inside, 1), (outside, 2)):
        rows, cols = np.nonzero(mask & (np.add.outer(np.arange(512), np.arange(512)) % 9 == 0))
        scribbles.data_setitem((rows, cols), value)  # strokes: emit events.paint
    qtbot.waitUntil(lambda: PREVIEW_NAME in viewer.layers, timeout=60_000)
    shown = np.asarray(viewer.layers[PREVIEW_NAME].data) == 1
    assert shown.shape == lungs.shape
    dice = 2 * np.count_nonzero(shown & lungs) / (np.count_nonzero(shown) + np.count_nonzero(lungs))
    assert dice > 0.8, dice
    assert widget.status.value.startswith("preview of the image")
