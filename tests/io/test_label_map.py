"""Class maps: JSON sidecars (flat, per task, with colours) and DICOM SEG segment labels."""

import json

import numpy as np
import pytest

from napari_medimg.io import ImageReadError
from napari_medimg.io.label_map import (
    LabelClass,
    dicom_lab_to_rgb,
    parse_label_map,
    read_label_map,
    sidecar_of,
)


def test_totalsegmentator_class_map_file_reads_its_first_task(shared_data):
    path = shared_data / "ct/totalseg_example/totalseg_class_map.json"
    classes = read_label_map(path)
    assert len(classes) == 117
    assert classes[1] == LabelClass(1, "spleen") and classes[5].name == "liver"
    assert [classes[v].name for v in range(10, 15)] == [
        "lung_upper_lobe_left", "lung_lower_lobe_left", "lung_upper_lobe_right",
        "lung_middle_lobe_right", "lung_lower_lobe_right",
    ]
    mr = read_label_map(path, task="total_mr")
    assert len(mr) == 50 and mr[1].name == "spleen"
    with pytest.raises(ImageReadError, match="no task 'nope'; it has total, total_mr"):
        read_label_map(path, task="nope")


def test_label_list_with_colours_in_both_scales():
    classes = parse_label_map(
        {"labels": [
            {"value": 2, "name": "tumour", "color": [255, 0, 0]},
            {"value": 1, "name": "oedema", "color": [0.0, 0.5, 1.0, 1.0]},
            {"value": 4, "name": "necrosis", "color": "#00ff00"},
            {"value": 3, "name": "no colour"},
        ]}
    )
    assert list(classes) == [1, 2, 3, 4]  # sorted by value
    assert classes[2].color == (1.0, 0.0, 0.0)
    assert classes[1].color == (0.0, 0.5, 1.0)
    assert classes[4].color == (0.0, 1.0, 0.0)
    assert classes[3].color is None


@pytest.mark.parametrize(
    "data, message",
    [
        ({"0": "background"}, "must be positive"),
        ({"one": "spleen"}, "is not an integer"),
        ({"labels": [{"value": 1}]}, "needs 'value' and 'name'"),
        ({"labels": [{"value": 1, "name": "x", "color": [300, 0, 0]}]}, "above 255"),
        ([1, 2], "expected a JSON object"),
        ({"1": 5}, "not a class map"),
    ],
)
def test_malformed_maps_say_what_is_wrong(data, message):
    with pytest.raises(ValueError, match=message):
        parse_label_map(data)


def test_dicom_seg_segment_labels_and_colour(shared_data):
    classes = read_label_map(shared_data / "dicom/single_files/pydicom-data__liver.dcm")
    assert list(classes) == [1] and classes[1].name == "Liver"
    # RecommendedDisplayCIELabValue [41661, 41167, 40792] is Slicer's liver colour (221, 130, 101)
    np.testing.assert_allclose(np.asarray(classes[1].color) * 255, [221, 130, 101], atol=0.5)
    with pytest.raises(ImageReadError, match="not a DICOM Segmentation"):
        read_label_map(shared_data / "dicom/single_files/pydicom__CT_small.dcm")


def test_cielab_white_and_black():
    np.testing.assert_allclose(dicom_lab_to_rgb([65535, 32896, 32896]), [1, 1, 1], atol=2e-3)
    np.testing.assert_allclose(dicom_lab_to_rgb([0, 32896, 32896]), [0, 0, 0], atol=1e-6)


def test_sidecar_has_the_same_stem(tmp_path):
    labels = tmp_path / "case_seg.nii.gz"
    labels.write_bytes(b"")
    assert sidecar_of(labels) is None
    (tmp_path / "case_seg.json").write_text(json.dumps({"1": "liver"}))
    assert sidecar_of(labels) == tmp_path / "case_seg.json"
    slicer = tmp_path / "x.seg.nrrd"
    (tmp_path / "x.json").write_text("{}")
    assert sidecar_of(slicer) == tmp_path / "x.json"
