"""DICOM SEG export and import, and the TID 1500 measurement report, on real DICOM series."""

from __future__ import annotations

import json

import numpy as np
import pydicom
import pytest

from napari_medimg import read, write
from napari_medimg.analysis.measure import measure_labels
from napari_medimg.io.dicom_seg import read_seg, write_seg
from napari_medimg.io.errors import ImageWriteError
from napari_medimg.io.label_map import LabelClass
from napari_medimg.io.measurement_report import read_measurement_sr, write_measurement_json, write_measurement_sr

SERIES = {
    "tilted CT": "ct_head_gantry_tilt_ge/dicom",  # 18.5 degree gantry tilt: sheared grid
    "CT with gaps": "ct_head_16px_nonuniform_monai/dicom",  # gaps of 202.5 / 1.25 / 1.25 mm
    "sagittal MR": "mr_sag_t1_siemens_hfs/dicom",
}


def _drawn(image):
    """Two objects, as a user would paint them (values 1 and 7, not consecutive)."""
    z, y, x = image.array.shape
    labels = np.zeros(image.array.shape, np.uint8)
    labels[z // 4 : z // 2 + 1, y // 4 : y // 2, x // 4 : x // 2] = 1
    labels[z // 2 + 1 :, y // 2 :, x // 2 :] = 7
    return image.with_array(labels)


@pytest.mark.parametrize("name", list(SERIES))
def test_seg_round_trip_is_voxel_identical(shared_data, tmp_path, name):
    source = shared_data / "dicom" / SERIES[name]
    image = read(source)
    labels = _drawn(image)
    out = write_seg(labels, source, tmp_path / "seg.dcm", classes={1: LabelClass(1, "tumour", (1.0, 0.0, 0.0))})
    back = read_seg(out, grid=image)  # on the series' grid: voxel for voxel
    assert back.metadata["kind"] == "labels" and back.metadata["modality"] == "SEG"
    np.testing.assert_array_equal(back.array, labels.array)
    np.testing.assert_allclose(back.spacing, image.spacing, atol=1e-4)
    np.testing.assert_allclose(back.origin, image.origin, atol=1e-4)
    np.testing.assert_allclose(back.direction, image.direction, atol=1e-6)
    classes = back.metadata["label_classes"]
    assert classes[1]["name"] == "tumour" and classes[7]["name"] == "Label 7"
    assert np.allclose(classes[1]["color"], (1, 0, 0), atol=0.01)


def test_seg_on_its_own_spans_its_slices_in_place(shared_data, tmp_path):
    """Opened alone, a SEG spans the slices its segments touch (empty ones are not stored)."""
    source = shared_data / "dicom/mr_sag_t1_siemens_hfs/dicom"
    image = read(source)
    labels = _drawn(image)
    labels.array[20] = 0  # a gap inside the painted range comes back as an empty slice
    alone = read(write_seg(labels, source, tmp_path / "seg.dcm"))  # the library's reader knows SEGs
    first = np.flatnonzero(labels.array.any(axis=(1, 2)))[0]
    last = np.flatnonzero(labels.array.any(axis=(1, 2)))[-1]
    np.testing.assert_array_equal(alone.array, labels.array[first : last + 1])
    np.testing.assert_allclose(alone.origin, image.index_to_world(np.array([first, 0, 0.0])), atol=1e-3)
    np.testing.assert_allclose(alone.spacing, image.spacing, atol=1e-4)
    assert (tmp_path / "seg.dcm").stat().st_size < 0.5 * 2 * labels.array.size / 8  # empty frames omitted


def test_seg_references_the_source_and_keeps_no_identity(shared_data, tmp_path):
    import highdicom as hd

    source = shared_data / "dicom/mr_sag_t1_siemens_hfs/dicom"
    image = read(source)
    out = write_seg(_drawn(image), source, tmp_path / "seg.dcm", algorithm_type="AUTOMATIC", algorithm_name="unet")
    seg = hd.seg.segread(out)  # highdicom's own parser
    headers = [pydicom.dcmread(p, stop_before_pixels=True) for p in sorted(source.iterdir())]
    referenced = {str(i.ReferencedSOPInstanceUID) for s in seg.ReferencedSeriesSequence for i in s.ReferencedInstanceSequence}
    assert referenced == {str(h.SOPInstanceUID) for h in headers}
    assert seg.StudyInstanceUID == headers[0].StudyInstanceUID  # filed in the source's study
    assert seg.FrameOfReferenceUID == headers[0].FrameOfReferenceUID
    assert [s.SegmentAlgorithmName for s in seg.SegmentSequence] == ["unet", "unet"]
    assert seg.PatientIdentityRemoved == "YES" and str(seg.PatientName) != str(headers[0].PatientName)
    assert seg.get("StudyDate", "") != headers[0].StudyDate
    kept = write_seg(_drawn(image), source, tmp_path / "kept.dcm", identifiers=True)
    assert str(pydicom.dcmread(kept).PatientName) == str(headers[0].PatientName)


def test_seg_refuses_labels_off_the_series_grid(shared_data, tmp_path):
    source = shared_data / "dicom/mr_sag_t1_siemens_hfs/dicom"
    labels = _drawn(read(source))
    shifted = labels.with_array(labels.array)
    shifted.origin = tuple(np.asarray(labels.origin) + 3.0)
    with pytest.raises(ImageWriteError, match="grid"):
        write_seg(shifted, source, tmp_path / "seg.dcm")
    with pytest.raises(ValueError, match="empty"):
        write_seg(labels.with_array(np.zeros_like(labels.array)), source, tmp_path / "seg.dcm")
    assert not (tmp_path / "seg.dcm").exists()
    no_uids = shared_data / "dicom/ct_totalseg_jpeg2000/dicom"  # published without Study/Series UIDs
    with pytest.raises(ImageWriteError, match="StudyInstanceUID|SOPClassUID|SeriesInstanceUID"):
        write_seg(_drawn(read(no_uids)), no_uids, tmp_path / "seg.dcm")


def test_third_party_seg_reads_as_labels(shared_data):
    volume = read(shared_data / "dicom/single_files/pydicom-data__liver.dcm")
    assert volume.metadata["kind"] == "labels" and volume.array.shape == (3, 512, 512)
    assert volume.metadata["label_classes"][1]["name"] == "Liver" and volume.array.max() == 1


def test_measurement_sr_reads_back_the_same_volumes(shared_data, tmp_path):
    source = shared_data / "dicom/ct_head_gantry_tilt_ge/dicom"
    image = read(source)
    seg = write_seg(_drawn(image), source, tmp_path / "seg.dcm", classes={7: LabelClass(7, "brain")})
    table = measure_labels(read_seg(seg, grid=image), image)
    sr_path = write_measurement_sr(table, seg, source, tmp_path / "sr.dcm")
    objects = read_measurement_sr(sr_path)
    assert [o["name"] for o in objects] == ["Label 1", "brain"]
    assert [o["segment_number"] for o in objects] == [1, 2]
    for obj, volume, mean in zip(objects, table["volume_mm3"], table["mean_HU"]):
        assert obj["measurements"]["Volume [mm3]"] == pytest.approx(volume, rel=1e-12)
        assert obj["measurements"]["Mean [[hnsf'U]]"] == pytest.approx(mean, rel=1e-12)
    voxel = np.prod(image.spacing)
    assert table["volume_mm3"][0] == pytest.approx(np.count_nonzero(_drawn(image).array == 1) * voxel)
    assert pydicom.dcmread(sr_path).PatientIdentityRemoved == "YES"
    doc = json.loads(write_measurement_json(table, tmp_path / "m.json", parameters={"percentiles": [10, 50, 90]}).read_text())
    assert doc["units"]["volume_mm3"] == "mm3" and doc["units"]["mean_HU"] == "HU" and doc["units"]["sphericity"] is None
    assert doc["software"].startswith("napari-medimg") and len(doc["rows"]) == 2


def test_cli_export_seg_then_sr(shared_data, tmp_path, capsys):
    from napari_medimg.cli import main

    source = shared_data / "dicom/mr_sag_t1_siemens_hfs/dicom"
    labels = _drawn(read(source))
    write(labels, tmp_path / "lesion_labels.nii.gz", allow_geometry_loss=True)
    (tmp_path / "lesion_labels.json").write_text(json.dumps({"1": "lesion", "7": "edema"}))
    assert main(["export-seg", str(tmp_path / "lesion_labels.nii.gz"), str(source), str(tmp_path / "seg.dcm")]) == 0
    back = read_seg(tmp_path / "seg.dcm", grid=read(source))
    np.testing.assert_array_equal(back.array, labels.array)
    assert back.metadata["label_classes"][7]["name"] == "edema"
    out = [str(tmp_path / n) for n in ("sr.dcm", "m.csv", "m.json")]
    assert main(["export-sr", str(tmp_path / "seg.dcm"), str(source), out[0], "--csv", out[1], "--json", out[2]]) == 0
    assert "1:" in capsys.readouterr().out and all((tmp_path / n).is_file() for n in ("sr.dcm", "m.csv", "m.json"))
    assert main(["export-seg", str(tmp_path / "lesion_labels.nii.gz"), str(source), str(tmp_path / "seg.dcm")]) == 1
    assert "exists" in capsys.readouterr().err


def test_cli_anonymize(shared_data, tmp_path, capsys):
    from napari_medimg.cli import main

    source = shared_data / "dicom/ct_head_16px_nonuniform_monai"
    assert main(["anonymize", str(source), str(tmp_path / "out"), "--shift-dates", "-10"]) == 0
    said = capsys.readouterr().out
    assert "4 file(s) de-identified" in said and "skipped" in said
    ds = pydicom.dcmread(next((tmp_path / "out/dicom").iterdir()))
    assert ds.PatientIdentityRemoved == "YES" and ds.LongitudinalTemporalInformationModified == "MODIFIED"
    assert main(["anonymize", str(source), str(source / "copy")]) == 1
    assert "outside" in capsys.readouterr().err
    key = tmp_path / "key"
    key.write_bytes(b"short")
    assert main(["anonymize", str(source), str(tmp_path / "o2"), "--key-file", str(key)]) == 1


def test_seg_and_sr_pass_dicom_validator(shared_data, tmp_path):
    """dicom-validator against DICOM 2024e (tables bundled in tests/data: the test runs offline)."""
    from dicom_validation import validate_offline

    for folder in ("ct_head_gantry_tilt_ge/dicom", "ct_head_16px_nonuniform_monai/dicom"):
        source = shared_data / "dicom" / folder
        image = read(source)
        seg = write_seg(_drawn(image), source, tmp_path / "seg.dcm", overwrite=True, algorithm_type="AUTOMATIC")
        assert validate_offline(seg) == []
        sr = write_measurement_sr(measure_labels(read_seg(seg, grid=image), image), seg, source, tmp_path / "sr.dcm", overwrite=True)
        # the SR's content tree nests Content Sequence recursively (PS3.3 C.17.3); the bundled
        # tables do not describe that recursion, so the validator flags the nested level only
        assert validate_offline(sr) == [
            "SR Document Content: (0040,A730) (Content Sequence) / Tag (0040,A730) (Content Sequence) is unexpected"
        ]
    broken = pydicom.dcmread(seg)
    del broken.SegmentSequence[0].SegmentLabel  # type 1: the validator must notice
    broken.save_as(tmp_path / "broken.dcm")
    assert any("Segment Label" in e for e in validate_offline(tmp_path / "broken.dcm"))


def test_radiomics_in_the_sr_with_units(shared_data, tmp_path):
    from napari_medimg.analysis.radiomics import extract

    source = shared_data / "dicom/ct_head_gantry_tilt_ge/dicom"
    image = read(source)
    seg = write_seg(_drawn(image), source, tmp_path / "seg.dcm")
    labels = read_seg(seg, grid=image)
    table = measure_labels(labels, image, shape=False)
    rows = [extract(image, labels, {"label": int(v)}, feature_classes=["firstorder", "shape", "glcm"]) for v in table["label"]]
    for key in rows[0]:
        table[key] = np.array([r[key] for r in rows])
    objects = read_measurement_sr(write_measurement_sr(table, seg, source, tmp_path / "sr.dcm"))
    for obj, row in zip(objects, rows):
        got = obj["measurements"]
        assert got["shape_MeshVolume [mm3]"] == pytest.approx(row["original_shape_MeshVolume"], rel=1e-12)
        assert got["firstorder_Mean [[hnsf'U]]"] == pytest.approx(row["original_firstorder_Mean"], rel=1e-12)
        assert got["glcm_Contrast [1]"] == pytest.approx(row["original_glcm_Contrast"], rel=1e-12)
        assert got["firstorder_TotalEnergy [[hnsf'U]2.mm3]"] == pytest.approx(row["original_firstorder_TotalEnergy"], rel=1e-12)


def test_probability_map_as_fractional_seg(shared_data, tmp_path):
    import highdicom as hd

    source = shared_data / "dicom/mr_sag_t1_siemens_hfs/dicom"
    image = read(source)
    z, y, x = np.mgrid[: image.array.shape[0], : image.array.shape[1], : image.array.shape[2]]
    probability = np.exp(-(((z - 17) / 6.0) ** 2 + ((y - 128) / 40.0) ** 2 + ((x - 128) / 40.0) ** 2)).astype(np.float32)
    out = write_seg(image.with_array(probability), source, tmp_path / "p.dcm", algorithm_type="AUTOMATIC")
    seg = hd.seg.segread(out)
    assert seg.SegmentationType == "FRACTIONAL" and seg.SegmentSequence[0].SegmentLabel == "Probability"
    back = read_seg(out, grid=image)  # thresholded at one half
    np.testing.assert_array_equal(back.array, (np.round(probability * 255) > 127.5).astype(np.uint8))
    with pytest.raises(ValueError, match="probabilities"):
        write_seg(image.with_array(probability * 2), source, tmp_path / "q.dcm")
