"""The command line never replaces its own input, asks before replacing, and reports OS errors plainly."""

from __future__ import annotations

import errno
import shutil

import numpy as np
import pytest

from napari_medimg import read, write
from napari_medimg.cli import main
from napari_medimg.volume import Volume


@pytest.fixture()
def small_image(tmp_path):
    path = tmp_path / "a.nii.gz"
    array = np.random.default_rng(0).normal(100, 10, (4, 8, 9)).astype(np.float32)
    write(Volume(array, (2.0, 1.0, 1.0), (0.0, 0.0, 0.0), np.eye(3)), path)
    return path


def _unchanged(path, before: bytes) -> bool:
    return path.read_bytes() == before


def test_run_refuses_to_replace_its_own_input(small_image, capsys):
    before = small_image.read_bytes()
    for output in (str(small_image), str(small_image.parent / "." / "sub" / ".." / small_image.name)):
        assert main(["run", "gaussian", str(small_image), output, "--overwrite"]) == 1
        err = capsys.readouterr().err
        assert "refusing to write" in err and "the input itself" in err and "Traceback" not in err
    assert _unchanged(small_image, before)


def test_run_refuses_a_symlink_to_its_input(small_image, capsys):
    link = small_image.parent / "link.nii.gz"
    link.symlink_to(small_image)
    before = small_image.read_bytes()
    assert main(["run", "gaussian", str(small_image), str(link), "--overwrite"]) == 1
    assert "the input itself" in capsys.readouterr().err
    assert _unchanged(small_image, before)


def test_run_refuses_to_replace_a_second_input(small_image, tmp_path, capsys):
    mask = tmp_path / "mask.nrrd"
    write(Volume(np.ones((4, 8, 9), np.uint8), (2.0, 1.0, 1.0), (0.0, 0.0, 0.0), np.eye(3)), mask)
    before = mask.read_bytes()
    assert main(["run", "n4_bias_correction_masked", str(small_image), str(mask), "--mask", str(mask), "--overwrite"]) == 1
    assert "refusing to write" in capsys.readouterr().err
    assert _unchanged(mask, before)


def test_run_refuses_to_write_the_data_file_of_an_mhd_input(tmp_path, capsys):
    source = tmp_path / "a.mhd"
    write(Volume(np.zeros((2, 3, 4), np.int16), (1.0,) * 3, (0.0,) * 3, np.eye(3)), source, compress=False)
    data = tmp_path / "a.raw"
    before = data.read_bytes()
    assert main(["run", "gaussian", str(source), str(tmp_path / "a.nhdr"), "--overwrite"]) == 1
    assert "refusing to write" in capsys.readouterr().err
    assert _unchanged(data, before)


def test_run_refuses_to_write_into_an_input_dicom_folder(shared_data, tmp_path, capsys):
    folder = tmp_path / "dicom"
    shutil.copytree(shared_data / "dicom/ct_head_16px_nonuniform_monai/dicom", folder)
    assert main(["run", "gaussian", str(folder), str(folder / "smoothed.nii.gz")]) == 1
    err = capsys.readouterr().err
    assert "inside the input folder" in err
    assert not (folder / "smoothed.nii.gz").exists()


def test_run_refuses_an_existing_output_unless_overwrite(small_image, tmp_path, capsys):
    output = tmp_path / "out.nrrd"
    assert main(["run", "gaussian", str(small_image), str(output)]) == 0
    first = output.read_bytes()
    assert main(["run", "gaussian", str(small_image), str(output), "--sigma", "3"]) == 1
    err = capsys.readouterr().err
    assert "already exists" in err and "--overwrite" in err
    assert output.read_bytes() == first
    assert main(["run", "gaussian", str(small_image), str(output), "--sigma", "3", "--overwrite"]) == 0
    assert output.read_bytes() != first
    assert read(output).array.std() < read(small_image).array.std()


def test_points_and_features_outputs_are_protected_too(shared_data, tmp_path, capsys):
    picture = shared_data / "xray/cxr_lungs_montgomery/images/1.jpg"
    out = tmp_path / "k.csv"
    out.write_text("keep me\n")
    assert main(["run", "keypoints", str(picture), str(out), "--method", "orb"]) == 1
    assert out.read_text() == "keep me\n"
    brain = shared_data / "mr/pyradiomics"
    features = [str(brain / "brain1_image.nrrd"), str(brain / "brain1_label.nrrd")]
    assert main(["features", *features, "--out", str(out)]) == 1
    assert "already exists" in capsys.readouterr().err
    assert out.read_text() == "keep me\n"
    assert main(["features", *features, "--out", features[1], "--overwrite"]) == 1
    assert "refusing to write" in capsys.readouterr().err


def test_disk_full_is_a_message_and_exit_code_not_a_traceback(small_image, tmp_path, monkeypatch, capsys):
    import tempfile

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(tempfile, "mkdtemp", full)
    output = tmp_path / "out.nii.gz"
    assert main(["run", "gaussian", str(small_image), str(output)]) == 1
    captured = capsys.readouterr()
    assert "no space left on the disk" in captured.err and "Traceback" not in captured.err
    assert "wrote" not in captured.out
    assert not output.exists()
