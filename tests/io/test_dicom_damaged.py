"""Damaged DICOM files end in an ImageReadError naming the file, never a raw exception.

Cases of issue 9: Rows / Columns / NumberOfFrames NaN or missing, an unknown transfer
syntax (which used to raise again inside the error handler), palette colour without its
lookup table, one-value PixelSpacing, NaN / infinite rescale (ignored with the
``invalid_rescale`` warning, never an all-NaN image), and a bad file beside a good
series (skipped with a warning that counts it without naming it). Also: the
SeriesInstanceUID reaches metadata only when identifiers are asked for.
"""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataelem import DataElement

from napari_medimg.info import format_info, volume_info
from napari_medimg.io import read
from napari_medimg.io.dicom import list_series, read_dicom
from napari_medimg.io.dicom._series import series_key, series_key_of_file
from napari_medimg.io.errors import ImageReadError
from napari_medimg.io.warnings_codes import INVALID_RESCALE, NO_SPACING, UNREADABLE_FILES, warning_codes

DICOM = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "dicom"
MR_SMALL = DICOM / "single_files" / "pydicom__MR_small.dcm"
CT_SMALL = DICOM / "single_files" / "pydicom__CT_small.dcm"
PALETTE = DICOM / "single_files" / "pydicom-data__gdcm-US-ALOKA-16.dcm"
SAGITTAL = DICOM / "mr_sag_t1_siemens_hfs" / "dicom"


def _edited(source: Path, target: Path, **elements) -> Path:
    """A copy of ``source`` with elements set (value None deletes; (VR, value) forces a VR)."""
    ds = pydicom.dcmread(source, force=True)
    for keyword, value in elements.items():
        where = ds.file_meta if keyword == "TransferSyntaxUID" else ds
        if value is None:
            if keyword in where:
                delattr(where, keyword)
        elif isinstance(value, tuple):
            tag = pydicom.datadict.tag_for_keyword(keyword)
            where[tag] = DataElement(tag, value[0], value[1])
        else:
            setattr(where, keyword, value)
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=False)
    target.write_bytes(buffer.getvalue())
    return target


def assert_refused(path: Path) -> str:
    with pytest.raises(ImageReadError) as info:
        read(path)
    assert path.name in str(info.value), str(info.value)
    return str(info.value)


@pytest.mark.parametrize(
    "name, elements",
    [
        ("rows_nan.dcm", {"Rows": ("DS", "nan")}),
        ("rows_missing.dcm", {"Rows": None}),
        ("columns_nan.dcm", {"Columns": ("DS", "nan")}),
        ("frames_nan.dcm", {"NumberOfFrames": ("DS", "nan")}),
        ("frames_huge.dcm", {"NumberOfFrames": ("IS", "1000")}),
        ("syntax_unknown.dcm", {"TransferSyntaxUID": "1.2.3.4"}),
        ("bits_zero.dcm", {"BitsAllocated": 0}),
        ("samples_three.dcm", {"SamplesPerPixel": 3}),
        ("palette_no_lut.dcm", {"PhotometricInterpretation": "PALETTE COLOR"}),
    ],
)
def test_damaged_image_description_tags_are_refused_with_the_file_name(tmp_path, name, elements):
    assert_refused(_edited(MR_SMALL, tmp_path / name, **elements))


def test_unknown_transfer_syntax_message_says_so(tmp_path):
    message = assert_refused(_edited(MR_SMALL, tmp_path / "syntax.dcm", TransferSyntaxUID="1.2.3.4"))
    assert "1.2.3.4" in message and "not a known transfer syntax" in message


def test_palette_colour_without_its_lookup_table_is_refused(tmp_path):
    ds = pydicom.dcmread(PALETTE)
    for keyword in [k for k in ds.dir() if "Palette" in k or "LookupTable" in k]:
        delattr(ds, keyword)
    path = tmp_path / "no_lut.dcm"
    ds.save_as(path)
    assert "lookup table" in assert_refused(path)


def test_one_value_pixel_spacing_gives_no_spacing_not_an_error(tmp_path):
    volume = read(_edited(MR_SMALL, tmp_path / "one_spacing.dcm", PixelSpacing=["0.5"]))
    assert volume.spacing == (1.0, 1.0)
    assert NO_SPACING in warning_codes(volume.metadata["warnings"])
    np.testing.assert_array_equal(volume.array, read(MR_SMALL).array)


@pytest.mark.parametrize("slope, intercept", [("nan", "0"), ("inf", "0"), ("1", "-inf"), ("0", "5"), ("1", "nan")])
def test_nan_or_infinite_rescale_is_ignored_with_a_warning(tmp_path, slope, intercept):
    path = _edited(CT_SMALL, tmp_path / "rescale.dcm", RescaleSlope=("DS", slope), RescaleIntercept=("DS", intercept))
    volume = read(path)
    assert np.all(np.isfinite(volume.array))
    assert INVALID_RESCALE in warning_codes(volume.metadata["warnings"])
    stored = pydicom.dcmread(CT_SMALL).pixel_array
    np.testing.assert_array_equal(volume.array, stored)
    assert volume.metadata["rescale"] == {"slope": 1.0, "intercept": 0.0}


def test_a_bad_file_beside_a_good_series_is_skipped_and_not_named(tmp_path):
    files = sorted(SAGITTAL.iterdir())[:4]
    clean = tmp_path / "clean"
    clean.mkdir()
    for f in files:
        shutil.copy(f, tmp_path / f.name)
        shutil.copy(f, clean / f.name)
    expected = read_dicom(clean).array
    shutil.rmtree(clean)
    # one file whose header cannot be parsed, one of the same series with NaN Rows
    (tmp_path / "patient_smith_1962.dcm").write_bytes(CT_SMALL.read_bytes()[:300])
    _edited(files[0], tmp_path / "patient_jones_1970.dcm", Rows=("DS", "nan"), SOPInstanceUID="1.2.3")
    volume = read_dicom(tmp_path)
    assert volume.array.shape[0] == 4 and volume.metadata["modality"] == "MR"
    np.testing.assert_array_equal(volume.array, expected)
    assert UNREADABLE_FILES in warning_codes(volume.metadata["warnings"])
    text = repr(volume.metadata) + format_info(volume_info(volume))
    assert "smith" not in text and "jones" not in text
    (tmp_path / "patient_jones_1970.dcm").unlink()
    # a broken slice of the series itself is skipped too (its gap is reported)
    raw = (tmp_path / files[2].name).read_bytes()
    (tmp_path / files[2].name).write_bytes(raw[: len(raw) // 2])
    volume = read_dicom(tmp_path)
    assert volume.array.shape[0] == 3 and volume.metadata["n_files"] == 3
    assert warning_codes(volume.metadata["warnings"]).count(UNREADABLE_FILES) == 1
    # but the file a user picked is never skipped silently
    with pytest.raises(ImageReadError, match=files[2].name):
        read_dicom(tmp_path / files[2].name)


def test_a_truncated_single_file_names_the_file_not_the_series_uid(tmp_path):
    raw = CT_SMALL.read_bytes()
    path = tmp_path / "cut.dcm"
    path.write_bytes(raw[:5236])
    message = assert_refused(path)
    uid = str(pydicom.dcmread(CT_SMALL).SeriesInstanceUID)
    assert uid not in message


def test_series_uid_only_with_identifiers(tmp_path):
    uid = str(pydicom.dcmread(next(SAGITTAL.iterdir())).SeriesInstanceUID)
    volume = read(SAGITTAL)
    text = repr(volume.metadata) + format_info(volume_info(volume))
    assert uid not in text and "series_uid" not in volume.metadata
    assert volume.metadata["series_key"] == series_key(uid, volume.metadata["series_number"])
    assert volume.metadata["series_key"] == series_key_of_file(next(SAGITTAL.iterdir()))
    assert read(SAGITTAL, identifiers=True).metadata["series_uid"] == uid
    (info,) = list_series(SAGITTAL)
    assert info.uid == uid and info.key == volume.metadata["series_key"]
