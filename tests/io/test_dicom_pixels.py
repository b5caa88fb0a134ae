"""Pixel values of every file in single_files against pixel_reference_pydicom.json.

The reference holds the statistics of pydicom's raw ``pixel_array`` (stored values).
The reader documents two transforms on top of them, which the expected values here
apply to the reference numbers:

* rescale ``slope * stored + intercept`` (from the top level or the enhanced
  Pixel Value Transformation functional group);
* MONOCHROME1 inversion ``(max_possible + min_possible) - stored`` with the range of
  BitsStored (so min and max swap and the sum becomes ``N * (max+min) - sum``);
* PALETTE COLOR is expanded to RGB with pydicom's ``apply_color_lut``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.pixels import apply_color_lut

from napari_medimg.io.dicom import is_dicom_file, read_dicom
from napari_medimg.io.errors import ImageReadError
from napari_medimg.io.warnings_codes import warning_codes

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
SINGLE = DATA / "dicom" / "single_files"
REFERENCE = json.loads((SINGLE / "pixel_reference_pydicom.json").read_text())
WITH_PIXELS = sorted(name for name, ref in REFERENCE.items() if "pixel_error" not in ref)


def _rescale(ds) -> tuple[float, float]:
    source = ds
    shared = ds.get("SharedFunctionalGroupsSequence")
    if shared and "PixelValueTransformationSequence" in shared[0]:
        source = shared[0].PixelValueTransformationSequence[0]
    return float(source.get("RescaleSlope", 1.0)), float(source.get("RescaleIntercept", 0.0))


def _expected_stats(name: str) -> tuple[float, float, float]:
    ref = REFERENCE[name]
    low, high, total = ref["min"], ref["max"], ref["sum"]
    n = int(np.prod(ref["pixel_array_shape"]))
    if ref["Photometric"] == "MONOCHROME1":
        top = (1 << ref["BitsStored"]) - 1  # unsigned: max + min possible
        low, high, total = top - high, top - low, n * top - total
    slope, intercept = _rescale(pydicom.dcmread(SINGLE / name, stop_before_pixels=True))
    return slope * low + intercept, slope * high + intercept, slope * total + intercept * n


@pytest.mark.parametrize("name", [n for n in WITH_PIXELS if REFERENCE[n]["Photometric"] != "PALETTE COLOR"])
def test_pixel_statistics_match_reference(name):
    ref = REFERENCE[name]
    volume = read_dicom(SINGLE / name)
    array = volume.array
    assert array.shape == tuple(ref["pixel_array_shape"])
    low, high, total = _expected_stats(name)
    assert float(array.min()) == low and float(array.max()) == high
    assert float(array.sum(dtype=np.float64)) == pytest.approx(total, rel=1e-12)
    assert array.dtype.isnative
    assert volume.rgb == (ref["SamplesPerPixel"] == 3)


@pytest.mark.parametrize("name", [n for n in WITH_PIXELS if REFERENCE[n]["RescaleIntercept"] is None
                                  and REFERENCE[n]["Photometric"] in ("MONOCHROME2", "RGB")
                                  and not REFERENCE[n]["NumberOfFrames"]])
def test_untransformed_images_are_bit_identical(name):
    array = read_dicom(SINGLE / name).array
    little_endian = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))
    expected = REFERENCE[name]["sha256"]
    if name == "pydicom__MR_small_bigendian.dcm":  # the reference hashed big-endian bytes
        expected = REFERENCE["pydicom__MR_small.dcm"]["sha256"]
    assert hashlib.sha256(little_endian.tobytes()).hexdigest() == expected


def test_palette_colour_is_expanded_to_rgb():
    name = "pydicom-data__gdcm-US-ALOKA-16.dcm"
    ds = pydicom.dcmread(SINGLE / name)
    indices = ds.pixel_array
    ref = REFERENCE[name]
    assert (int(indices.min()), int(indices.max()), int(indices.sum(dtype=np.int64))) == (
        ref["min"], ref["max"], ref["sum"]
    )
    volume = read_dicom(SINGLE / name)
    assert volume.rgb and volume.array.shape == (480, 640, 3)
    np.testing.assert_array_equal(volume.array, apply_color_lut(indices, ds))
    # spacing from the ultrasound region (0.0382653 cm)
    np.testing.assert_allclose(volume.spacing, (0.382653065, 0.382653065))
    assert volume.metadata["spacing_source"].startswith("SequenceOfUltrasoundRegions")


def test_monochrome1_radiograph_is_inverted_with_window_and_no_spacing_warning():
    volume = read_dicom(SINGLE / "pydicom-data__RG1_UNCR.dcm")
    assert volume.spatial_ndim == 2 and volume.array.dtype == np.uint16
    assert "inverted" in volume.metadata
    # window centre 15000 of the stored values becomes 32767 - 15000
    assert volume.metadata["window_presets"][0]["center"] == 32767 - 15000
    assert volume.metadata["window_presets"][0]["width"] == 30000
    assert "no_spacing" in warning_codes(volume.metadata["warnings"])  # PixelSpacing is 0\0
    assert volume.spacing == (1.0, 1.0)


def test_ct_single_slice_is_hu_int16_with_pixel_spacing():
    volume = read_dicom(SINGLE / "pydicom__CT_small.dcm")
    assert volume.array.dtype == np.int16 and volume.metadata["units"] == "HU"
    assert volume.spacing == (0.661468, 0.661468)
    assert volume.metadata["spacing_source"] == "PixelSpacing"
    assert "plane_geometry" in volume.metadata


def test_enhanced_ct_uses_per_frame_geometry_and_functional_group_rescale():
    volume = read_dicom(SINGLE / "pydicom-data__eCT_Supplemental.dcm")
    assert volume.array.shape == (2, 512, 512) and volume.array.dtype == np.int16
    # frames at z = -159 and -149 with row cosine (-1, 0, 0): normal is -z, so z=-149 comes first
    np.testing.assert_allclose(volume.origin, (-149.0, -301.5, 99.5))
    np.testing.assert_allclose(volume.spacing, (10.0, 0.388672, 0.388672))
    np.testing.assert_allclose(volume.direction, [[-1, 0, 0], [0, 1, 0], [0, 0, -1]], atol=1e-12)
    assert volume.metadata["rescale"] == {"slope": 1.0, "intercept": -1024.0}
    assert volume.metadata["window_presets"][0]["center"] == 49.0


def test_segmentation_frames_stack_as_a_uint8_volume():
    volume = read_dicom(SINGLE / "pydicom-data__liver.dcm")
    assert volume.array.shape == (3, 512, 512) and volume.array.dtype == np.uint8
    np.testing.assert_allclose(volume.spacing, (1.0, 0.810547, 0.810547))
    assert volume.metadata["modality"] == "SEG"


def test_multiframe_without_geometry_says_so():
    volume = read_dicom(SINGLE / "pydicom-data__emri_small.dcm")
    assert volume.array.shape == (10, 64, 64)
    assert "no_spacing" in warning_codes(volume.metadata["warnings"])


def test_file_without_meta_header_is_read_like_its_original():
    path = SINGLE / "pydicom__no_meta.dcm"
    assert is_dicom_file(path)
    volume = read_dicom(path)
    original = read_dicom(SINGLE / "pydicom__CT_small.dcm")
    np.testing.assert_array_equal(volume.array, original.array)
    assert volume.spacing == original.spacing
    assert "no_meta_header" in warning_codes(volume.metadata["warnings"])


def test_structure_set_without_pixels_is_refused_clearly():
    with pytest.raises(ImageReadError, match="no pixel data.*not an image"):
        read_dicom(SINGLE / "pydicom__rtstruct.dcm")


def test_metadata_has_no_patient_identifiers():
    forbidden = ("patient_name", "patient_id", "birth", "accession", "institution", "physician", "date")
    for name in ("pydicom__CT_small.dcm", "pydicom-data__RG1_UNCR.dcm"):
        meta = read_dicom(SINGLE / name).metadata
        assert not [k for k in meta if any(f in k.lower() for f in forbidden)]
        text = json.dumps(meta, default=str)
        ds = pydicom.dcmread(SINGLE / name, stop_before_pixels=True)
        for keyword in ("PatientName", "PatientID", "InstitutionName", "AccessionNumber"):
            value = str(ds.get(keyword, "") or "")
            if len(value) > 2:
                assert value not in text


# ----------------------------------------------------- uncompressed pixels read from their bytes


def _all_dicom_files():
    return sorted(p for p in (DATA / "dicom").rglob("*") if p.is_file() and is_dicom_file(p))


def test_native_pixels_equal_pydicom_on_every_uncompressed_file():
    """The reader's own path for uncompressed greyscale data gives pydicom's pixel_array exactly."""
    from napari_medimg.io.dicom._pixels import _native_pixels

    taken = 0
    for path in _all_dicom_files():
        ds = pydicom.dcmread(path, force=True)
        if "PixelData" not in ds:
            continue
        native = _native_pixels(ds)
        if native is None:
            continue
        expected = ds.pixel_array
        assert native.dtype == expected.dtype and native.flags.writeable, path
        np.testing.assert_array_equal(native, expected, err_msg=str(path))
        taken += 1
    assert taken >= 40  # the CT, MR and single-file series of ../shared/data


@pytest.mark.parametrize("signed", [0, 1])
@pytest.mark.parametrize("allocated, stored", [(16, 12), (16, 16), (8, 8), (16, 10), (32, 20)])
def test_native_pixels_mask_and_sign_extend_like_pydicom(signed, allocated, stored):
    """Garbage in the unused high bits is masked (unsigned) or the value sign-extended from
    HighBit (signed), as pydicom does; multi-frame too."""
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian

    from napari_medimg.io.dicom._pixels import _native_pixels

    rng = np.random.default_rng(allocated + stored + signed)
    raw = rng.integers(0, 2**allocated, size=(3, 5, 7), dtype=np.uint64).astype(f"<u{allocated // 8}")
    ds = pydicom.Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.Rows, ds.Columns, ds.NumberOfFrames = 5, 7, 3
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = allocated, stored, stored - 1, signed
    ds.PixelData = raw.tobytes()
    ds["PixelData"].VR = "OW" if allocated > 8 else "OB"
    native = _native_pixels(ds)
    expected = ds.pixel_array
    assert native.dtype == expected.dtype
    np.testing.assert_array_equal(native, expected)
    ds.HighBit = stored - 2  # an unusual layout goes to pydicom
    assert _native_pixels(ds) is None
