"""The napari-medimg command: info, run, and what it imports."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import SimpleITK as sitk

from napari_medimg import read
from napari_medimg.cli import main
from napari_medimg.operations import OPERATIONS


def test_info_json_is_itk_convention(shared_data, capsys):
    path = shared_data / "mr/pyradiomics/brain1_image.nrrd"
    assert main(["info", str(path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    reference = sitk.ReadImage(str(path))
    assert info["size"] == list(reference.GetSize())
    assert info["spacing"] == list(reference.GetSpacing())
    assert info["origin"] == list(reference.GetOrigin())
    assert info["direction"] == list(reference.GetDirection())
    array = sitk.GetArrayViewFromImage(reference)
    assert info["dtype"] == "int16"
    assert (info["min"], info["max"]) == (int(array.min()), int(array.max()))
    assert info["warnings"] == []


def test_info_human_readable(shared_data, capsys):
    assert main(["info", str(shared_data / "ct/totalseg_example/example_ct_sm.nii.gz")]) == 0
    out = capsys.readouterr().out
    assert "size (x y z): 122 101 30" in out
    assert "spacing (mm): 3 3 3" in out


def test_run_list_prints_one_name_a_line(capsys):
    assert main(["run", "--list"]) == 0
    assert capsys.readouterr().out.split() == [op.name for op in OPERATIONS]


def test_run_operation_writes_output_with_geometry(shared_data, tmp_path, capsys):
    source = shared_data / "ct/totalseg_example/example_ct_sm.nii.gz"
    output = tmp_path / "lungs.nrrd"
    assert main(["run", "threshold", str(source), str(output), "--lower", "-1000", "--upper=-400"]) == 0
    result = read(output)
    original = read(source)
    assert result.spacing == original.spacing and result.origin == original.origin
    expected = (original.array >= -1000) & (original.array <= -400)
    np.testing.assert_array_equal(result.array, expected.astype(np.uint8))


def test_run_reports_bad_parameters_and_files(tmp_path, capsys):
    assert main(["run", "gaussian", str(tmp_path / "missing.nii"), str(tmp_path / "o.nii"), "--sigma", "1"]) == 1
    assert "does not exist" in capsys.readouterr().err
    assert main(["run", "gaussian", "a.nii", "b.nii", "--radius", "1"]) == 1
    assert "no parameter 'radius'" in capsys.readouterr().err


def test_library_and_cli_import_no_gui_or_torch(shared_data):
    code = (
        "import sys, napari_medimg, napari_medimg.cli, napari_medimg.operations, napari_medimg.io, napari_medimg.pipeline;"
        "from napari_medimg.cli import main;"
        f"main(['info', {str(shared_data / 'mr/pyradiomics/brain1_image.nrrd')!r}]);"
        "main(['run', '--list']); main(['models']);"
        "bad = [m for m in ('napari', 'qtpy', 'PyQt6', 'PySide6', 'torch', 'magicgui', 'distributed', 'highdicom', 'numba')"
        " if m in sys.modules];"
        "print('LOADED', bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "LOADED []"


def test_info_reports_dicom_anomalies(shared_data, capsys):
    dicom = shared_data / "dicom"
    assert main(["info", str(dicom / "mr_ax_epi4d_ge_nih/dicom"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["size"] == [64, 64, 15, 10]
    assert [w.split(":")[0] for w in info["warnings"]] == ["4d"]
    assert main(["info", str(dicom / "ct_head_gantry_tilt_ge/dicom"), "--json"]) == 0
    codes = {w.split(":")[0] for w in json.loads(capsys.readouterr().out)["warnings"]}
    assert {"gantry_tilt", "nonuniform_spacing"} <= codes
    assert main(["info", str(dicom / "ct_head_16px_nonuniform_monai/dicom")]) == 0
    text = capsys.readouterr().out
    assert "missing_slices" in text and "size (x y z): 16 16 4" in text
    assert main(["info", str(dicom / "single_files/pydicom-data__US1_UNCR.dcm")]) == 0
    assert "size (x y): 640 480" in capsys.readouterr().out


def test_run_region_grow_with_seeds_from_a_csv_of_world_mm(shared_data, tmp_path, capsys):
    from scipy import ndimage

    image_path = shared_data / "mr/pyradiomics/brain1_image.nrrd"
    image = read(image_path)
    tumour = read(shared_data / "mr/pyradiomics/brain1_label.nrrd").array > 0
    seed = np.unravel_index(np.argmax(ndimage.distance_transform_edt(tumour, sampling=image.spacing)), tumour.shape)
    world = image.index_to_world(seed)  # (z, y, x) mm, as napari shows it
    seeds = tmp_path / "seeds.csv"
    seeds.write_text("z,y,x\n" + ",".join(f"{v:.4f}" for v in world) + "\n")
    out = tmp_path / "grown.nii.gz"
    assert main(["run", "region_grow", str(image_path), str(out), "--seeds", str(seeds)]) == 0
    grown = read(out).array > 0
    assert grown[seed]
    dice = 2 * np.count_nonzero(grown & tumour) / (np.count_nonzero(grown) + np.count_nonzero(tumour))
    assert dice > 0.72  # 0.749 measured from this seed


def test_run_keypoints_writes_a_csv_of_world_points(shared_data, tmp_path, capsys):
    out = tmp_path / "keypoints.csv"
    assert main(["run", "keypoints", str(shared_data / "xray/cxr_lungs_montgomery/images/1.jpg"), str(out)]) == 0
    header, *rows = out.read_text().splitlines()
    assert header.split(",")[:4] == ["row", "col", "y_mm", "x_mm"] and len(rows) >= 5
    assert main(["run", "keypoints", str(shared_data / "xray/cxr_lungs_montgomery/images/1.jpg"), str(tmp_path / "k.nii")]) == 1
    assert "write them to a .csv" in capsys.readouterr().err


def test_headless_demo_writes_results_and_a_rendered_picture(tmp_path):
    """The README's main job, as a user runs it: no display, so it starts its own Xvfb.

    In a subprocess, so that its Qt application and virtual display do not outlive it
    inside this test session.
    """
    import os

    from napari_medimg import read as read_volume

    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    code = "import sys; from napari_medimg.cli import main; sys.exit(main(sys.argv[1:]))"
    subprocess.run([sys.executable, "-c", code, "demo", "--gui", "no", "--out", str(tmp_path)], env=env, check=True, capture_output=True)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert 2500 < summary["lung_volume_ml"] < 3200  # adult lungs at half resolution
    assert summary["nodule"]["volume_ml"] == summary["nodule_volume_ml"]
    assert -700 < summary["nodule"]["mean_HU"] < 200  # soft tissue, not air
    lungs = read_volume(tmp_path / "chest_ct_lungs.nii.gz")
    assert lungs.array.dtype == np.uint8 and lungs.spacing == (5.0, 1.140625, 1.140625)
    from skimage.io import imread

    picture = imread(tmp_path / "chest_ct_demo.png")
    assert picture.ndim == 3 and picture[..., :3].std() > 10


def test_run_reports_os_and_simpleitk_errors_without_a_traceback(shared_data, tmp_path, capsys):
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    source = shared_data / "mr/pyradiomics/brain1_image.nrrd"
    assert main(["run", "gaussian", str(source), str(blocker / "out.nii.gz")]) == 1
    assert "error:" in capsys.readouterr().err
