"""Edge cases of DICOM series: 4D, gantry tilt, non-uniform spacing / missing slices."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from napari_medimg.io.dicom import list_series, read_dicom
from napari_medimg.io.warnings_codes import warning_codes

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
DICOM = DATA / "dicom"
TILT = DICOM / "ct_head_gantry_tilt_ge" / "dicom"
NONUNIFORM = DICOM / "ct_head_16px_nonuniform_monai" / "dicom"


@pytest.fixture(scope="module")
def tilted():
    return read_dicom(TILT)


@pytest.fixture(scope="module")
def tilt_corrected():
    return read_dicom(TILT, resample_tilt=True)


def test_4d_epi_is_t_z_y_x_and_matches_dcm2niix():
    volume = read_dicom(DICOM / "mr_ax_epi4d_ge_nih" / "dicom")
    assert volume.array.shape == (10, 15, 64, 64)
    assert volume.leading_shape == (10,) and len(volume.spacing) == 3
    assert "4d" in warning_codes(volume.metadata["warnings"])
    assert volume.metadata["axis_labels"] == ["t", "z", "y", "x"]
    # dcm2niix v1.0.20260724 on the folder: 64x64x15x10, 3.75 x 3.75 x 5 mm, values 0..9733, sum
    # 348072471; its origin (LPS, rows flipped) is (118.125 - 63*3.75 ...) -> ours is the DICOM corner
    np.testing.assert_allclose(volume.spacing, (5.0, 3.75, 3.75))
    np.testing.assert_allclose(volume.origin, (-17.6875, -143.344, -118.125), atol=1e-3)
    assert (int(volume.array.min()), int(volume.array.max())) == (0, 9733)
    assert int(volume.array.sum(dtype=np.int64)) == 348072471
    # volumes are ordered by instance number: volume 1 slice 0 is instance 16
    first_of_second = read_dicom(DICOM / "mr_ax_epi4d_ge_nih" / "dicom" / "axial_epi_fmri_interleaved_i_to_s-00016.dcm")
    np.testing.assert_array_equal(first_of_second.array[1, 0], volume.array[1, 0])


def test_gantry_tilt_is_reported_with_its_angle(tilted):
    codes = warning_codes(tilted.metadata["warnings"])
    assert "gantry_tilt" in codes and "nonuniform_spacing" in codes
    assert "missing_slices" not in codes  # 7 mm gaps are a change of spacing, not gaps
    tilt = next(w for w in tilted.metadata["warnings"] if w.startswith("gantry_tilt"))
    assert "18.50°" in tilt and "resample_tilt=True" in tilt
    assert tilted.metadata["gantry_tilt_degrees"] == pytest.approx(18.5, abs=0.01)
    assert tilted.array.shape == (28, 512, 512) and tilted.array.dtype == np.int16
    # spacing along the normal, median of the gaps 1.081 / 4.002 (x13) / 6.999 (x13)
    assert tilted.spacing[0] == pytest.approx(4.0019, abs=1e-3)
    gaps = np.round(tilted.metadata["slice_gaps"], 2)
    assert sorted(set(gaps.tolist())) == [1.08, 4.0, 7.0]
    assert len(tilted.metadata["slice_positions"]) == 28


def test_gantry_tilt_resampling_puts_slices_on_a_regular_grid(tilted, tilt_corrected):
    assert tilt_corrected.array.dtype == np.float32
    # dcm2niix's tilt correction of this series also needs 611 rows to keep every voxel
    assert tilt_corrected.array.shape == (28, 611, 512)
    assert tilt_corrected.metadata["resampling"]["tilt"]["angle_degrees"] == pytest.approx(18.5, abs=0.01)
    assert tilt_corrected.is_axis_aligned is False
    np.testing.assert_allclose(tilt_corrected.direction, tilted.direction)
    # every original voxel must land where its DICOM position says: sample the corrected
    # volume at the world positions of slice 20 (ImagePositionPatient of that slice)
    positions = np.asarray(tilted.metadata["image_positions_lps"])
    k = 20
    row_cos, col_cos = tilted.direction[::-1, 2], tilted.direction[::-1, 1]  # LPS x, y cosines
    rows, cols = np.mgrid[100:400:7, 100:400:7]
    world_lps = positions[k] + cols[..., None] * 0.4882812 * row_cos + rows[..., None] * 0.4882812 * col_cos
    index = tilt_corrected.world_to_index(world_lps[..., ::-1].reshape(-1, 3))
    # z is approximate for non-uniform gaps (median spacing): the true offset is in metadata
    expected_z = tilted.metadata["slice_positions"][k] / tilt_corrected.spacing[0]
    np.testing.assert_allclose(index[:, 0], expected_z, atol=1e-6)
    from scipy import ndimage

    sampled = ndimage.map_coordinates(tilt_corrected.array[k], index[:, 1:].T, order=1)
    original = tilted.array[k][rows, cols].ravel().astype(np.float32)
    assert np.corrcoef(sampled, original)[0, 1] > 0.999


def test_nonuniform_spacing_and_missing_slices_are_reported():
    volume = read_dicom(NONUNIFORM)
    codes = warning_codes(volume.metadata["warnings"])
    assert "nonuniform_spacing" in codes and "missing_slices" in codes
    missing = next(w for w in volume.metadata["warnings"] if w.startswith("missing_slices"))
    assert "202.5 mm" in missing and "161" in missing
    assert volume.array.shape == (4, 16, 16)
    assert volume.spacing[0] == pytest.approx(1.25)  # median gap, not SimpleITK's 68.33 average
    np.testing.assert_allclose(volume.metadata["slice_positions"], [0.0, 202.5, 203.75, 205.0], atol=1e-6)
    np.testing.assert_allclose(volume.origin, (-99.48, -128.1, -125.0))
    assert (int(volume.array.min()), int(volume.array.max())) == (-981, 1489)  # SimpleITK's min/max


def test_nonuniform_resampling_interpolates_onto_the_smallest_gap():
    raw = read_dicom(NONUNIFORM)
    volume = read_dicom(NONUNIFORM, resample_nonuniform=True)
    assert volume.spacing[0] == pytest.approx(1.25)
    assert volume.array.shape == (165, 16, 16) and volume.array.dtype == np.float32
    info = volume.metadata["resampling"]["nonuniform"]
    assert info["n_slices_in"] == 4 and info["n_slices_out"] == 165
    # acquired slices are reproduced exactly at their positions (0, 202.5, 203.75, 205 mm)
    for source, target in ((0, 0), (1, 162), (2, 163), (3, 164)):
        np.testing.assert_allclose(volume.array[target], raw.array[source], atol=1e-3)
    midway = volume.array[81]  # 101.25 mm: half way between slices 0 and 1
    np.testing.assert_allclose(midway, (raw.array[0] + raw.array[1]) / 2, atol=1e-3)


def test_folder_with_several_series_picks_the_largest_and_lists_the_others(tmp_path):
    for name in ("mr_sag_t1_siemens_hfs", "ct_head_16px_nonuniform_monai"):
        (tmp_path / name).symlink_to(DICOM / name / "dicom")
    infos = list_series(tmp_path)
    assert [s.n_files for s in infos] == [35, 4]
    assert infos[0].modality == "MR" and infos[1].description == "Routine Brain"
    volume = read_dicom(tmp_path)
    assert volume.array.shape == (35, 256, 256)
    assert "multiple_series" in warning_codes(volume.metadata["warnings"])
    # other series are listed by an opaque key (the UID would reveal date and scanner)
    assert volume.metadata["other_series"][0]["key"] == infos[1].key
    assert "uid" not in volume.metadata["other_series"][0] and "series_uid" not in volume.metadata
    ct = read_dicom(tmp_path, series_uid=infos[1].key)
    assert ct.array.shape == (4, 16, 16) and ct.metadata["modality"] == "CT"
    assert read_dicom(tmp_path, series_uid=infos[1].uid).metadata["series_key"] == ct.metadata["series_key"]
