"""Workflows and cohort batches on real data: mixed formats, broken cases, re-runs, 1 vs 2 workers."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from napari_medimg.pipeline import Step, Workflow, WorkflowError, find_cases, load_workflow, run_batch

ROOT = Path(__file__).parents[2]

SMOOTH_AND_MEASURE = load_workflow(ROOT / "examples/workflows/smooth_otsu_objects.yaml")


@pytest.fixture(scope="module")
def cohort(shared_data, tmp_path_factory):
    """22 cases: 14 ultrasound PNGs, 3 NIfTI, 2 DICOM series, a DICOM file, a corrupt file, a folder without images."""
    root = tmp_path_factory.mktemp("cohort")
    for png in sorted((shared_data / "ultrasound/busi_breast/images").glob("*.png"))[:14]:
        shutil.copy(png, root / png.name)
    for name in ("anatomical.nii", "reoriented_anat_moved.nii"):
        shutil.copy(shared_data / "mr/small_nifti" / name, root / name)
    shutil.copy(shared_data / "ct/pyradiomics_lung1/lung1_image.nrrd", root / "lung1.nrrd") if (
        shared_data / "ct/pyradiomics_lung1/lung1_image.nrrd").exists() else None
    shutil.copytree(shared_data / "dicom/ct_head_16px_nonuniform_monai/dicom", root / "ct16" / "dicom")
    shutil.copytree(shared_data / "dicom/mr_12bit_edgecase/dicom", root / "mr12" / "dicom")
    (root / "single").mkdir()
    shutil.copy(shared_data / "dicom/single_files/pydicom__CT_small.dcm", root / "single" / "ct_small.dcm")
    (root / "broken").mkdir()
    (root / "broken" / "truncated.nii.gz").write_bytes(b"\x1f\x8b\x08\x00" + b"\x00" * 40)
    (root / "structures").mkdir()
    shutil.copy(shared_data / "dicom/single_files/pydicom__rtstruct.dcm", root / "structures" / "rs.dcm")
    return root


def test_workflow_yaml_round_trip_and_validation(tmp_path):
    path = SMOOTH_AND_MEASURE.save(tmp_path / "wf.yaml")
    again = load_workflow(path)
    assert again.to_dict() == SMOOTH_AND_MEASURE.to_dict() and again.digest == SMOOTH_AND_MEASURE.digest
    text = path.read_text()
    assert text.startswith("workflow: 1\n") and "sigma: 1.5" in text
    bad = {"workflow": 1, "name": "x", "steps": [
        {"name": "a", "operation": "gaussian", "params": {"sigmaa": 1}},
        {"name": "b", "operation": "no_such_thing"},
        {"name": "c", "measure": "zzz"},
        {"name": "d", "operation": "gaussian", "input": "nowhere", "params": {"sigma": -1}},
        {"name": "e", "measure": "a", "params": {"radiomics": True, "percentile": 5}},
        {"name": "f", "measure": "a", "image": "image", "params": {"radiomics_settings": str(tmp_path / "none.yaml")}},
    ]}
    with pytest.raises(WorkflowError) as info:
        Workflow.from_dict(bad)
    message = str(info.value)
    for expected in ("sigmaa", "no_such_thing", "zzz", "nowhere", "sigma must be", "'percentile'",
                     "radiomics needs 'image:'", "none.yaml"):
        assert expected in message
    with pytest.raises(WorkflowError, match="schema"):
        Workflow.from_dict({"workflow": 7, "steps": []})


def test_example_ct_lungs_runs_on_a_ct_file_and_a_dicom_series(shared_data):
    workflow = load_workflow(ROOT / "examples/workflows/ct_lungs.yaml")
    result = workflow.run(shared_data / "ct/totalseg_example/example_ct_sm.nii.gz")
    table = result.tables["lung_measurements"]
    lungs = result.volumes["lungs"]
    voxel_ml = float(np.prod(lungs.spacing)) / 1000
    assert table["volume_ml"][0] == pytest.approx(np.count_nonzero(lungs.array == 1) * voxel_ml)
    mean = table["mean_HU"] if "mean_HU" in table else table["mean"]  # NIfTI states no units
    assert -950 < mean[0] < -600  # aerated lung
    series = workflow.run(shared_data / "dicom/ct_totalseg_jpeg2000/dicom")
    assert series.tables["lung_measurements"]["volume_ml"].sum() > 0


def test_batch_mixed_cohort_two_workers_equals_one_and_reruns_skip(cohort, tmp_path):
    cases = find_cases(cohort)
    assert len(cases) >= 20
    said: list[str] = []
    two = run_batch(SMOOTH_AND_MEASURE, cases, tmp_path / "two", workers=2, say=said.append)
    status = {c["id"]: c["status"] for c in two["cases"]}
    failed = {k for k, v in status.items() if v == "failed"}
    assert failed == {"broken_truncated.nii.gz", "structures"}, two["summary"]
    assert all(v == "done" for k, v in status.items() if k not in failed)
    errors = {c["id"]: c["error"] for c in two["cases"] if c["status"] == "failed"}
    assert "truncated" in errors["broken_truncated.nii.gz"] or "gzip" in errors["broken_truncated.nii.gz"].lower()
    assert "no pixel data" in errors["structures"]
    manifest = json.loads((tmp_path / "two" / "manifest.json").read_text())
    assert manifest["summary"] == {"done": len(cases) - 2, "failed": 2, "skipped": 0, "pending": 0}
    assert manifest["workflow"]["name"] == "smooth_otsu_objects" and "distributed" in manifest["software"]
    done = next(c for c in manifest["cases"] if c["status"] == "done")
    assert set(done["outputs"]) == {"smoothed", "mask", "objects", "measurements"} and done["input_sha256"]
    combined = (tmp_path / "two" / "measurements.csv").read_text().splitlines()
    assert combined[0].startswith("case,label") and len({line.split(",")[0] for line in combined[1:]}) == len(cases) - 2
    one = run_batch(SMOOTH_AND_MEASURE, cases, tmp_path / "one", workers=1, say=said.append)
    hashes = lambda m: {c["id"]: {k: o["sha256"] for k, o in c["outputs"].items()} for c in m["cases"]}  # noqa: E731
    assert hashes(one) == hashes(two)  # identical outputs, one process or two
    again = run_batch(SMOOTH_AND_MEASURE, cases, tmp_path / "two", workers=2, say=said.append)
    assert again["summary"]["skipped"] == len(cases) - 2 and again["summary"]["failed"] == 2  # failed ones retried
    assert any("skipped" in line for line in said)


def test_cli_batch_exit_status_and_manifest(cohort, tmp_path):
    from napari_medimg.cli import main

    workflow = SMOOTH_AND_MEASURE.save(tmp_path / "wf.yaml")
    good = tmp_path / "good"
    good.mkdir()
    for png in sorted(cohort.glob("*.png"))[:3]:
        shutil.copy(png, good / png.name)
    assert main(["batch", str(workflow), str(good), str(tmp_path / "out"), "--workers", "1"]) == 0
    assert main(["batch", str(workflow), str(cohort / "broken"), str(tmp_path / "out2"), "--workers", "1"]) == 1
    manifest = json.loads((tmp_path / "out2" / "manifest.json").read_text())
    assert manifest["cases"][0]["status"] == "failed" and manifest["cases"][0]["error"]


def test_batch_on_a_separately_started_scheduler(cohort, tmp_path):
    port = 8700 + int(time.time()) % 200
    address = f"tcp://127.0.0.1:{port}"
    scheduler = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                                  "--port", str(port), "--no-dashboard"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    worker = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", address, "--nworkers", "1",
                               "--nthreads", "1", "--no-dashboard"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        cases = find_cases(cohort / "ct16")
        manifest = run_batch(SMOOTH_AND_MEASURE, cases, tmp_path / "out", scheduler=address, say=lambda _: None)
        assert manifest["summary"]["done"] == 1 and manifest["scheduler"] == address
        assert manifest["cases"][0]["worker"].split(":")[1] != str(__import__("os").getpid())
    finally:
        worker.terminate()
        scheduler.terminate()
        worker.wait(20)
        scheduler.wait(20)


def test_outputs_carry_their_provenance(cohort, tmp_path, shared_data):
    from napari_medimg import read, write
    from napari_medimg.cli import main

    out = tmp_path / "smoothed.nii.gz"
    assert main(["run", "gaussian", str(shared_data / "mr/pyradiomics/brain1_image.nrrd"), str(out), "--sigma", "2"]) == 0
    sidecar = json.loads((tmp_path / "smoothed.provenance.json").read_text())
    assert sidecar["history"] == [{"operation": "gaussian", "parameters": {"sigma": 2.0}}]
    assert sidecar["source"]["source_name"] == "brain1_image.nrrd" and "napari-medimg" in sidecar["software"]
    back = read(out)
    assert back.metadata["history"] == sidecar["history"]  # read back: the history goes on
    write(back.with_array(back.array * 2, history=back.metadata["history"] + [{"operation": "double"}]),
          tmp_path / "twice.nrrd")
    assert len(json.loads((tmp_path / "twice.provenance.json").read_text())["history"]) == 2
    # NRRD and MetaImage carry it in their own header fields too: it survives losing the sidecar
    for name in ("twice.nrrd", "twice.mha"):
        if name.endswith(".mha"):
            write(read(tmp_path / "twice.nrrd"), tmp_path / name)
        (tmp_path / "twice.provenance.json").unlink()
        assert b"napari_medimg_provenance" in (tmp_path / name).read_bytes()[:20000]
        assert [h["operation"] for h in read(tmp_path / name).metadata["history"]] == ["gaussian", "double"]
    import SimpleITK as sitk

    for hostile in ("[" * 100000, "{not json", '{"history": 3}'):  # the image still reads, without a history
        image = sitk.GetImageFromArray(np.zeros((2, 3, 4), np.int16))
        image.SetMetaData("napari_medimg_provenance", hostile)
        sitk.WriteImage(image, str(tmp_path / "hostile.nrrd"))
        assert "history" not in read(tmp_path / "hostile.nrrd").metadata
    # a batch case's outputs name the input by its content hash
    manifest = run_batch(SMOOTH_AND_MEASURE, find_cases(cohort / "ct16"), tmp_path / "b", workers=1, say=lambda _: None)
    case = manifest["cases"][0]
    provenance = json.loads((tmp_path / "b" / case["id"] / "mask.provenance.json").read_text())
    assert provenance["source"]["source_sha256"] == case["input_sha256"]
    assert [h["operation"] for h in provenance["history"]] == ["gaussian", "threshold_auto"]
