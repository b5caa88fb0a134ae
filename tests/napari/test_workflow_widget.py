"""Workflow dock: operations run from the menus are recorded, edited, saved, replayed, and batch-run headless."""

from __future__ import annotations

import json

import numpy as np
import pytest

from _widgets import open_widget, prefer_medimg_reader
from napari_medimg import read


def _run(widget, qtbot):
    worker = widget.start(start_thread=False)
    with qtbot.waitSignal(worker.finished, timeout=60_000):
        worker.start()


def test_recorded_in_napari_replays_headless_voxel_identical(make_napari_viewer, qtbot, shared_data, tmp_path):
    from napari_medimg.cli import main

    source = shared_data / "mr/pyradiomics/brain1_image.nrrd"
    viewer = make_napari_viewer()
    prefer_medimg_reader()
    image = viewer.open(str(source), plugin=None)[0]
    dock = open_widget(viewer, "workflow")
    smooth = open_widget(viewer, "gaussian")
    smooth.input_layer.value = image
    smooth.parameter_widgets["sigma"].value = 1.5
    _run(smooth, qtbot)
    smoothed = viewer.layers[-1]
    threshold = open_widget(viewer, "threshold_auto")
    threshold.input_layer.value = smoothed
    _run(threshold, qtbot)
    mask = viewer.layers[-1]
    steps = dock.workflow.steps
    assert [(s.operation, s.input) for s in steps] == [("gaussian", "image"), ("threshold_auto", steps[0].name)]
    assert steps[0].params["sigma"] == 1.5 and "gaussian" in dock.steps_text.value
    # edit: rename the first step (the reference follows), save
    dock.step.value = steps[0].name
    dock.new_name.value = "smoothed"
    dock.rename()
    assert steps[1].input == "smoothed"
    dock.path.value = tmp_path / "recorded.yaml"
    saved = dock.save()
    assert saved.read_text().startswith("workflow: 1")
    # headless: the same input through `napari-medimg batch`, voxel for voxel
    folder = tmp_path / "cases"
    folder.mkdir()
    (folder / source.name).symlink_to(source)
    assert main(["batch", str(saved), str(folder), str(tmp_path / "out"), "--workers", "1"]) == 0
    manifest = json.loads((tmp_path / "out/manifest.json").read_text())
    outputs = manifest["cases"][0]["outputs"]
    batch_smoothed = read(tmp_path / "out" / outputs["smoothed"]["path"])
    batch_mask = read(tmp_path / "out" / outputs[steps[1].name]["path"])
    smoothed.save(str(tmp_path / "gui_smoothed.nrrd"))  # File > Save: back in the file's voxel order
    mask.save(str(tmp_path / "gui_mask.nii.gz"))
    np.testing.assert_array_equal(batch_smoothed.array, read(tmp_path / "gui_smoothed.nrrd").array)
    np.testing.assert_array_equal(batch_mask.array, read(tmp_path / "gui_mask.nii.gz").array)
    np.testing.assert_allclose(batch_mask.origin, read(tmp_path / "gui_mask.nii.gz").origin, atol=1e-4)
    # replay in napari on another layer, after changing a parameter
    dock.step.value = "smoothed"
    dock.params.value = "{sigma: 3.0}"
    dock.set_params()
    assert steps[0].params == {"sigma": 3.0}
    dock.params.value = "{sigma: -3}"
    dock.set_params()
    assert steps[0].params == {"sigma": 3.0} and "not changed" in dock.status.value
    dock.image_layer.value = image
    worker = dock.replay(start_thread=False)
    assert worker is not None, (dock.image_layer.value, dock._extras(), dock.status.value)
    with qtbot.waitSignal(worker.finished, timeout=60_000):
        worker.start()
    assert viewer.layers[-1].name.endswith(steps[1].name) and viewer.layers[-1].__class__.__name__ == "Labels"
    dock.move(1)  # the smoothing after the threshold: its input does not exist yet
    assert "check" in dock.status.value


def test_load_refuses_a_broken_workflow(make_napari_viewer, tmp_path):
    viewer = make_napari_viewer()
    dock = open_widget(viewer, "workflow")
    (tmp_path / "bad.yaml").write_text("workflow: 1\nname: x\nsteps:\n  - {name: a, operation: nope}\n")
    dock.path.value = tmp_path / "bad.yaml"
    dock.load()
    assert "nope" in dock.status.value and not dock.workflow.steps
    assert dock.save() is None  # nothing to save: said, no file


def test_model_and_radiomics_recorded_in_napari_give_the_same_numbers_in_batch(make_napari_viewer, qtbot, shared_data,
                                                                                 tmp_path):
    """A shipped U-Net from its menu, then Measure with radiomics: the batch's table equals the layer's features."""
    from napari_medimg.cli import main

    source = shared_data / "xray/cxr_lungs_covid/images/001.png"
    viewer = make_napari_viewer()
    prefer_medimg_reader()
    image = viewer.open(str(source), plugin=None)[0]
    dock = open_widget(viewer, "workflow")
    model = open_widget(viewer, "segment_with_model")
    model.input_layer.value = image
    model.parameter_widgets["model"].value = "cxr-lungs-heart"
    _run(model, qtbot)
    organs = viewer.layers[-1]
    measure = open_widget(viewer, "measure")
    measure.labels_layer.value = organs
    measure.image_layer.value = image
    measure.radiomics.value = True
    _run(measure, qtbot)
    features = organs.features
    assert len(features) >= 3 and "original_glcm_Contrast" in features  # background row + lungs, heart
    steps = dock.workflow.steps
    assert [s.kind for s in steps] == ["operation", "measure"]
    assert steps[1].measure == steps[0].name and steps[1].image == "image" and steps[1].params == {"radiomics": True}
    dock.path.value = tmp_path / "organs.yaml"
    saved = dock.save()
    folder = tmp_path / "cases"
    folder.mkdir()
    (folder / source.name).symlink_to(source)
    assert main(["batch", str(saved), str(folder), str(tmp_path / "out"), "--workers", "1"]) == 0
    import csv

    with open(tmp_path / "out" / f"{steps[1].name}.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    gui = {int(label): i for i, label in enumerate(features["index"]) if int(label)}
    assert sorted(int(r["label"]) for r in rows) == sorted(gui)
    columns = ["area_mm2", "mean", "original_firstorder_Mean", "original_firstorder_Entropy",
               "original_glcm_Contrast", "original_glszm_ZoneEntropy", "original_shape2D_Perimeter"]
    for row in rows:
        for column in columns:
            assert float(row[column]) == pytest.approx(float(features[column].iloc[gui[int(row["label"])]]), rel=1e-9), column


def test_a_recorded_click_is_declared_saved_loaded_and_replayed(make_napari_viewer, qtbot, tmp_path):
    from napari_medimg.pipeline import load_workflow

    viewer = make_napari_viewer()
    viewer.open_sample("napari-medimg", "chest_ct")
    image, nodule = viewer.layers[0], viewer.layers[1]
    z, y, x = np.round(np.argwhere(np.asarray(nodule.data) > 0).mean(axis=0)).astype(int)
    click = viewer.add_points([image.data_to_world([z, y, x])], name="click")
    dock = open_widget(viewer, "workflow")
    grow = open_widget(viewer, "confidence_connected")
    grow.input_layer.value = image
    grow.parameter_widgets["seeds"].value = click
    _run(grow, qtbot)
    grown = np.asarray(viewer.layers[-1].data).copy()
    assert grown[z, y, x] and dock.workflow.case_inputs() == {"click": "points"}
    dock.path.value = tmp_path / "grow.yaml"
    dock.save()
    assert load_workflow(tmp_path / "grow.yaml").inputs == {"click": "points"}  # loads: the click is declared
    dock.load()
    dock.image_layer.value = image
    before = len(viewer.layers)
    worker = dock.replay(start_thread=False)
    with qtbot.waitSignal(worker.finished, timeout=60_000):
        worker.start()
    assert len(viewer.layers) == before + 1
    np.testing.assert_array_equal(np.asarray(viewer.layers[-1].data), grown)  # the click came from the layer
