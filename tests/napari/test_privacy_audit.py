"""Privacy audit: every file the plugin writes is scanned for the patient's identifying values.

A real MR series and a real CR radiograph get a full set of identifiers (name, ID, birth date,
address, accession, physicians, institution, station, serial) on top of the ones they carry
(dates, times, UIDs that embed dates and serials); a damaged file named after the patient sits
beside them. Then every writer runs on them: image and labels files in each format (library
and napari's File > Save), class-map sidecars, CLI outputs (info JSON, run, features CSV),
DICOM SEG, SR, measurement CSV/JSON, de-identified copies and their reports. No output may
hold any identifying value, in any encoding the file uses (gzip streams are opened).
"""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest

from _widgets import open_widget

IDENTITY = {
    "PatientName": "Testperson^Alicia^Marie",
    "PatientID": "PID8472XY",
    "PatientBirthDate": "19610314",
    "PatientAddress": "12 Example Lane, Sampletown",
    "OtherPatientIDs": "OTHER77310",
    "AccessionNumber": "ACC99812",
    "ReferringPhysicianName": "Referrer^Bernhard",
    "PerformingPhysicianName": "Performer^Carlotta",
    "OperatorsName": "Operator^Dagmar",
    "InstitutionName": "St Example Hospital",
    "InstitutionAddress": "1 Hospital Road, Sampletown",
    "StationName": "SCANNER-ROOM-7",
    "DeviceSerialNumber": "SN5551234",
}
# attributes whose original values identify (besides IDENTITY): dates, times of day, UIDs
ORIGINAL = ("StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate", "StudyInstanceUID", "SeriesInstanceUID",
            "SOPInstanceUID", "FrameOfReferenceUID")


def _identify(source: Path, target: Path) -> set[str]:
    """Copy the DICOM files of ``source`` to ``target`` with IDENTITY added; the values to look for."""
    target.mkdir(parents=True)
    secrets = set(IDENTITY.values()) | {p for v in IDENTITY.values() for p in v.split("^") if len(p) >= 6}
    for path in sorted(p for p in source.iterdir() if p.is_file()):
        try:
            ds = pydicom.dcmread(path)
        except pydicom.errors.InvalidDicomError:
            continue
        for keyword, value in IDENTITY.items():
            setattr(ds, keyword, value)
        secrets |= {str(ds.get(k)) for k in ORIGINAL if len(str(ds.get(k) or "")) >= 8}
        ds.save_as(target / path.name)
    (target / "Testperson_Alicia_damaged.dcm").write_bytes(b"\0" * 128 + b"DICM" + b"\x02\x00" * 20)
    return secrets


def _readable(path: Path) -> bytes:
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":  # .nii.gz, compressed NRRD / MetaImage payloads stay binary
        data += gzip.decompress(data)
    return data


def _leaks(folder: Path, secrets: set[str], extra: dict[str, str], uids: set[str] = frozenset()) -> list[str]:
    """Identifying values in the files under ``folder`` (and in ``extra`` texts).

    A SEG or SR references its source series by the source's UIDs (``uids``): those, and
    only those, are allowed in them (see test_seg_and_sr_deidentified_with_their_source).
    """
    found = []
    texts = {str(p.relative_to(folder)): _readable(p) for p in folder.rglob("*") if p.is_file()}
    for name, data in texts.items():
        if name.endswith(".dcm") and str(pydicom.dcmread(folder / name, stop_before_pixels=True).Modality) in ("SEG", "SR"):
            for uid in sorted(uids, key=len, reverse=True):
                data = data.replace(uid.encode(), b"")
            texts[name] = data
    texts.update({name: text.encode() for name, text in extra.items()})
    for name, data in texts.items():
        lowered = data.lower()
        for secret in secrets:
            for encoded in (secret.encode(), secret.encode("utf-16-le")):
                if encoded.lower() in lowered:
                    found.append(f"{name}: {secret[:5]}...")
        if "testperson" in name.lower() or "alicia" in name.lower():
            found.append(f"file name {name}")
    return found


@pytest.fixture(scope="module")
def identified(shared_data, tmp_path_factory):
    root = tmp_path_factory.mktemp("identified")
    secrets = _identify(shared_data / "dicom/mr_sag_t1_siemens_hfs/dicom", root / "mr")
    single = root / "cr"
    single.mkdir()
    ds = pydicom.dcmread(shared_data / "dicom/single_files/pydicom-data__RG1_UNCR.dcm")
    for keyword, value in IDENTITY.items():
        setattr(ds, keyword, value)
    secrets |= {str(ds.get(k)) for k in ORIGINAL if len(str(ds.get(k) or "")) >= 8}
    ds.save_as(single / "chest.dcm")
    return root, secrets


def test_every_writer_keeps_identity_out(identified, tmp_path, make_napari_viewer, qtbot, capsys):
    from _widgets import prefer_medimg_reader

    from napari_medimg import read, write
    from napari_medimg.cli import main

    root, secrets = identified
    mr, cr = root / "mr", root / "cr" / "chest.dcm"
    out = tmp_path / "out"
    out.mkdir()
    said: dict[str, str] = {}

    # the library's writers, every format
    volume = read(mr)
    said["warnings"] = json.dumps(volume.metadata, default=str)
    for name in ("mr.nii.gz", "mr.nii", "mr.nrrd", "mr.mha", "mr.mhd"):
        write(volume, out / name)
    radiograph = read(cr)
    said["cr metadata"] = json.dumps(radiograph.metadata, default=str)
    for name in ("cr.png", "cr.tif", "cr.nii.gz"):
        write(radiograph if not name.endswith(("png", "tif")) else radiograph.with_array(
            (radiograph.array / max(radiograph.array.max(), 1) * 255).astype(np.uint8)), out / name)

    # the command line
    for args in (
        ["info", str(mr), "--json"],
        ["run", "gaussian", str(mr), str(out / "cli_gauss.nii.gz"), "--sigma", "1"],
        ["run", "threshold_auto", str(mr), str(out / "cli_mask.nrrd")],
        ["anonymize", str(cr), str(out / "anon_cr.dcm")],
    ):
        assert main(args) == 0, args
    assert main(["anonymize", str(mr), str(out / "anon")]) == 1  # the damaged file: reported, not copied
    said["cli stdout"] = capsys.readouterr().out
    labels = volume.with_array((volume.array > np.percentile(volume.array, 90)).astype(np.uint8))
    labels.array[:, :, :128] *= 2  # two objects
    write(labels, out / "labels.nii.gz")
    (out / "labels.json").write_text(json.dumps({"1": "left part", "2": "right part"}))
    for args in (
        ["features", str(mr), str(out / "labels.nii.gz"), "--all-labels", "--out", str(out / "features.csv")],
        ["export-seg", str(out / "labels.nii.gz"), str(mr), str(out / "seg.dcm")],
        ["export-sr", str(out / "seg.dcm"), str(mr), str(out / "sr.dcm"), "--csv", str(out / "m.csv"),
         "--json", str(out / "m.json")],
    ):
        assert main(args) == 0, args
    said["cli stdout 2"] = capsys.readouterr().out + capsys.readouterr().err

    # napari: File > Open, then File > Save of the image and of labels painted on it
    viewer = make_napari_viewer()
    prefer_medimg_reader()
    image = viewer.open(str(mr), plugin="napari-medimg")[0]
    said["layer metadata"] = json.dumps(image.metadata, default=str) + image.name
    drawn = np.zeros(image.data.shape, np.uint8)
    drawn[10:20, 100:140, 20:30] = 3
    painted = viewer.add_labels(drawn, scale=image.scale, translate=image.translate)
    image.save(str(out / "napari_image.nrrd"))
    painted.save(str(out / "napari_labels.nii.gz"))
    widget = open_widget(viewer, "export_dicom_seg")
    widget.output.value = out / "napari_seg.dcm"
    worker = widget.start(start_thread=False)
    with qtbot.waitSignal(worker.finished, timeout=120_000):
        worker.start()
    assert len(widget.written) == 4

    uids = {u for u in secrets if u[:1].isdigit() and "." in u}
    leaks = _leaks(out, secrets, said, uids)
    assert not leaks, leaks
    written = sorted(p.name for p in out.rglob("*") if p.is_file())
    assert len(written) >= 30, written  # the audit really covered the writers


def test_audit_catches_a_leak(identified, tmp_path):
    """The scan itself works: an identifier in a gzip stream or a file name is found."""
    root, secrets = identified
    folder = tmp_path / "o"
    folder.mkdir()
    (folder / "x.json.gz").write_bytes(gzip.compress(json.dumps({"who": IDENTITY["PatientID"]}).encode()))
    shutil.copy(root / "cr" / "chest.dcm", folder / "Alicia.dcm")
    leaks = _leaks(folder, secrets, {})
    assert any("x.json.gz" in leak for leak in leaks) and any("file name" in leak for leak in leaks)


def test_seg_and_sr_deidentified_with_their_source(identified, tmp_path):
    """Sharing: the series, its SEG and SR anonymized in one run keep their references, and lose every UID."""
    from napari_medimg import read
    from napari_medimg.cli import main
    from napari_medimg.io.dicom_seg import read_seg
    from napari_medimg.io.measurement_report import read_measurement_sr

    root, secrets = identified
    study = tmp_path / "study"
    shutil.copytree(root / "mr", study / "series")
    (study / "series" / "Testperson_Alicia_damaged.dcm").unlink()
    volume = read(study / "series")
    labels = volume.with_array((volume.array > np.percentile(volume.array, 95)).astype(np.uint8))
    from napari_medimg import write

    write(labels, tmp_path / "labels.nii.gz")
    assert main(["export-seg", str(tmp_path / "labels.nii.gz"), str(study / "series"), str(study / "seg.dcm")]) == 0
    assert main(["export-sr", str(study / "seg.dcm"), str(study / "series"), str(study / "sr.dcm")]) == 0
    assert main(["anonymize", str(study), str(tmp_path / "shared")]) == 0
    assert not _leaks(tmp_path / "shared", secrets, {})  # the UIDs too, this time
    shared = tmp_path / "shared"
    seg = pydicom.dcmread(shared / "seg.dcm")
    copies = {str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID) for p in (shared / "series").iterdir()}
    referenced = {str(i.ReferencedSOPInstanceUID) for i in seg.ReferencedSeriesSequence[0].ReferencedInstanceSequence}
    assert referenced == copies  # the SEG still points at its (de-identified) series
    np.testing.assert_array_equal(read_seg(shared / "seg.dcm", grid=read(shared / "series")).array, labels.array)
    objects = read_measurement_sr(shared / "sr.dcm")
    assert objects[0]["seg_instance_uid"] == str(seg.SOPInstanceUID)
