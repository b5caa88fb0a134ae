"""File > IO utilities: de-identify DICOM, and export a painted labels layer as DICOM SEG + SR."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest

from _widgets import open_widget, prefer_medimg_reader


def test_deidentify_widget_writes_a_copy_and_cancels(make_napari_viewer, qtbot, shared_data, tmp_path):
    viewer = make_napari_viewer()
    prefer_medimg_reader()
    widget = open_widget(viewer, "deidentify_dicom")
    widget.source.value = shared_data / "dicom/mr_sag_t1_siemens_hfs"
    widget.output.value = tmp_path / "copy"
    widget.shift_dates.value = True
    widget.shift_days.value = 7
    widget.regions.value = "not a region"
    assert widget.start() is None and "row0" in widget.status.value  # malformed input: said, nothing run
    widget.regions.value = ""
    worker = widget.start(start_thread=False)
    with qtbot.waitSignal(worker.finished, timeout=60_000):
        worker.start()
    assert widget.report is not None and len(widget.report.written) == 35
    assert "35 file(s) de-identified" in widget.status.value and not widget.cancel_button.enabled
    ds = pydicom.dcmread(next((tmp_path / "copy").rglob("*.dcm")))
    assert ds.PatientIdentityRemoved == "YES" and ds.LongitudinalTemporalInformationModified == "MODIFIED"
    # Cancel acts between files: nothing half-written
    widget.output.value = tmp_path / "cancelled"
    widget.report = None
    worker = widget.start(start_thread=False)
    widget.cancel_button.changed.emit(True)
    with qtbot.waitSignal(worker.finished, timeout=60_000):
        worker.start()
    assert widget.report is None and "cancelled" in widget.status.value
    assert not (tmp_path / "cancelled").exists()
    # the copy opens in napari like the original
    # a folder: napari asks which reader; the user picks napari-medimg
    layers = viewer.open(str(tmp_path / "copy" / "dicom"), plugin="napari-medimg")
    original = viewer.open(str(shared_data / "dicom/mr_sag_t1_siemens_hfs/dicom"), plugin="napari-medimg")
    np.testing.assert_array_equal(layers[0].data, original[0].data)
    np.testing.assert_allclose(layers[0].affine.affine_matrix, original[0].affine.affine_matrix)


def test_painted_labels_export_as_seg_and_sr_and_open_again(make_napari_viewer, qtbot, shared_data, tmp_path):
    from napari_medimg.io.measurement_report import read_measurement_sr

    source = shared_data / "dicom/ct_head_gantry_tilt_ge/dicom"
    viewer = make_napari_viewer()
    prefer_medimg_reader()
    image = viewer.open(str(source), plugin="napari-medimg")[0]  # a folder: the reader dialog's choice
    painted = np.zeros(image.data.shape, np.uint8)
    painted[10:14, 200:260, 220:300] = 2
    painted[15:18, 300:340, 200:240] = 5
    labels = viewer.add_labels(painted, name="lesions", scale=image.scale, translate=image.translate,
                               affine=image.affine, features={"index": [0, 2, 5], "name": ["", "haemorrhage", "oedema"]})
    widget = open_widget(viewer, "export_dicom_seg")
    assert widget.labels_layer.value is labels
    assert str(widget.source.value) == str(source)  # guessed from where the image was opened
    widget.output.value = tmp_path / "lesions.dcm"
    worker = widget.start(start_thread=False)
    with qtbot.waitSignal(worker.finished, timeout=120_000):
        worker.start()
    names = sorted(p.name for p in widget.written)
    assert names == ["lesions.dcm", "lesions_measurements.csv", "lesions_measurements.json", "lesions_sr.dcm"]
    objects = read_measurement_sr(tmp_path / "lesions_sr.dcm")
    voxel = float(np.prod(image.scale))
    assert [o["name"] for o in objects] == ["haemorrhage", "oedema"]
    assert objects[0]["measurements"]["Volume [mm3]"] == pytest.approx(4 * 60 * 80 * voxel, rel=1e-6)
    opened = viewer.open(str(tmp_path / "lesions.dcm"), plugin=None)[0]
    assert opened.__class__.__name__ == "Labels"
    np.testing.assert_array_equal(opened.data, painted)
    np.testing.assert_allclose(opened.scale, image.scale)
    np.testing.assert_allclose(opened.affine.affine_matrix, image.affine.affine_matrix, atol=1e-6)
    assert dict(zip(opened.features["index"], opened.features["name"]))[5] == "oedema"
