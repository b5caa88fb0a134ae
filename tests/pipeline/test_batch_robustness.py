"""A batch under stress: a case too large for a worker's memory, Ctrl-C, a worker killed mid-case."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from napari_medimg.pipeline import find_cases, load_workflow, run_batch
from napari_medimg.pipeline.cases import file_sha256

WORKFLOW = load_workflow(Path(__file__).parents[2] / "examples/workflows/smooth_otsu_objects.yaml")


@pytest.fixture(scope="module")
def pictures(shared_data, tmp_path_factory):
    """40 ultrasound pictures (14 files, each under several names): enough cases to stop a batch mid-way."""
    root = tmp_path_factory.mktemp("pictures")
    sources = sorted((shared_data / "ultrasound/busi_breast/images").glob("*.png"))[:14]
    for i in range(40):
        (root / f"case{i:02d}.png").symlink_to(sources[i % len(sources)])
    return root


def _start(workflow_path: Path, inputs: Path, output: Path, *extra: str) -> subprocess.Popen:
    """`napari-medimg batch` in its own process group, as a shell runs it."""
    return subprocess.Popen(
        [sys.executable, "-m", "napari_medimg.cli", "batch", str(workflow_path), str(inputs), str(output), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )


def _wait_for_done(process: subprocess.Popen, count: int, timeout: float = 120.0) -> list[str]:
    lines, done, deadline = [], 0, time.monotonic() + timeout
    while done < count and time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        done += " done" in line and "[" in line
    assert done >= count, "".join(lines)
    return lines


def _check_outputs(output: Path, *, scratch_left: bool = False) -> dict:
    """Every finished case's outputs are there and are what its record says; no half-written file anywhere.

    A worker stopped mid-write may leave its hidden scratch folder (``.name.partial``) in an
    unfinished case's folder (``scratch_left``); the case's next run removes it.
    """
    manifest = json.loads((output / "manifest.json").read_text())
    for case in manifest["cases"]:
        if case["status"] in ("done", "skipped"):
            for item in case["outputs"].values():
                assert file_sha256(output / item["path"]) == item["sha256"], item
    scratch = list(output.rglob("*.partial"))
    finished = {c["id"] for c in manifest["cases"] if c["status"] in ("done", "skipped")}
    assert not [p for p in scratch if p.parent.name in finished or not scratch_left], scratch
    return manifest


def test_a_case_too_large_for_a_worker_is_refused_with_the_figure(pictures, tmp_path):
    import nibabel as nib
    import numpy as np

    folder = tmp_path / "cases"
    folder.mkdir()
    for name in ("case00.png", "case01.png"):
        (folder / name).symlink_to(pictures / name)
    header = nib.Nifti1Image(np.zeros((2, 2, 2), np.int16), np.eye(4)).header
    header.set_data_shape((1000, 1000, 400))  # 0.75 GiB of int16 declared: a sparse file on disk
    big = folder / "large.nii"
    with open(big, "wb") as handle:
        handle.write(header.binaryblock + b"\0" * 4)
        handle.truncate(352 + 1000 * 1000 * 400 * 2)
    manifest = run_batch(WORKFLOW, find_cases(folder), tmp_path / "out", workers=1, memory_per_worker="1.2GB",
                         say=lambda _: None)
    status = {c["id"]: c for c in manifest["cases"]}
    assert status["case00.png"]["status"] == status["case01.png"]["status"] == "done"
    refused = status["large.nii"]
    assert refused["status"] == "failed" and "GiB" in refused["error"] and "this worker may use 1.1 GiB" in refused["error"]
    assert manifest["memory_per_worker"] == "1.2GB"


def test_ctrl_c_stops_cleanly_and_the_same_command_goes_on(pictures, tmp_path):
    workflow = WORKFLOW.save(tmp_path / "wf.yaml")
    output = tmp_path / "out"
    process = _start(workflow, pictures, output, "--workers", "1")
    _wait_for_done(process, 2)
    os.killpg(process.pid, signal.SIGINT)  # Ctrl-C: the whole group, workers included
    rest, _ = process.communicate(timeout=60)
    assert process.returncode == 130, rest
    assert "run the same command again" in rest and "Traceback" not in rest
    manifest = _check_outputs(output, scratch_left=True)
    first = manifest["summary"]
    assert first["done"] >= 2 and first["pending"] >= 1 and manifest["interrupted"], first
    again = _start(workflow, pictures, output, "--workers", "1")
    log, _ = again.communicate(timeout=300)
    assert again.returncode == 0, log
    manifest = _check_outputs(output)
    assert manifest["summary"]["skipped"] >= first["done"]  # and any case a worker finished as the driver stopped
    assert manifest["summary"]["skipped"] + manifest["summary"]["done"] == 40


def test_a_worker_killed_mid_case_loses_no_finished_output(pictures, tmp_path):
    import psutil

    workflow = WORKFLOW.save(tmp_path / "wf.yaml")
    output = tmp_path / "out"
    process = _start(workflow, pictures, output, "--workers", "2")
    _wait_for_done(process, 3)
    workers = [p for p in psutil.Process(process.pid).children(recursive=True)
               if "spawn_main" in " ".join(p.cmdline()) and "resource_tracker" not in " ".join(p.cmdline())]
    assert len(workers) == 2, [p.cmdline() for p in workers]
    workers[0].send_signal(signal.SIGKILL)  # as the kernel's out-of-memory killer would
    log, _ = process.communicate(timeout=300)
    assert process.returncode in (0, 1), log  # its case ran again on the restarted worker, or is reported
    manifest = _check_outputs(output, scratch_left=True)
    lost = [c for c in manifest["cases"] if c["status"] == "failed"]
    assert all("worker" in c["error"] for c in lost), lost
    again = _start(workflow, pictures, output, "--workers", "2")
    log, _ = again.communicate(timeout=300)
    assert again.returncode == 0, log
    manifest = _check_outputs(output)
    assert manifest["summary"]["done"] + manifest["summary"]["skipped"] == 40


def test_local_workers_share_the_cores(monkeypatch):
    from napari_medimg.pipeline.batch import thread_share
    from napari_medimg.progress import default_workers

    cores = default_workers()
    assert thread_share(1) == cores and thread_share(cores) == 1 and thread_share(4 * cores) == 1
    monkeypatch.setenv("NAPARI_MEDIMG_THREADS", "1")  # as a worker's environment says
    assert default_workers() == 1 and thread_share(1) == 1
    monkeypatch.setenv("NAPARI_MEDIMG_THREADS", "not a number")
    assert default_workers() == cores
