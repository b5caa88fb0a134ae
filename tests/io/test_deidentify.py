"""De-identification by PS3.15's basic profile, checked by an independent walk over every element."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pydicom
import pytest

from napari_medimg.io.deidentify import DeidentifyOptions, burned_in_risk, deidentify, profile_table
from napari_medimg.io.deidentify._folder import _clean_relative
from napari_medimg.io.dicom import read_dicom

TABLE = Path(__file__).parents[2] / "src/napari_medimg/io/deidentify/ps3_15_table_e1_1.json"
# every DICOM series of the shared data, by folder (relative to shared/data/dicom)
SERIES = [
    "ct_totalseg_jpeg2000/dicom",
    "mr_sag_t1_siemens_hfs/dicom",
    "ct_head_gantry_tilt_ge/dicom",
    "ct_head_16px_nonuniform_monai/dicom",
    "mr_ax_epi4d_ge_nih/dicom",
    "mr_12bit_edgecase/dicom",
    "mr_siemens_mosaic_orientation/axasc35/dicom",
    "mr_siemens_mosaic_orientation/corasc35/dicom",
    "mr_siemens_mosaic_orientation/sagasc35/dicom",
]


# ---------------------------------------------------------------- the independent check
def _identifying_tags() -> tuple[set[int], list[tuple[int, int, int, int]]]:
    """Tags the basic profile changes (action other than K), read from the JSON directly."""
    exact, patterns = set(), []
    for text, row in json.loads(TABLE.read_text())["attributes"].items():
        if row["basic"] == "K":
            continue
        group, element = text.strip("()").split(",")
        if "X" in group or "X" in element:
            mask = lambda h: (int("".join("0" if c == "X" else "F" for c in h), 16), int(h.replace("X", "0"), 16))
            patterns.append((*mask(group), *mask(element)))
        else:
            exact.add(int(group + element, 16))
    return exact, patterns


EXACT, PATTERNS = _identifying_tags()


def _is_identifying(tag: int) -> bool:
    g, e = tag >> 16, tag & 0xFFFF
    return tag in EXACT or any(g & gm == gv and e & em == ev for gm, gv, em, ev in PATTERNS)


def _elements(ds):
    """Every element of ``ds`` and its file meta, nested sequences included."""
    meta = getattr(ds, "file_meta", None)
    stack = [ds] + ([meta] if meta is not None else [])
    while stack:
        current = stack.pop()
        for elem in current:
            yield elem
            if elem.VR == "SQ":
                stack.extend(elem.value or [])


def _text(value) -> list[str]:
    if isinstance(value, bytes) or type(value).__name__ == "Sequence":
        return []
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return [str(v) for v in value]
    return [str(value)]


# searched in every element of the copy, not only their own (descriptions may rightly recur
# in kept attributes, e.g. a protocol's name in a code meaning)
_STRONG = {"PatientID", "OtherPatientIDs", "AccessionNumber", "PatientAddress", "PatientTelephoneNumbers",
           "MedicalRecordLocator", "DeviceSerialNumber", "StationName", "InstitutionAddress"}
_PLACEHOLDERS = {"REMOVED", "ANONYMIZED", "ANONYMOUS"}  # inputs that were de-identified before


def _original_values(ds) -> tuple[dict[int, set[str]], set[str]]:
    """Identifying values per tag, and the long textual ones (searched everywhere in the copy)."""
    per_tag: dict[int, set[str]] = {}
    strings: set[str] = set()
    for elem in _elements(ds):
        if elem.tag.is_private or not _is_identifying(int(elem.tag)) or elem.value in (None, "", b""):
            continue
        values = {v.strip() for v in _text(elem.value) if v.strip()}
        per_tag.setdefault(int(elem.tag), set()).update(values)
        if elem.VR in ("PN", "UI", "DA", "DT") or elem.keyword in _STRONG:
            strings.update(
                v for v in values if len(v) >= 6 and not v.startswith("1.2.840.10008.") and v not in _PLACEHOLDERS
            )
    return per_tag, strings


def _leaks(original: Path, copy: Path) -> list[str]:
    source = pydicom.dcmread(original, force=True)
    out = pydicom.dcmread(copy, force=True)
    per_tag, strings = _original_values(source)
    found = []
    for elem in _elements(out):
        values = _text(elem.value)
        if int(elem.tag) in per_tag and set(v.strip() for v in values) & per_tag[int(elem.tag)]:
            found.append(f"{copy.name}: {elem.tag} {elem.keyword} kept its original value")
        for v in values:
            hit = next((s for s in strings if s in v), None)
            if hit and elem.tag != 0x00120063:  # DeidentificationMethod names the software only
                found.append(f"{copy.name}: {elem.tag} {elem.keyword} contains an original identifying value")
    raw = copy.read_bytes()
    found += [f"{copy.name}: original value {s[:4]}... in the file's bytes" for s in strings if s.encode() in raw]
    return found


# ---------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def copied(shared_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("deid") / "dicom"
    run = deidentify(shared_data / "dicom", out, key=b"test key")
    return shared_data / "dicom", out, run


def test_table_is_the_standard_s(copied):
    table = profile_table()
    assert table.edition == "2024b" and len(table) == 620
    assert table.rule(0x00100010).basic == "Z"  # Patient's Name
    assert table.rule(0x00080018).basic == "U"  # SOP Instance UID
    assert table.rule(0x60023000).name == "Overlay Data"  # (60xx,3000) pattern
    assert table.rule(0x00280010) is None  # Rows: kept


def test_every_dicom_file_is_deidentified(copied):
    source, out, run = copied
    written = run.written
    assert len(written) >= 250 and not [f for f in run.files if f.status == "failed"]
    leaks = []
    for record in written:
        leaks += _leaks(record.path, out / record.output)
    assert not leaks, leaks[:10]
    for record in written:  # PatientIdentityRemoved and the method's codes
        ds = pydicom.dcmread(out / record.output, force=True, stop_before_pixels=True)
        assert ds.PatientIdentityRemoved == "YES"
        codes = [item.CodeValue for item in ds.DeidentificationMethodCodeSequence]
        assert codes[0] == "113100" and "113111" in codes
        assert ds.LongitudinalTemporalInformationModified == "REMOVED"
    report = json.loads((out.parent / "dicom.deidentification.json").read_text())
    assert len(report["files"]) == len(run.files) and "2024b" in report["profile"]
    text = json.dumps(report)
    for record in written[:40]:  # the report holds no original UID (file names were renamed)
        ds = pydicom.dcmread(record.path, force=True, stop_before_pixels=True)
        uid = str(ds.get("SOPInstanceUID", ""))
        assert len(uid) < 8 or uid not in text


def test_pixel_data_is_byte_identical(copied):
    source, out, run = copied
    for record in run.written:
        a = pydicom.dcmread(record.path, force=True)
        b = pydicom.dcmread(out / record.output, force=True)
        if "PixelData" in a:
            assert a.PixelData == b.PixelData, record.source
            assert a.file_meta.TransferSyntaxUID == b.file_meta.TransferSyntaxUID


@pytest.mark.parametrize("folder", SERIES)
def test_series_read_with_the_same_geometry(copied, folder):
    source, out, run = copied
    # folders named with the patient's name (e.g. "..._hfs" for patient HFS) are cleaned
    copy = next(Path(r.output).parent for r in run.written if r.path.parent == source / folder)
    before, after = read_dicom(source / folder), read_dicom(out / copy)
    np.testing.assert_array_equal(before.array, after.array)
    np.testing.assert_allclose(before.spacing, after.spacing)
    np.testing.assert_allclose(before.origin, after.origin)
    np.testing.assert_allclose(before.direction, after.direction)


def test_uids_consistent_within_and_across_runs(copied, shared_data, tmp_path):
    source, out, run = copied
    folder = "mr_sag_t1_siemens_hfs/dicom"
    copy = next(Path(r.output).parent for r in run.written if r.path.parent == source / folder)
    files = sorted((out / copy).iterdir())
    headers = [pydicom.dcmread(f, stop_before_pixels=True) for f in files]
    for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "FrameOfReferenceUID"):
        values = {str(h.get(keyword)) for h in headers}
        assert len(values) == 1 and values.pop().startswith("2.25."), keyword
    assert all(h.SOPInstanceUID == h.file_meta.MediaStorageSOPInstanceUID for h in headers)
    again = deidentify(shared_data / "dicom" / folder, tmp_path / "again", key=b"test key")
    other = deidentify(shared_data / "dicom" / folder, tmp_path / "other", key=b"other key")
    first = sorted(r.output for r in again.written)
    assert first == sorted(f.name for f in files)  # same key: same UIDs, same file names
    assert not set(first) & set(r.output for r in other.written)


def test_options_retain_or_shift_dates_and_keep_uids(shared_data, tmp_path):
    path = shared_data / "dicom/single_files/pydicom__CT_small.dcm"
    original = pydicom.dcmread(path)
    kept = deidentify(path, tmp_path / "kept.dcm", DeidentifyOptions(retain_dates=True, keep_uids=True))
    ds = pydicom.dcmread(tmp_path / "kept.dcm")
    assert ds.StudyDate == original.StudyDate and ds.SOPInstanceUID == original.SOPInstanceUID
    assert ds.LongitudinalTemporalInformationModified == "UNMODIFIED" and kept.written
    deidentify(path, tmp_path / "shifted.dcm", DeidentifyOptions(shift_dates_days=-30))
    ds = pydicom.dcmread(tmp_path / "shifted.dcm")
    import datetime as dt

    days = dt.datetime.strptime(original.StudyDate, "%Y%m%d") - dt.datetime.strptime(ds.StudyDate, "%Y%m%d")
    assert days.days == 30 and ds.StudyTime == original.StudyTime
    assert ds.LongitudinalTemporalInformationModified == "MODIFIED"
    assert "113107" in [i.CodeValue for i in ds.DeidentificationMethodCodeSequence]
    assert "PatientName" not in ds or not str(ds.PatientName) or str(ds.PatientName) != str(original.PatientName)
    with pytest.raises(ValueError, match="either"):
        DeidentifyOptions(retain_dates=True, shift_dates_days=3)


def test_burned_in_flag_and_mask(shared_data, tmp_path):
    path = shared_data / "dicom/single_files/pydicom-data__US1_UNCR.dcm"
    original = pydicom.dcmread(path)
    assert burned_in_risk(original) == "possible"
    run = deidentify(path, tmp_path / "us.dcm", DeidentifyOptions(mask_regions=((0, 0, 40, 120),)))
    assert run.written[0].changes["pixels blanked"] == 40 * 120 and not run.needs_review
    masked = pydicom.dcmread(tmp_path / "us.dcm")
    before, after = original.pixel_array, masked.pixel_array
    assert (after[:40, :120] == before.min()).all()
    np.testing.assert_array_equal(after[40:], before[40:])
    assert "113101" in [i.CodeValue for i in masked.DeidentificationMethodCodeSequence]
    with pytest.raises(ValueError, match="outside"):
        deidentify(path, tmp_path / "us2.dcm", DeidentifyOptions(mask_regions=((5000, 0, 5040, 10),)))


def test_refuses_to_write_into_the_input_or_over_files(shared_data, tmp_path):
    from napari_medimg.io.errors import ImageWriteError

    source = shared_data / "dicom/ct_head_16px_nonuniform_monai/dicom"
    with pytest.raises(ImageWriteError, match="outside the input"):
        deidentify(source, source / "copy")
    deidentify(source, tmp_path / "out")
    stamp = {p: p.stat().st_mtime_ns for p in (tmp_path / "out").rglob("*")}
    with pytest.raises(ImageWriteError, match="exist"):
        deidentify(source, tmp_path / "out")
    assert stamp == {p: p.stat().st_mtime_ns for p in (tmp_path / "out").rglob("*")}


def test_names_with_identifiers_are_cleaned(shared_data, tmp_path):
    ds = pydicom.dcmread(shared_data / "dicom/single_files/pydicom__CT_small.dcm")
    ds.PatientName, ds.PatientID = "Doe^Johnathan", "MRN123456"
    folder = tmp_path / "in" / "Doe_MRN123456"
    folder.mkdir(parents=True)
    ds.save_as(folder / "Johnathan.dcm")
    (folder / "notes.txt").write_text("Johnathan Doe, MRN123456")
    run = deidentify(tmp_path / "in", tmp_path / "out")
    names = [p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*") if p.is_file()]
    assert names == ["anon_anon/anon.dcm"], names
    assert _clean_relative(Path("scanner_Ann/Ann.dcm"), {"Ann": "anon"})[0] == Path("scanner_anon/anon.dcm")
    assert [f.status for f in run.files if f.source.endswith("notes.txt")] == ["skipped"]


def test_deidentified_files_are_as_valid_as_their_originals(copied):
    """dicom-validator (DICOM 2024e, offline) finds no error in a copy that the original lacks."""
    from dicom_validation import validate_offline

    source, out, run = copied
    checked = set()
    for record in run.written:
        folder = str(Path(record.source).parent)
        if folder in checked and folder != "single_files":  # one file per series, every single file
            continue
        checked.add(folder)
        before = {e.replace(str(record.path), "") for e in validate_offline(record.path)}
        after = {e.replace(str(out / record.output), "") for e in validate_offline(out / record.output)}
        assert after <= before, (record.source, sorted(after - before))
    assert len(checked) >= 10
