"""A labels file says so in its header, and label files of other tools are recognised."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from napari_medimg import Volume, read, write


@pytest.mark.parametrize("extension", [".nii.gz", ".nii", ".nrrd", ".mha"])
def test_labels_written_by_the_plugin_read_back_as_labels(tmp_path, extension):
    labels = Volume(np.eye(4, dtype=np.uint8)[None].repeat(3, 0), (2.0, 1.0, 1.0), (0.0, 0.0, 0.0), np.eye(3), {"kind": "labels"})
    image = Volume(np.ones((3, 4, 4), np.int16), (2.0, 1.0, 1.0), (0.0, 0.0, 0.0), np.eye(3))
    write(labels, tmp_path / f"a{extension}")
    write(image, tmp_path / f"b{extension}")
    assert read(tmp_path / f"a{extension}").metadata["kind"] == "labels"
    assert read(tmp_path / f"b{extension}").metadata.get("kind") != "labels"


def test_slicer_segmentation_and_nifti_label_intent_are_labels(tmp_path):
    image = sitk.GetImageFromArray(np.zeros((3, 4, 5), np.uint8))
    image.SetMetaData("Segment0_ID", "Segment_1")
    image.SetMetaData("Segment0_Name", "tumour")
    sitk.WriteImage(image, str(tmp_path / "case.seg.nrrd"))
    assert read(tmp_path / "case.seg.nrrd").metadata["kind"] == "labels"
    nibabel = pytest.importorskip("nibabel")
    header = nibabel.Nifti1Header()
    header.set_intent("label")
    nibabel.save(nibabel.Nifti1Image(np.zeros((5, 4, 3), np.uint8), np.eye(4), header), tmp_path / "fs.nii.gz")
    assert read(tmp_path / "fs.nii.gz").metadata["kind"] == "labels"
