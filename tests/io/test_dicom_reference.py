"""DICOM geometry and voxels against dcm2niix / SimpleITK references in ../shared/data.

The reference NIfTI files (dcm2niix) flip the rows relative to DICOM order, so the
comparison brings our volume into the reference's axis order and signs first
(:func:`reorient_like`) and then asks for equal size and spacing, origin within
1e-3 mm, direction within 1e-5 and identical voxels.
"""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from napari_medimg.io.dicom import list_series, read_dicom

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
DICOM = DATA / "dicom"


# ----------------------------------------------------------------- helpers
def nifti_reference(path: Path):
    """Array, spacing, origin and direction of a NIfTI in numpy order and reversed LPS."""
    img = nib.load(path)
    data = np.asanyarray(img.dataobj)
    affine = np.diag([-1.0, -1.0, 1.0, 1.0]) @ img.affine  # RAS -> LPS
    spacing = np.linalg.norm(affine[:3, :3], axis=0)
    direction = affine[:3, :3] / spacing
    array = data.transpose(tuple(range(data.ndim))[::-1])
    return array, spacing[::-1], affine[:3, 3][::-1], direction[::-1, ::-1]


def itk_reference(entry: dict):
    """Spacing, origin, direction (numpy order) of a SimpleITK record in a reference JSON."""
    prefix = "sitk_" if "sitk_spacing" in entry else ""
    direction = np.asarray(entry[f"{prefix}direction_LPS"], dtype=float)
    spacing = np.asarray(entry[f"{prefix}spacing"], dtype=float)
    origin = np.asarray(entry[f"{prefix}origin_LPS"], dtype=float)
    return spacing[::-1], origin[::-1], direction.reshape(3, 3)[::-1, ::-1]


def reorient_like(volume, ref_direction: np.ndarray):
    """The volume's array, spacing, origin and direction permuted/flipped to match ``ref_direction``."""
    overlap = volume.direction.T @ ref_direction
    perm = [int(np.argmax(np.abs(overlap[:, j]))) for j in range(3)]
    signs = [float(np.sign(overlap[perm[j], j])) for j in range(3)]
    lead = volume.array.ndim - 3
    array = np.transpose(volume.array, list(range(lead)) + [lead + p for p in perm])
    corner = np.zeros(3)
    for j, sign in enumerate(signs):
        if sign < 0:
            array = np.flip(array, axis=lead + j)
            corner[perm[j]] = volume.spatial_shape[perm[j]] - 1
    origin = np.asarray(volume.origin) + volume.direction @ (np.asarray(volume.spacing) * corner)
    return array, np.asarray(volume.spacing)[perm], origin, volume.direction[:, perm] * signs


def assert_geometry(volume, spacing, origin, direction, *, reorient=True):
    array, ours_spacing, ours_origin, ours_direction = (
        reorient_like(volume, direction)
        if reorient
        else (volume.array, np.asarray(volume.spacing), np.asarray(volume.origin), volume.direction)
    )
    np.testing.assert_allclose(ours_spacing, spacing, rtol=2e-6)
    np.testing.assert_allclose(ours_origin, origin, atol=1e-3)
    np.testing.assert_allclose(ours_direction, direction, atol=1e-5)
    return array


def assert_matches_nifti(volume, nifti: Path):
    ref_array, spacing, origin, direction = nifti_reference(nifti)
    array = assert_geometry(volume, spacing, origin, direction)
    assert array.shape == ref_array.shape
    np.testing.assert_array_equal(array, ref_array)


# --------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def sagittal():
    return read_dicom(DICOM / "mr_sag_t1_siemens_hfs" / "dicom")


@pytest.fixture(scope="module")
def totalseg_ct():
    return read_dicom(DICOM / "ct_totalseg_jpeg2000" / "dicom")


# ------------------------------------------------------------------ tests
def test_sagittal_mr_matches_dcm2niix_voxels_and_geometry(sagittal):
    folder = DICOM / "mr_sag_t1_siemens_hfs"
    assert_matches_nifti(sagittal, folder / "ref_dcm2niix_generated" / "t1_fl2d_sag_3.nii.gz")
    ref = json.loads((folder / "ref_geometry.json").read_text())["t1_fl2d_sag_3.nii.gz"]
    assert sagittal.itk_geometry()["size"] == ref["sitk_size_xyz"]
    array = assert_geometry(sagittal, *itk_reference(ref))
    assert (array.min(), array.max(), int(array.sum(dtype=np.int64))) == (
        ref["voxel_min"], ref["voxel_max"], ref["voxel_sum"]
    )


def test_sagittal_mr_matches_simpleitk_series_reader_in_dicom_order(sagittal):
    ref = json.loads((DICOM / "mr_sag_t1_siemens_hfs" / "dicom_geometry.json").read_text())
    sitk = ref["SimpleITK_ImageSeriesReader"]
    assert sagittal.itk_geometry()["size"] == sitk["size_xyz"]
    assert_geometry(sagittal, *itk_reference(sitk), reorient=False)
    # slice spacing is the distance between positions (4.8 mm), not SliceThickness (4 mm)
    assert sagittal.spacing[0] == pytest.approx(4.8)
    assert sagittal.metadata["slice_thickness"] == 4.0
    assert sagittal.metadata["warnings"] == []
    assert sagittal.array.dtype == np.uint16


def test_jpeg2000_ct_matches_references(totalseg_ct):
    folder = DICOM / "ct_totalseg_jpeg2000"
    ref = json.loads((folder / "example_ct_dicom_dcm2niix_ref_geometry.json").read_text())["ct_0.nii.gz"]
    array = assert_geometry(totalseg_ct, *itk_reference(ref))
    assert list(array.shape[::-1]) == ref["sitk_size_xyz"]
    assert (array.min(), array.max(), int(array.sum(dtype=np.int64))) == (
        ref["voxel_min"], ref["voxel_max"], ref["voxel_sum"]
    )
    sitk = json.loads((folder / "example_ct_dicom_geometry.json").read_text())["SimpleITK_ImageSeriesReader"]
    assert_geometry(totalseg_ct, *itk_reference(sitk), reorient=False)
    assert totalseg_ct.array.dtype == np.int16  # 12-bit unsigned + intercept -1024 fits int16
    meta = totalseg_ct.metadata
    assert meta["units"] == "HU" and meta["rescale"] == {"slope": 1.0, "intercept": -1024.0}
    assert meta["transfer_syntax"].startswith("JPEG 2000")


def test_mosaic_axial_matches_dcm_qa_reference():
    folder = DICOM / "mr_siemens_mosaic_orientation" / "axasc35"
    volume = read_dicom(folder / "dicom")
    assert volume.array.shape == (2, 35, 64, 64)
    assert_matches_nifti(volume, folder / "ref_dcm_qa" / "ax_asc_35sl_6.nii")
    codes = [w.split(":")[0] for w in volume.metadata["warnings"]]
    assert "mosaic" in codes and "4d" in codes
    assert volume.metadata["mosaic"] == {"images_in_mosaic": 35, "tile_shape": [64, 64]}


# dcm2niix v1.0.20260724 (in .venv/bin) on the folders named below, read with
# nifti_reference(); numbers in numpy order, reversed LPS.
MOSAIC_DCM2NIIX = {
    # 12-bit mosaics: series number -> (min, max, sum) of the voxels
    "mr_12bit_edgecase": {
        "spacing": [3.1999999274, 3.2499999364, 3.2499999433],
        "origin": [-6.7141990662, 84.3097305298, -108.8405685425],
        "direction": [
            [0.9957231807, -0.0923705944, -0.0017378637],
            [-0.0923704563, -0.9957246975, 0.0001612755],
            [0.0017453308, 0.0000000585, 0.9999984769],
        ],
        "values": {2: (0, 2908, 39116505), 3: (0, 4095, 40476428), 4: (-2048, 2047, 38125324)},
    },
}


@pytest.mark.parametrize("series_number", [2, 3, 4])
def test_12bit_mosaics_match_dcm2niix(series_number):
    ref = MOSAIC_DCM2NIIX["mr_12bit_edgecase"]
    folder = DICOM / "mr_12bit_edgecase" / "dicom"
    infos = {s.series_number: s for s in list_series(folder)}
    assert sorted(infos) == [2, 3, 4]
    assert {s.split_reason for s in infos.values()} == {"series number"}  # same UID, edited copies
    volume = read_dicom(folder, series_uid=infos[series_number].uid)
    array = assert_geometry(
        volume, np.array(ref["spacing"]), np.array(ref["origin"]), np.array(ref["direction"])
    )
    assert array.shape == (35, 64, 64)
    assert (int(array.min()), int(array.max()), int(array.sum(dtype=np.int64))) == ref["values"][series_number]
    expected_dtype = np.int16 if series_number == 4 else np.uint16
    assert volume.array.dtype == expected_dtype


def test_12bit_signed_values_are_sign_extended_not_masked():
    folder = DICOM / "mr_12bit_edgecase" / "dicom"
    signed = read_dicom(folder / "12bitSigned_0x0F0F.dcm")
    unsigned = read_dicom(folder / "12bitUnsigned_0x0F0F.dcm")
    # stripes: 0x0F0F is -241 when signed 12-bit and 3855 unsigned; 0xFFFF is -1 / 4095
    assert {-241, -1} <= set(np.unique(signed.array).tolist())
    assert {3855, 4095} <= set(np.unique(unsigned.array).tolist())
    assert signed.array.min() >= -2048 and signed.array.max() <= 2047
    assert unsigned.array.max() <= 4095
    assert signed.metadata["other_series"] == []  # a file was given: only its own series


def test_jpeg_lossless_and_jpeg2000_mosaics_read_each_series_by_file():
    folder = DICOM / "mr_siemens_mosaic_orientation" / "jpeg_lossless_and_jp2k"
    jpeg = read_dicom(folder / "jpg1.dcm")
    j2k = read_dicom(folder / "jp2k1.dcm")
    for volume, description in ((jpeg, "fMRI_MB_asc"), (j2k, "fMRI_MB_int")):
        assert volume.array.shape == (36, 86, 86)
        assert volume.metadata["series_description"] == description
    # values from dcm2niix on the same files (max, sum)
    assert (int(jpeg.array.max()), int(jpeg.array.sum(dtype=np.int64))) == (2065, 59465624)
    assert (int(j2k.array.max()), int(j2k.array.sum(dtype=np.int64))) == (2165, 59801919)
    np.testing.assert_allclose(jpeg.origin, j2k.origin)
