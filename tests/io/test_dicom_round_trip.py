"""DICOM series -> NIfTI / NRRD / MHA -> back: array, dtype and geometry survive."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from napari_medimg import read, write

SERIES = [
    "dicom/ct_totalseg_jpeg2000/dicom",  # axial CT, JPEG 2000
    "dicom/mr_sag_t1_siemens_hfs/dicom",  # sagittal MR: permuted direction
    "dicom/mr_ax_epi4d_ge_nih/dicom",  # 4D
    "dicom/ct_head_gantry_tilt_ge/dicom",  # oblique (tilted) plane
]


@pytest.mark.parametrize("relative", SERIES)
@pytest.mark.parametrize("extension", [".nii.gz", ".nrrd", ".mha"])
def test_dicom_to_file_and_back(shared_data, tmp_path, relative, extension):
    source = read(shared_data / relative)
    back = read(write(source, tmp_path / f"series{extension}"))
    assert back.array.dtype == source.array.dtype
    np.testing.assert_array_equal(back.array, source.array)
    # NIfTI keeps geometry in float32; NRRD and MetaImage in decimal text at full precision
    rtol = 1e-6 if extension == ".nii.gz" else 1e-12
    np.testing.assert_allclose(back.spacing, source.spacing, rtol=rtol)
    np.testing.assert_allclose(back.origin, source.origin, atol=1e-4 if extension == ".nii.gz" else 1e-9)
    np.testing.assert_allclose(back.direction, source.direction, atol=1e-6 if extension == ".nii.gz" else 1e-12)


def test_written_nifti_lines_up_with_dcm2niix_reference(shared_data, tmp_path):
    # dcm2niix flips rows; compare physical points, not indices
    source = read(shared_data / "dicom/mr_sag_t1_siemens_hfs/dicom")
    ours = sitk.ReadImage(str(write(source, tmp_path / "ours.nii.gz")))
    reference_file = next((shared_data / "dicom/mr_sag_t1_siemens_hfs/ref_dcm2niix_generated").glob("*.nii*"))
    reference = sitk.ReadImage(str(reference_file))
    ours_array = sitk.GetArrayViewFromImage(ours)
    reference_array = sitk.GetArrayViewFromImage(reference)
    rng = np.random.default_rng(0)
    for index in rng.integers(0, np.array(ours.GetSize()), size=(200, 3)):
        point = ours.TransformIndexToPhysicalPoint([int(i) for i in index])
        other = reference.TransformPhysicalPointToIndex(point)
        assert ours_array[tuple(index[::-1])] == reference_array[tuple(other[::-1])]
