"""Broken and hostile NIfTI, NRRD, MetaImage and picture files end in a clear ImageReadError.

Each case of issue 9 on the reading side: the message names the file and the problem,
nothing loads with silent zeros, and files that crash or hang SimpleITK are refused by
the header checks before SimpleITK is called (those run in a subprocess with a timeout).
"""

from __future__ import annotations

import gzip
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

from napari_medimg.io import ImageReadError, read
from napari_medimg.io.validate import HeaderFacts, check_memory
from napari_medimg.io.warnings_codes import NO_SPACING, warning_codes

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
SMALL_NIFTI = DATA / "mr/small_nifti/anatomical.nii"
CT_GZ = DATA / "ct/totalseg_example/example_ct_sm.nii.gz"
JPEG = DATA / "xray/cxr_lungs_montgomery/images/1.jpg"
PNG = DATA / "ultrasound/monai_2d_png/neck_input.png"
VOXELS = (np.arange(4 * 5 * 6) % 251).astype(np.uint8)


def _mha(path: Path, *, header: str = "", ndims: str = "3", data: bytes | None = None) -> Path:
    text = f"ObjectType = Image\nNDims = {ndims}\nDimSize = 6 5 4\n{header}ElementType = MET_UCHAR\nElementDataFile = LOCAL\n"
    path.write_bytes(text.encode() + (VOXELS.tobytes() if data is None else data))
    return path


def _nrrd(path: Path, *, fields: str = "", encoding: str = "raw", data: bytes | None = None) -> Path:
    text = f"NRRD0004\ntype: uint8\ndimension: 3\nsizes: 6 5 4\n{fields}encoding: {encoding}\n\n"
    path.write_bytes(text.encode() + (VOXELS.tobytes() if data is None else data))
    return path


def _nifti_with(path: Path, edit) -> Path:
    """A copy of the small real NIfTI with ``edit(header_bytearray, byte_order)`` applied."""
    raw = bytearray(SMALL_NIFTI.read_bytes())
    order = "<" if struct.unpack("<i", raw[:4])[0] == 348 else ">"
    edit(raw, order)
    path.write_bytes(bytes(raw))
    return path


def assert_refused(path: Path, *words: str) -> str:
    with pytest.raises(ImageReadError) as info:
        read(path)
    message = str(info.value)
    assert path.name in message
    for word in words:
        assert word in message, message
    return message


# ---------------------------------------------------------------- in a subprocess
_READ_IN_CHILD = """
import sys
from napari_medimg.io import ImageReadError, read
try:
    read(sys.argv[1])
except ImageReadError as exc:
    print("REFUSED:", exc)
else:
    print("LOADED")
"""


def _read_in_subprocess(path: Path, timeout: float = 60) -> str:
    result = subprocess.run(
        [sys.executable, "-c", _READ_IN_CHILD, str(path)], capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, f"the reader died (signal or crash): rc={result.returncode} {result.stderr[-500:]}"
    return result.stdout


def test_files_that_crash_or_hang_simpleitk_are_refused_before_it_runs(tmp_path):
    negative = _mha(tmp_path / "negative_ndims.mha", ndims="-1")
    ascii_over_binary = _nrrd(tmp_path / "ascii_binary.nrrd", encoding="ascii")
    infinite_sform = _nifti_with(
        tmp_path / "infinite_sform.nii",
        lambda h, o: (struct.pack_into(o + "h", h, 254, 1), struct.pack_into(o + "f", h, 292, float("inf"))),
    )
    script = "\n".join(
        ["import sys", "from napari_medimg.io import ImageReadError, read", "for p in sys.argv[1:]:",
         "    try:", "        read(p)", "    except ImageReadError as exc:", "        print('REFUSED:', exc)",
         "    else:", "        print('LOADED', p)"]
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(negative), str(ascii_over_binary), str(infinite_sform)],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr[-500:]
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 3 and all(line.startswith("REFUSED:") for line in lines), result.stdout
    assert "negative_ndims.mha" in lines[0] and "NDims is -1" in lines[0]
    assert "ascii_binary.nrrd" in lines[1] and "ASCII text but byte" in lines[1]
    assert "infinite_sform.nii" in lines[2] and "infinite" in lines[2]


# ---------------------------------------------------------------- silent damage
def test_nifti_cut_to_a_tenth_is_refused_with_the_fraction_present(tmp_path):
    raw = SMALL_NIFTI.read_bytes()
    cut = tmp_path / "cut.nii"
    cut.write_bytes(raw[: len(raw) // 10])
    assert_refused(cut, "the file is cut", "10 %")


def test_half_written_nii_gz_is_refused(tmp_path):
    raw = CT_GZ.read_bytes()
    half = tmp_path / "half.nii.gz"
    half.write_bytes(raw[: len(raw) // 2])
    assert_refused(half, "damaged", "cut")


def test_nii_gz_with_a_bad_checksum_is_refused(tmp_path):
    raw = bytearray(gzip.compress(SMALL_NIFTI.read_bytes()))
    raw[-6] ^= 0xFF  # the CRC32 of the gzip trailer
    bad = tmp_path / "bad_crc.nii.gz"
    bad.write_bytes(bytes(raw))
    assert_refused(bad, "corrupt")


def test_nii_gz_holding_less_than_its_header_declares_is_refused(tmp_path):
    raw = SMALL_NIFTI.read_bytes()
    short = tmp_path / "short.nii.gz"
    short.write_bytes(gzip.compress(raw[: len(raw) - 1000]))
    assert_refused(short, "once decompressed", "67650")


def test_header_claiming_32767_slices_is_refused_because_the_data_cannot_be_there(tmp_path):
    def edit(h, o):
        dims = list(struct.unpack_from(o + "8h", h, 40))
        dims[3] = 32767
        struct.pack_into(o + "8h", h, 40, *dims)

    huge = _nifti_with(tmp_path / "huge.nii", edit)
    assert_refused(huge, "the file is cut", "0 % of the data")


@pytest.mark.parametrize("source, fraction", [(JPEG, 2 / 3), (PNG, 2 / 3), (JPEG, 0.98)])
def test_cut_pictures_are_refused(tmp_path, source, fraction):
    raw = source.read_bytes()
    cut = tmp_path / f"cut{source.suffix}"
    cut.write_bytes(raw[: int(len(raw) * fraction)])
    assert_refused(cut, "is cut")


def test_cut_tiff_is_refused(tmp_path):
    from PIL import Image

    whole = tmp_path / "whole.tif"
    Image.fromarray((np.arange(64 * 80) % 65535).astype(np.uint16).reshape(64, 80)).save(whole)
    raw = whole.read_bytes()
    cut = tmp_path / "cut.tif"
    cut.write_bytes(raw[: len(raw) // 2])
    assert read(whole).array.shape == (64, 80)
    with pytest.raises(ImageReadError, match="cut.tif"):
        read(cut)


def test_compressed_mha_with_a_wrong_data_size_is_refused(tmp_path):
    short = zlib.compress(VOXELS.tobytes()[:100])
    path = _mha(tmp_path / "wrong_size.mha", header=f"CompressedData = True\nCompressedDataSize = {len(short)}\n", data=short)
    assert_refused(path, "100 bytes once decompressed", "120")
    long = zlib.compress(VOXELS.tobytes() * 2)
    path = _mha(tmp_path / "too_long.mha", header=f"CompressedData = True\nCompressedDataSize = {len(long)}\n", data=long)
    assert_refused(path, "240 bytes once decompressed")
    cut = zlib.compress(VOXELS.tobytes())
    path = _mha(tmp_path / "cut_stream.mha", header="CompressedData = True\n", data=cut[:-8])
    assert_refused(path, "damaged")


def test_uncompressed_mha_and_nrrd_missing_voxels_are_refused(tmp_path):
    assert_refused(_mha(tmp_path / "short.mha", data=VOXELS.tobytes()[:60]), "60 bytes", "120")
    assert_refused(_nrrd(tmp_path / "short.nrrd", data=VOXELS.tobytes()[:60]), "60 bytes", "120")
    assert_refused(_nrrd(tmp_path / "cut.nrrd", encoding="gzip", fields="endian: little\n", data=gzip.compress(VOXELS.tobytes())[:-10]), "damaged")
    assert_refused(_nrrd(tmp_path / "few.nrrd", encoding="ascii", data=b" ".join(b"%d" % v for v in VOXELS[:50])), "50 values")


# -------------------------------------------------------------------- geometry
@pytest.mark.parametrize(
    "name, header, words",
    [
        ("nan_origin.mha", "Offset = nan 0 0\n", ("origin", "NaN or infinite")),
        ("inf_spacing.mha", "ElementSpacing = 1 inf 1\n", ("spacing", "NaN or infinite")),
        ("nan_direction.mha", "TransformMatrix = 1 0 0 0 nan 0 0 0 1\n", ("direction", "NaN")),
        ("huge_origin.mha", "Offset = 1e308 0 0\n", ("origin", "absurd")),
        ("negative_spacing.mha", "ElementSpacing = 1 -2 0\n", ("zero or negative", "y = -2")),
    ],
)
def test_bad_metaimage_geometry_is_refused(tmp_path, name, header, words):
    assert_refused(_mha(tmp_path / name, header=header), *words)


@pytest.mark.parametrize(
    "name, fields, words",
    [
        ("nan_dir.nrrd", "space: left-posterior-superior\nspace directions: (nan,0,0) (0,1,0) (0,0,1)\n", ("space directions", "NaN")),
        ("inf_origin.nrrd", "space: left-posterior-superior\nspace origin: (0,inf,0)\n", ("origin", "NaN or infinite")),
        ("zero_dir.nrrd", "space: left-posterior-superior\nspace directions: (0,0,0) (0,1,0) (0,0,1)\n", ("zero or negative",)),
    ],
)
def test_bad_nrrd_geometry_is_refused(tmp_path, name, fields, words):
    assert_refused(_nrrd(tmp_path / name, fields=fields), *words)


@pytest.mark.parametrize(
    "name, offset, fmt, value, words",
    [
        ("nan_pixdim.nii", 80, "f", float("nan"), ("pixdim", "NaN")),
        ("inf_qoffset.nii", 268, "f", float("inf"), ("qoffset",)),
        ("nan_quatern.nii", 256, "f", float("nan"), ("quatern",)),
        ("inf_slope.nii", 112, "f", float("inf"), ("scl_slope", "infinite")),
        ("bad_dim0.nii", 40, "h", 9, ("dim[0]",)),
        ("zero_dim.nii", 44, "h", 0, ("size 0",)),
        ("bad_datatype.nii", 70, "h", 3, ("datatype code 3",)),
    ],
)
def test_bad_nifti_headers_are_refused(tmp_path, name, offset, fmt, value, words):
    path = _nifti_with(tmp_path / name, lambda h, o: struct.pack_into(o + fmt, h, offset, value))
    assert_refused(path, *words)


@pytest.mark.parametrize("value", [0.0, -3.0, 1e30])
def test_invalid_nifti_spacing_becomes_1_mm_with_a_no_spacing_warning(tmp_path, value):
    path = _nifti_with(tmp_path / "spacing.nii", lambda h, o: struct.pack_into(o + "f", h, 80, value))
    good = read(SMALL_NIFTI)
    volume = read(path)
    assert volume.spacing[-1] == 1.0 and volume.spacing[:2] == good.spacing[:2]
    assert NO_SPACING in warning_codes(volume.metadata["warnings"])
    np.testing.assert_array_equal(volume.array, good.array)
    assert np.all(np.isfinite(volume.origin))


def test_absurd_metaimage_spacing_becomes_1_mm_with_a_warning(tmp_path):
    volume = read(_mha(tmp_path / "absurd.mha", header="ElementSpacing = 1e300 2 3\n"))
    assert volume.spacing == (3.0, 2.0, 1.0)
    assert warning_codes(volume.metadata["warnings"]) == [NO_SPACING]


# -------------------------------------------------------------------- budget, good files
def test_memory_budget_names_the_figure_in_gib(tmp_path):
    facts = HeaderFacts("nifti", (2048, 2048, 2048), 8)  # 64 GiB decoded
    with pytest.raises(ImageReadError, match=r"big\.nii.*64\.0 GiB decoded.*needs about 128\.0 GiB"):
        check_memory(tmp_path / "big.nii", facts)


def test_valid_hand_made_files_still_load_with_their_values(tmp_path):
    expected = VOXELS.reshape(4, 5, 6)
    mha = read(_mha(tmp_path / "ok.mha", header="ElementSpacing = 1 2 3\n"))
    np.testing.assert_array_equal(mha.array, expected)
    assert mha.spacing == (3.0, 2.0, 1.0) and mha.metadata["warnings"] == []
    compressed = zlib.compress(VOXELS.tobytes())
    mhz = read(_mha(tmp_path / "okz.mha", header=f"CompressedData = True\nCompressedDataSize = {len(compressed)}\n", data=compressed))
    np.testing.assert_array_equal(mhz.array, expected)
    text = b" ".join(b"%d" % v for v in VOXELS) + b"\n"
    np.testing.assert_array_equal(read(_nrrd(tmp_path / "ascii.nrrd", encoding="ascii", data=text)).array, expected)
    gz = _nrrd(tmp_path / "gz.nrrd", encoding="gzip", data=gzip.compress(VOXELS.tobytes()))
    np.testing.assert_array_equal(read(gz).array, expected)
    detached = tmp_path / "detached.nhdr"
    (tmp_path / "detached.raw").write_bytes(VOXELS.tobytes())
    detached.write_text("NRRD0004\ntype: uint8\ndimension: 3\nsizes: 6 5 4\nencoding: raw\ndata file: detached.raw\n")
    np.testing.assert_array_equal(read(detached).array, expected)
    (tmp_path / "detached.raw").write_bytes(VOXELS.tobytes()[:10])
    assert_refused(detached, "detached.raw", "10 bytes")
    (tmp_path / "detached.raw").unlink()
    assert_refused(detached, "missing")


def test_every_real_volume_and_picture_passes_the_header_checks():
    from napari_medimg.io.formats import format_of
    from napari_medimg.io.validate import check_file

    files = [p for p in DATA.rglob("*") if p.is_file() and format_of(p) and p.stat().st_size < 40e6]
    assert len(files) > 100
    for path in files:
        check_file(path, format_of(path))
