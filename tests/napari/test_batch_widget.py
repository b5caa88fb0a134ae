"""Batch dock from napari's menu: a cohort run off the GUI thread, with progress, Cancel, and cases opened as layers."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from _widgets import open_widget

from napari_medimg.pipeline import load_workflow

WORKFLOW = load_workflow(Path(__file__).parents[2] / "examples/workflows/smooth_otsu_objects.yaml")


def _pictures(shared_data, folder, count):
    folder.mkdir()
    sources = sorted((shared_data / "ultrasound/busi_breast/images").glob("*.png"))[:14]
    for i in range(count):
        (folder / f"case{i:02d}.png").symlink_to(sources[i % len(sources)])
    return folder


def test_batch_dock_runs_a_cohort_and_opens_a_case(make_napari_viewer, qtbot, shared_data, tmp_path):
    viewer = make_napari_viewer()
    dock = open_widget(viewer, "batch")
    cases = _pictures(shared_data, tmp_path / "cases", 3)
    (cases / "broken.nii.gz").write_bytes(b"\x1f\x8b\x08\x00" + b"\x00" * 40)
    dock.workflow_file.value = WORKFLOW.save(tmp_path / "wf.yaml")
    dock.inputs.value = cases
    dock.output.value = tmp_path / "out"
    dock.workers.value = 1
    worker = dock.start(start_thread=False)
    with qtbot.waitSignal(worker.finished, timeout=120_000):
        worker.start()
    qtbot.wait(300)
    manifest = json.loads((tmp_path / "out/manifest.json").read_text())
    assert manifest["summary"] == {"done": 3, "failed": 1, "skipped": 0, "pending": 0}
    assert dock.progress_bar.value == 100 and "3 done" in dock.status.value and "broken.nii.gz failed" in dock.log.value
    assert dock.case.choices == ("case00.png", "case01.png", "case02.png")
    dock.case.value = "case01.png"
    layers = dock.open_case()
    assert [layer.name for layer in layers][1:] == ["case01.png smoothed", "case01.png mask", "case01.png objects"]
    assert type(viewer.layers[2]).__name__ == "Labels" and viewer.layers[2].data.max() == 1


def test_batch_dock_cancel_keeps_finished_cases_and_run_goes_on(make_napari_viewer, qtbot, shared_data, tmp_path):
    from napari_medimg._napari.recorder import recorder_for

    viewer = make_napari_viewer()
    dock = open_widget(viewer, "batch")
    dock.inputs.value = _pictures(shared_data, tmp_path / "cases", 40)
    dock.output.value = tmp_path / "out"
    dock.workers.value = 1
    assert dock.start() is None and "record steps first" in dock.status.value  # no file, nothing recorded
    recorder_for().workflow.steps.extend(WORKFLOW.steps)  # the workflow recorded in this viewer
    worker = dock.start(start_thread=False)
    worker.start()
    qtbot.waitUntil(lambda: dock.progress_bar.value > 0, timeout=120_000)
    asked = time.monotonic()
    with qtbot.waitSignal(worker.finished, timeout=30_000):
        dock.cancel()
    stopped = time.monotonic() - asked
    manifest = json.loads((tmp_path / "out/manifest.json").read_text())
    first = manifest["summary"]
    assert manifest["interrupted"] and first["pending"] > 0 and first["done"] >= 1, first
    assert "cancelled" in dock.status.value and dock.case.choices, dock.status.value
    print(f"cancel: stopped {stopped:.1f} s after it was asked (cluster shut down included)")
    worker = dock.start(start_thread=False)  # Run again: goes on from there
    with qtbot.waitSignal(worker.finished, timeout=300_000):
        worker.start()
    summary = json.loads((tmp_path / "out/manifest.json").read_text())["summary"]
    assert summary["skipped"] >= first["done"] and summary["skipped"] + summary["done"] == 40
    shutil.rmtree(tmp_path / "out")
