"""napari.yaml: generated from the registry, valid, and found by npe2 (editable and wheel)."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from napari_medimg._napari.manifest import build_manifest, manifest_yaml
from napari_medimg.operations import OPERATIONS

ROOT = Path(__file__).resolve().parents[2]
EXTRA_WIDGETS = ("dicom_browser", "features_table", "measure", "results", "classify_objects", "feature_selection", "feature_plots", "scribble_classifier", "classify_images", "display", "three_views", "train_segmentation", "train_landmarks", "train_generator", "generate_images", "classify_slices", "deidentify_dicom", "export_dicom_seg", "workflow", "batch", "recipe")

_DISCOVER = (
    "import json, npe2;"
    "pm = npe2.PluginManager(); pm.discover();"
    "m = pm.get_manifest('napari-medimg');"
    "print(json.dumps({'file': str(m._yaml_path if hasattr(m, '_yaml_path') else ''),"
    " 'package': __import__('napari_medimg').__file__,"
    " 'readers': len(m.contributions.readers), 'widgets': len(m.contributions.widgets)}))"
)


def test_manifest_file_is_generated_from_the_registry():
    assert (ROOT / "napari.yaml").read_text() == manifest_yaml(), (
        "napari.yaml is out of date: run `python -m napari_medimg._napari.manifest > napari.yaml`"
    )
    widgets = build_manifest()["contributions"]["widgets"]
    assert len(widgets) == len(OPERATIONS) + len(EXTRA_WIDGETS)


def test_manifest_validates_and_every_command_imports():
    import npe2

    manifest = npe2.PluginManifest.from_file(ROOT / "napari.yaml")
    manifest.validate_imports()
    assert {s.key for s in manifest.contributions.sample_data} == {"chest_ct", "brain_mr", "chest_xray", "ultrasound"}


def _discover(env: dict[str, str]) -> dict:
    import json

    out = subprocess.run([sys.executable, "-c", _DISCOVER], capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_npe2_finds_the_manifest_in_the_editable_install():
    found = _discover(dict(os.environ))
    assert found["readers"] == 1 and found["widgets"] == len(OPERATIONS) + len(EXTRA_WIDGETS)
    assert Path(found["package"]).resolve().is_relative_to(ROOT / "src")


def test_npe2_finds_the_manifest_in_a_built_wheel(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path / "dist"), str(ROOT)],
        check=True,
        capture_output=True,
    )
    wheel = next((tmp_path / "dist").glob("napari_medimg-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        assert "napari_medimg/napari.yaml" in names
        assert archive.read("napari_medimg/napari.yaml").decode() == (ROOT / "napari.yaml").read_text()
        assert "napari_medimg/data/chest_ct.nii.gz" in names
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
    )
    env = dict(os.environ, PYTHONPATH=str(target))
    found = _discover(env)
    assert Path(found["package"]).resolve().is_relative_to(target.resolve())
    assert found["readers"] == 1 and found["widgets"] == len(OPERATIONS) + len(EXTRA_WIDGETS)
