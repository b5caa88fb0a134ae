"""napari under Xvfb: samples, the reader on files and DICOM folders, the writers, a widget."""

from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk

from _widgets import open_widget, prefer_medimg_reader
from napari_medimg import Volume, read
from napari_medimg._napari.reader import get_reader
from napari_medimg.io.orientation import to_nearest_axes
from napari_medimg.sample_data import SAMPLES, load_sample

PLUGIN = "napari-medimg"


def _expected_display(volume):
    shown, _ = to_nearest_axes(volume)
    leading = len(shown.leading_shape)
    return (1.0,) * leading + shown.spacing, (0.0,) * leading + shown.origin


@pytest.mark.parametrize("key", sorted(SAMPLES))
def test_samples_open_with_scale_and_translate(make_napari_viewer, key):
    viewer = make_napari_viewer(show=True)
    viewer.open_sample(PLUGIN, key)
    image, labels = load_sample(key)
    scale, translate = _expected_display(image)
    layer = viewer.layers[0]
    np.testing.assert_allclose(layer.scale, scale)
    np.testing.assert_allclose(layer.translate, translate)
    assert all(str(u) == "millimeter" for u in layer.units[-image.spatial_ndim :])
    if labels is not None:
        assert viewer.layers[1]._type_string == "labels"
        assert viewer.layers[1].data.dtype == np.uint8
        np.testing.assert_allclose(viewer.layers[1].translate, translate)
    # what a user sees is not blank
    picture = viewer.screenshot(canvas_only=True, flash=False)
    assert picture[..., :3].std() > 10


def test_brain_is_shown_flipped_to_patient_orientation(make_napari_viewer, shared_data):
    viewer = make_napari_viewer()
    path = shared_data / "mr/pyradiomics/brain1_image.nrrd"
    prefer_medimg_reader()
    (layer,) = viewer.open(path, plugin=None)  # as File > Open: napari picks the reader
    source = read(path)
    np.testing.assert_array_equal(layer.data, source.array[:, ::-1, :])
    # the same voxel has the same world position in napari and in the file
    index = np.array([12, 40, 100])
    world_file = source.index_to_world(index)
    world_napari = layer.data_to_world([12, 255 - 40, 100])
    np.testing.assert_allclose(world_napari, world_file, atol=1e-9)


def test_dicom_folder_opens_with_reference_geometry(make_napari_viewer, shared_data):
    folder = shared_data / "dicom/ct_totalseg_jpeg2000"
    reference = json.loads((folder / "example_ct_dicom_dcm2niix_ref_geometry.json").read_text())
    reference = next(iter(reference.values()))
    viewer = make_napari_viewer()
    # napari's own reader also claims every folder, so a folder needs the plugin named (or a
    # remembered choice in napari's dialog)
    (layer,) = viewer.open(folder / "dicom", plugin=PLUGIN)
    assert layer.data.shape == tuple(reference["sitk_size_xyz"][::-1])
    # dcm2niix's NIfTI flips rows; in napari both show in the same patient orientation
    as_referenced = Volume(
        np.zeros(reference["sitk_size_xyz"][::-1], np.int8),
        reference["sitk_spacing"][::-1],
        reference["sitk_origin_LPS"][::-1],
        np.asarray(reference["sitk_direction_LPS"]).reshape(3, 3)[::-1, ::-1],
    )
    scale, translate = _expected_display(as_referenced)
    np.testing.assert_allclose(layer.scale, scale, atol=1e-6)
    np.testing.assert_allclose(layer.translate, translate, atol=1e-3)
    assert layer.metadata["medimg"]["modality"] == "CT"
    assert "PatientName" not in json.dumps(layer.metadata["medimg"])


def test_labels_drawn_in_napari_save_on_the_source_grid(make_napari_viewer, shared_data, tmp_path):
    import napari

    source_path = shared_data / "mr/pyradiomics/brain1_image.nrrd"
    viewer = make_napari_viewer()
    prefer_medimg_reader()
    (image_layer,) = viewer.open(source_path, plugin=None)
    viewer._new_labels()  # napari's "new labels" button: no plugin metadata on the layer
    labels_layer = viewer.layers[-1]
    assert labels_layer.data.shape == image_layer.data.shape
    labels_layer.data[12, 100:120, 80:90] = 3
    labels_layer.data[5, 10, 10] = 7
    out = tmp_path / "drawn.nii.gz"
    labels_layer.save(str(out))

    written = sitk.ReadImage(str(out))
    source = sitk.ReadImage(str(source_path))
    assert written.GetSize() == source.GetSize()
    np.testing.assert_allclose(written.GetSpacing(), source.GetSpacing(), rtol=1e-6)
    np.testing.assert_allclose(written.GetOrigin(), source.GetOrigin(), atol=1e-4)
    np.testing.assert_allclose(written.GetDirection(), source.GetDirection(), atol=1e-6)
    assert written.GetPixelIDValue() == sitk.sitkUInt8
    array = sitk.GetArrayFromImage(written)
    # rows were flipped for display: painted rows 100..119 are rows 255-119..255-100 in the file
    expected = np.zeros(array.shape, np.uint8)
    expected[12, 136:156, 80:90] = 3
    expected[5, 245, 10] = 7
    np.testing.assert_array_equal(array, expected)
    # voxel for voxel: the painted voxel's physical point is the image voxel's physical point
    point = written.TransformIndexToPhysicalPoint((85, 140, 12))
    assert source.TransformPhysicalPointToIndex(point) == (85, 140, 12)

    # a wide integer labels layer on the same grid is stored in the smallest type that fits
    wide = viewer.add_labels(
        np.zeros(image_layer.data.shape, np.int64), scale=image_layer.scale, translate=image_layer.translate
    )
    wide.data[3, 4, 5] = 300
    wide.save(str(tmp_path / "wide.nrrd"))
    stored = sitk.ReadImage(str(tmp_path / "wide.nrrd"))
    assert stored.GetPixelIDValue() == sitk.sitkUInt16
    assert sitk.GetArrayViewFromImage(stored)[3, 255 - 4, 5] == 300


@pytest.mark.parametrize("extension", [".nii.gz", ".nii", ".nrrd", ".mha"])
def test_sample_labels_round_trip_through_the_writer(make_napari_viewer, tmp_path, extension):
    import napari

    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, "brain_mr")
    _, labels = load_sample("brain_mr")
    out = tmp_path / f"tumour{extension}"
    viewer.layers[1].save(str(out))
    back = read(out)
    np.testing.assert_array_equal(back.array, labels.array)
    assert back.array.dtype == np.uint8
    np.testing.assert_allclose(back.origin, labels.origin, atol=1e-4)
    np.testing.assert_allclose(back.direction, labels.direction, atol=1e-6)
    # the image writer too
    out_image = tmp_path / f"image{extension}"
    viewer.layers[0].save(str(out_image))
    image, _ = load_sample("brain_mr")
    np.testing.assert_array_equal(read(out_image).array, image.array)


def test_reader_declines_what_it_cannot_read(make_napari_viewer, tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("not an image " * 50)
    assert get_reader(str(text)) is None
    assert get_reader(str(tmp_path)) is None  # a folder without DICOM
    corrupt = tmp_path / "broken.nii.gz"
    corrupt.write_bytes(b"\x1f\x8b" + bytes(range(256)) * 4)
    viewer = make_napari_viewer()
    with pytest.raises(Exception, match="broken.nii.gz: its gzip stream cannot be opened"):
        viewer.open(corrupt, plugin=PLUGIN)
    assert len(viewer.layers) == 0


def test_operation_widget_runs_in_a_worker_and_keeps_geometry(make_napari_viewer, qtbot):

    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, "brain_mr")
    widget = open_widget(viewer, "gaussian")
    viewer.window.add_dock_widget(widget)
    widget.input_layer.value = viewer.layers[0]
    widget.parameter_widgets["sigma"].value = 2.0
    count = len(viewer.layers)
    worker = widget.start(start_thread=False)
    with qtbot.waitSignal(worker.finished, timeout=60_000):
        worker.start()
    assert len(viewer.layers) == count + 1
    result = viewer.layers[-1]
    assert result.name == "brain_mr gaussian"
    np.testing.assert_allclose(result.scale, viewer.layers[0].scale)
    np.testing.assert_allclose(result.translate, viewer.layers[0].translate)
    assert result.data.dtype == np.float32
    assert result.data.std() < np.asarray(viewer.layers[0].data, np.float32).std()


def test_cancelled_operation_adds_no_layer(make_napari_viewer, qtbot):

    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, "chest_ct")
    widget = open_widget(viewer, "gaussian")
    widget.input_layer.value = viewer.layers[0]
    count = len(viewer.layers)
    worker = widget.start(start_thread=False)
    with qtbot.waitSignal(worker.finished, timeout=60_000):
        worker.start()
        widget.cancel()
    assert len(viewer.layers) == count
    assert widget.run_button.enabled and not widget.cancel_button.enabled


def test_dicom_browser_lists_series_and_opens_a_tilted_ct_resampled(make_napari_viewer, qtbot, shared_data):
    from napari_medimg._qt.dicom_widget import DicomSeriesWidget

    viewer = make_napari_viewer()
    widget = open_widget(viewer, "dicom_browser")
    widget.folder.value = shared_data / "dicom/ct_head_gantry_tilt_ge/dicom"
    worker = widget.scan(start_thread=False)
    with qtbot.waitSignal(worker.finished, timeout=60_000):
        worker.start()
    assert len(widget.series.choices) >= 1 and widget.open_button.enabled
    widget.resample_tilt.value = True
    worker = widget.open_selected(start_thread=False)
    with qtbot.waitSignal(worker.finished, timeout=120_000):
        worker.start()
    assert len(viewer.layers) == 1
    warnings = viewer.layers[0].metadata["medimg"]["warnings"]
    assert any(w.startswith("gantry_tilt") for w in warnings)


def test_preview_shows_the_slice_in_view_as_the_full_run_will(make_napari_viewer, qtbot):
    from napari_medimg.operations import run_operation
    from napari_medimg._napari.layers import layer_snapshot

    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, "chest_ct")
    image = viewer.layers[0]
    widget = open_widget(viewer, "gaussian")
    widget.input_layer.value = image
    widget.parameter_widgets["sigma"].value = 6.0  # 1.2 slices across: the slab matters
    viewer.dims.set_point(0, image.data_to_world([20, 0, 0])[0])
    widget.preview.value = True
    worker = widget.update_preview(start_thread=False)
    with qtbot.waitSignal(worker.finished, timeout=60_000):
        worker.start()
    preview = viewer.layers["gaussian (preview)"]
    assert preview.data.shape == (1, *image.data.shape[1:])
    np.testing.assert_allclose(preview.data_to_world([0, 0, 0]), image.data_to_world([20, 0, 0]))
    full = run_operation("gaussian", layer_snapshot(image), sigma=6.0).array[20]
    np.testing.assert_allclose(preview.data[0], full, rtol=1e-5, atol=1e-2)
    widget.preview.value = False
    assert "gaussian (preview)" not in viewer.layers


def test_event_loop_keeps_running_during_an_operation(make_napari_viewer, qtbot):
    from qtpy.QtCore import QTimer


    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, "chest_ct")
    widget = open_widget(viewer, "gaussian")
    widget.input_layer.value = viewer.layers[0]
    widget.parameter_widgets["sigma"].value = 15.0
    ticks = []
    timer = QTimer()
    timer.setInterval(5)
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start()
    at_finish = []
    worker = widget.start(start_thread=False)
    worker.finished.connect(lambda: at_finish.append(len(ticks)))
    with qtbot.waitSignal(worker.finished, timeout=60_000):
        worker.start()
        assert not ticks  # start() returned at once, before any tick
    timer.stop()
    assert at_finish and at_finish[0] >= 3, "the GUI thread was blocked during the run"


def test_geometry_widgets_resample_and_crop_with_a_second_layer(make_napari_viewer, qtbot, tmp_path):
    import napari


    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, "brain_mr")
    image, tumour = viewer.layers[0], viewer.layers[1]
    resample = open_widget(viewer, "resample_isotropic")
    resample.input_layer.value = image
    resample.parameter_widgets["spacing"].value = 2.0
    worker = resample.start(start_thread=False)
    with qtbot.waitSignal(worker.finished, timeout=60_000):
        worker.start()
    result = viewer.layers[-1]
    np.testing.assert_allclose(result.scale, (2.0, 2.0, 2.0))
    # the lower edge of the physical box stays where it was
    lower_in = np.asarray(image.translate) - np.asarray(image.scale) / 2
    lower_out = np.asarray(result.translate) - np.asarray(result.scale) / 2
    np.testing.assert_allclose(lower_out, lower_in, atol=1e-6)
    # saved, it keeps the source file's axis order (rows back to anterior-first)
    result.save(str(tmp_path / "iso.nrrd"))
    saved = read(tmp_path / "iso.nrrd")
    np.testing.assert_allclose(saved.direction, np.diag([1.0, -1.0, 1.0]))
    np.testing.assert_allclose(saved.spacing, (2.0, 2.0, 2.0))

    crop = open_widget(viewer, "crop_to_labels")
    crop.input_layer.value = image
    crop.parameter_widgets["labels"].value = tumour
    crop.parameter_widgets["margin_mm"].value = 5.0
    worker = crop.start(start_thread=False)
    with qtbot.waitSignal(worker.finished, timeout=60_000):
        worker.start()
    cropped = viewer.layers[-1]
    assert cropped.data.shape[1] < image.data.shape[1] and cropped.data.shape[2] < image.data.shape[2]
    # every tumour voxel's world position falls inside the cropped layer
    where = np.argwhere(np.asarray(tumour.data) > 0)
    world = np.array([tumour.data_to_world(i) for i in where[:: max(1, len(where) // 50)]])
    inside = np.array([cropped.world_to_data(w) for w in world])
    assert np.all(inside > -0.5) and np.all(inside < np.array(cropped.data.shape) - 0.5)


@pytest.mark.parametrize("ndisplay", [2, 3])
def test_seed_points_land_on_their_voxels_and_grow_the_tumour(make_napari_viewer, qtbot, ndisplay):
    from scipy import ndimage

    from napari_medimg.operations import seeds_to_indices

    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, "brain_mr")  # rows flipped for display, scaled and translated
    image, tumour = viewer.layers[0], viewer.layers[1]
    viewer.dims.ndisplay = ndisplay
    mask = np.asarray(tumour.data) > 0
    distance = ndimage.distance_transform_edt(mask, sampling=tumour.scale)
    seed = np.unravel_index(np.argmax(distance), mask.shape)
    points = viewer.add_points([image.data_to_world(seed)], name="seeds", size=3)
    widget = open_widget(viewer, "region_grow")
    widget.input_layer.value = image
    widget.parameter_widgets["seeds"].value = points
    snapshot_world = widget.values()["seeds"]
    from napari_medimg._napari.layers import layer_snapshot

    np.testing.assert_array_equal(seeds_to_indices(snapshot_world, layer_snapshot(image))[0], [seed])
    worker = widget.start(start_thread=False)
    with qtbot.waitSignal(worker.finished, timeout=120_000):
        worker.start()
    grown = np.asarray(viewer.layers[-1].data) > 0
    assert grown[seed]
    features = viewer.layers[-1].features
    assert list(features["index"]) == [0, 1]
    assert features["volume_ml"][1] == pytest.approx(np.count_nonzero(grown) * np.prod(image.scale) / 1000)
    dice = 2 * np.count_nonzero(grown & mask) / (np.count_nonzero(grown) + np.count_nonzero(mask))
    assert dice > 0.72  # brain1 from one seed: 0.749 measured (tests/processing/test_segmentation_real_data.py)


def test_cancel_stops_a_running_filter_midway(make_napari_viewer, qtbot):
    import time


    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, "chest_ct")
    widget = open_widget(viewer, "non_local_means")  # seconds on the whole CT
    widget.input_layer.value = viewer.layers[0]
    widget.parameter_widgets["search_radius"].value = 6.0
    count = len(viewer.layers)
    worker = widget.start()
    qtbot.waitUntil(lambda: widget._fraction > 0, timeout=60_000)  # it is running and reporting
    started = time.perf_counter()
    with qtbot.waitSignal(worker.finished, timeout=60_000):
        widget.cancel()
    assert time.perf_counter() - started < 10.0
    assert 0 < widget._fraction < 1.0  # stopped before the end
    assert len(viewer.layers) == count


def test_keypoints_become_a_points_layer_on_the_image(make_napari_viewer, qtbot):

    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, "chest_xray")
    image = viewer.layers[0]
    widget = open_widget(viewer, "keypoints")
    widget.input_layer.value = image
    assert not widget.preview.enabled
    worker = widget.start(start_thread=False)
    with qtbot.waitSignal(worker.finished, timeout=60_000):
        worker.start()
    points = viewer.layers[-1]
    assert points._type_string == "points" and len(points.data) >= 5
    assert {"scale", "orientation", "response"} <= set(points.features.columns)
    # each point sits on its keypoint's pixel of the image
    rows = points.features[["row", "col"]].to_numpy()
    np.testing.assert_allclose([image.world_to_data(p) for p in points.data[:5]], rows[:5], atol=1e-6)


def test_preview_of_an_oblique_series_sits_on_its_slice(make_napari_viewer, qtbot, shared_data):

    viewer = make_napari_viewer()
    (image,) = viewer.open(shared_data / "dicom/ct_head_gantry_tilt_ge/dicom", plugin=PLUGIN)  # 18.5 degrees
    widget = open_widget(viewer, "gaussian")
    widget.input_layer.value = image
    viewer.dims.set_point(0, image.data_to_world([10, 0, 0])[0])
    widget.preview.value = True
    worker = widget.update_preview(start_thread=False)
    with qtbot.waitSignal(worker.finished, timeout=60_000):
        worker.start()
    preview = viewer.layers["gaussian (preview)"]
    np.testing.assert_allclose(preview.data_to_world([0, 0, 0]), image.data_to_world([10, 0, 0]), atol=1e-6)


def test_snapshot_follows_a_layer_moved_with_its_affine(make_napari_viewer):
    from napari_medimg._napari.layers import layer_snapshot
    from napari_medimg.operations import run_operation

    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, "brain_mr")
    image = viewer.layers[0]
    moved = np.eye(4)
    moved[:3, 3] = (5.0, 10.0, 20.0)
    image.affine = moved  # what napari's transform mode edits
    result = run_operation("gaussian", layer_snapshot(image), sigma=1.0)
    np.testing.assert_allclose(result.index_to_world([0, 0, 0]), image.data_to_world([0, 0, 0]), atol=1e-9)


def test_confidence_connected_preview_is_the_full_result_on_that_slice(make_napari_viewer, qtbot):
    """It previewed a flood of the slab (Dice 0.22 against its own result); now it runs as the result does."""
    from napari_medimg._napari.layers import layer_snapshot

    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, "chest_ct")
    image, nodule = viewer.layers[0], viewer.layers[1]
    z, y, x = np.round(np.argwhere(np.asarray(nodule.data) > 0).mean(axis=0)).astype(int)
    seeds = viewer.add_points([image.data_to_world([z, y, x])], name="seeds")
    widget = open_widget(viewer, "confidence_connected")
    widget.input_layer.value = image
    widget.parameter_widgets["seeds"].value = seeds
    assert widget.preview.enabled and "whole volume" in widget.preview.tooltip
    viewer.dims.set_point(0, image.data_to_world([z, 0, 0])[0])
    widget.preview.value = True
    worker = widget.update_preview(start_thread=False)
    with qtbot.waitSignal(worker.finished, timeout=60_000):
        worker.start()
    preview = viewer.layers["confidence_connected (preview)"]
    np.testing.assert_allclose(preview.data_to_world([0, 0, 0]), image.data_to_world([z, 0, 0]))
    full = widget.operation.run(layer_snapshot(image), widget.values()).array
    assert full[z].sum() > 0
    np.testing.assert_array_equal(preview.data[0], full[z])


def test_an_operation_without_an_exact_preview_says_so(make_napari_viewer):
    viewer = make_napari_viewer()
    widget = open_widget(viewer, "n4_bias_correction_masked")
    assert not widget.preview.enabled
    assert widget.preview.text.startswith("no preview: the result depends on the whole volume")

