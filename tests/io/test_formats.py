"""NIfTI, NRRD, MetaImage and picture files: geometry, round trips, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from napari_medimg import ImageReadError, ImageWriteError, Volume, read, write
from napari_medimg.io import can_read

ROUND_TRIP_EXTENSIONS = [".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd"]


def _sitk_geometry(image):
    return image.GetSize(), image.GetSpacing(), image.GetOrigin(), image.GetDirection()


@pytest.mark.parametrize(
    "relative",
    [
        "mr/pyradiomics/brain1_image.nrrd",
        "ct/totalseg_example/example_ct_sm.nii.gz",
        "ultrasound/plus_mha/SpinePhantomFreehandReconstructed.mha",
        "mr/small_nifti/" ,
    ],
)
def test_geometry_equals_simpleitk(shared_data, relative):
    path = shared_data / relative
    if path.is_dir():  # the MONAI orientation test files: every NIfTI in the folder
        paths = sorted(p for p in path.iterdir() if p.name.endswith((".nii", ".nii.gz")))
        assert paths
    else:
        paths = [path]
    for path in paths:
        volume = read(path)
        reference = sitk.ReadImage(str(path))
        geometry = volume.itk_geometry()
        size, spacing, origin, direction = _sitk_geometry(reference)
        assert geometry["size"] == list(size)
        np.testing.assert_array_equal(geometry["spacing"], spacing)
        np.testing.assert_array_equal(geometry["origin"], origin)
        np.testing.assert_array_equal(geometry["direction"], direction)
        np.testing.assert_array_equal(volume.array, sitk.GetArrayViewFromImage(reference))


def test_brain1_known_geometry(shared_data):
    volume = read(shared_data / "mr/pyradiomics/brain1_image.nrrd")
    assert volume.array.shape == (25, 256, 256)
    assert volume.array.dtype == np.int16
    np.testing.assert_allclose(volume.spacing, (6.5, 0.78125, 0.78125))
    # rows run anterior (LPS y decreasing): the y column of the direction is negative
    np.testing.assert_array_equal(volume.direction, np.diag([1.0, -1.0, 1.0]))


@pytest.mark.parametrize("extension", ROUND_TRIP_EXTENSIONS)
@pytest.mark.parametrize("dtype", [np.int16, np.uint8, np.float32, np.uint16])
def test_round_trip_keeps_everything(tmp_path, extension, dtype):
    rng = np.random.default_rng(1)
    array = rng.integers(0, 200, size=(7, 9, 11)).astype(dtype)
    angle = np.radians(12.5)
    direction = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, -1.0]])
    volume = Volume(array, (2.5, 0.9765625, 0.7), (-804.5, 61.5117, -249.5117), direction)
    back = read(write(volume, tmp_path / f"volume{extension}"))
    assert back.array.dtype == array.dtype
    np.testing.assert_array_equal(back.array, array)
    # NIfTI stores geometry in float32: exact to that precision. NRRD stores
    # spacing x direction products, so spacing comes back as a norm: exact to 1e-15.
    tolerance = 1e-5 if extension.startswith(".nii") else 1e-14
    np.testing.assert_allclose(back.spacing, volume.spacing, rtol=tolerance, atol=0)
    np.testing.assert_allclose(back.origin, volume.origin, rtol=tolerance, atol=tolerance)
    np.testing.assert_allclose(back.direction, volume.direction, atol=max(tolerance, 1e-12))


def test_round_trip_four_d_and_bool(tmp_path):
    volume = Volume(np.arange(2 * 3 * 4 * 5, dtype=np.int16).reshape(2, 3, 4, 5), (3.0, 2.0, 1.0), (1, 2, 3), np.eye(3))
    back = read(write(volume, tmp_path / "series.nii.gz"))
    assert back.array.shape == (2, 3, 4, 5)
    assert back.itk_geometry()["size"] == [5, 4, 3, 2]
    np.testing.assert_array_equal(back.array, volume.array)
    mask = Volume.from_array(np.eye(4, dtype=bool)[None], spacing=(1, 1, 1))
    assert read(write(mask, tmp_path / "mask.nrrd")).array.dtype == np.uint8


def test_picture_reads_as_grey_2d_with_a_warning(shared_data):
    volume = read(shared_data / "xray/cxr_lungs_montgomery/images/1.jpg")
    assert volume.array.ndim == 2 and not volume.rgb
    assert volume.spacing == (1.0, 1.0)
    assert any(w.startswith("no_spacing") for w in volume.metadata["warnings"])


def test_png_write_refuses_float(tmp_path):
    with pytest.raises(ImageWriteError, match="PNG holds uint8 or uint16"):
        write(Volume.from_array(np.zeros((4, 4), np.float32)), tmp_path / "a.png")
    with pytest.raises(ImageWriteError, match="2D pictures only"):
        write(Volume.from_array(np.zeros((2, 4, 4), np.uint8)), tmp_path / "a.png")
    with pytest.raises(ImageWriteError, match="use one of"):
        write(Volume.from_array(np.zeros((2, 4, 4), np.uint8)), tmp_path / "a.xyz")


def test_bad_files_give_clear_messages(tmp_path):
    pointer = tmp_path / "scan.nii.gz"
    pointer.write_text("version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 123\n")
    with pytest.raises(ImageReadError, match="Git-LFS pointer"):
        read(pointer)
    empty = tmp_path / "empty.nrrd"
    empty.write_bytes(b"")
    with pytest.raises(ImageReadError, match="empty"):
        read(empty)
    corrupt = tmp_path / "corrupt.nii.gz"
    corrupt.write_bytes(b"\x1f\x8b" + bytes(range(256)) * 8)
    with pytest.raises(ImageReadError, match="corrupt"):
        read(corrupt)
    with pytest.raises(ImageReadError, match="does not exist"):
        read(tmp_path / "missing.nii")
    text = tmp_path / "notes.txt"
    text.write_text("hello" * 100)
    with pytest.raises(ImageReadError, match="not a format"):
        read(text)
    assert not can_read(text)
    assert not can_read(tmp_path / "missing.nii")
    assert not can_read(tmp_path)  # a folder with no DICOM
