"""Cheap DICOM detection, series listing and clear errors for bad input."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from napari_medimg.io.dicom import SeriesInfo, is_dicom_file, list_series, read_dicom
from napari_medimg.io.errors import ImageReadError

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
DICOM = DATA / "dicom"
CT_SMALL = DICOM / "single_files" / "pydicom__CT_small.dcm"
SAGITTAL = DICOM / "mr_sag_t1_siemens_hfs" / "dicom"

LFS_POINTER = (
    "version https://git-lfs.github.com/spec/v1\n"
    "oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\n"
    "size 39206\n"
)


def test_is_dicom_file_is_cheap_and_right(tmp_path):
    assert is_dicom_file(CT_SMALL)
    assert is_dicom_file(DICOM / "single_files" / "pydicom__no_meta.dcm")
    assert is_dicom_file(DICOM / "single_files" / "pydicom__rtstruct.dcm")
    assert not is_dicom_file(DICOM / "single_files" / "pixel_reference_pydicom.json")
    assert not is_dicom_file(tmp_path)
    assert not is_dicom_file(tmp_path / "missing.dcm")
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    assert not is_dicom_file(text)


def test_list_series_reads_headers_only_and_hides_identifiers():
    (info,) = list_series(SAGITTAL)
    assert isinstance(info, SeriesInfo)
    assert (info.modality, info.description, info.n_files, info.rows, info.columns) == (
        "MR", "t1_fl2d_sag", 35, 256, 256
    )
    assert info.has_pixels and not info.is_mosaic
    assert not [f for f in SeriesInfo.__dataclass_fields__ if "patient" in f.lower()]


def test_list_series_of_a_file_gives_its_series():
    (info,) = list_series(SAGITTAL / sorted(p.name for p in SAGITTAL.iterdir())[3])
    assert info.n_files == 35


def test_reading_one_file_reads_its_whole_series():
    volume = read_dicom(next(SAGITTAL.iterdir()))
    assert volume.array.shape == (35, 256, 256)


def test_list_series_splits_mixed_sizes(tmp_path):
    shutil.copy(CT_SMALL, tmp_path / "ct.dcm")
    shutil.copy(DICOM / "single_files" / "pydicom__MR_small.dcm", tmp_path / "mr.dcm")
    infos = list_series(tmp_path)
    assert sorted((s.modality, s.rows) for s in infos) == [("CT", 128), ("MR", 64)]


def test_corrupt_file_gives_a_clear_error(tmp_path):
    corrupt = tmp_path / "corrupt.dcm"
    corrupt.write_bytes(CT_SMALL.read_bytes()[:700])  # truncated inside the header
    with pytest.raises(ImageReadError, match="corrupt|truncated"):
        read_dicom(corrupt)
    garbage = tmp_path / "garbage.dcm"
    garbage.write_bytes(b"\x00" * 128 + b"DICM" + bytes(range(256)) * 4)
    with pytest.raises(ImageReadError):
        read_dicom(garbage)


def test_truncated_pixel_data_gives_a_clear_error(tmp_path):
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(CT_SMALL.read_bytes()[:-5000])
    with pytest.raises(ImageReadError, match="pixel data|truncated|corrupt"):
        read_dicom(cut)


def test_git_lfs_pointer_gives_a_clear_error(tmp_path):
    pointer = tmp_path / "image.dcm"
    pointer.write_text(LFS_POINTER)
    assert not is_dicom_file(pointer)
    with pytest.raises(ImageReadError, match="git lfs pull"):
        read_dicom(pointer)
    with pytest.raises(ImageReadError, match="Git-LFS pointers"):
        read_dicom(tmp_path)


def test_empty_folder_and_folder_without_dicom(tmp_path):
    with pytest.raises(ImageReadError, match="No DICOM files"):
        read_dicom(tmp_path)
    (tmp_path / "readme.txt").write_text("no images here")
    with pytest.raises(ImageReadError, match="No DICOM files"):
        list_series(tmp_path)


def test_missing_path_and_empty_file(tmp_path):
    with pytest.raises(ImageReadError, match="does not exist"):
        read_dicom(tmp_path / "nothing")
    empty = tmp_path / "empty.dcm"
    empty.write_bytes(b"")
    with pytest.raises(ImageReadError, match="empty"):
        read_dicom(empty)


def test_unknown_series_uid_lists_the_available_ones():
    with pytest.raises(ImageReadError, match="Available: .*t1_fl2d_sag"):
        read_dicom(SAGITTAL, series_uid="1.2.3")


def test_folder_with_only_a_structure_set(tmp_path):
    shutil.copy(DICOM / "single_files" / "pydicom__rtstruct.dcm", tmp_path / "rt.dcm")
    (info,) = list_series(tmp_path)
    assert info.modality == "RTSTRUCT" and not info.has_pixels
    with pytest.raises(ImageReadError, match="no pixel data"):
        read_dicom(tmp_path)
