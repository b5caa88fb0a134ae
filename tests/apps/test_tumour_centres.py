"""Brain tumour centres as points: pieces of a map to ranked centres; the shipped model on BraTS from the CLI."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from scipy import ndimage

from napari_medimg import read
from napari_medimg.apps.brain_tumour_centres import centres_of_pieces


def ball(shape, centre, radius):
    grid = np.indices(shape).astype(float)
    return ((grid - np.reshape(centre, (-1, 1, 1, 1))) ** 2).sum(0) <= radius ** 2


def test_pieces_become_centres_largest_first_with_volume_and_confidence():
    shape = (30, 40, 40)
    big, small, speck = ball(shape, (10, 12, 14), 6), ball(shape, (20, 30, 28), 3), ball(shape, (25, 5, 5), 0.5)
    unsure = np.where(big, 10, 60).astype(np.uint8)
    spacing = (2.0, 1.0, 1.0)  # 2 uL voxels
    centres, volumes, confidence = centres_of_pieces(big | small | speck, spacing, min_volume_ml=0.02, unsure=unsure)
    np.testing.assert_allclose(centres, [(10, 12, 14), (20, 30, 28)], atol=1e-9)
    np.testing.assert_allclose(volumes, [big.sum() * 0.002, small.sum() * 0.002])
    np.testing.assert_allclose(confidence, [0.9, 0.4])
    none = centres_of_pieces(np.zeros(shape, bool), spacing)
    assert none[0].shape == (0, 3) and len(none[1]) == 0


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_shipped_model_finds_the_brats_tumour_centre_from_the_command_line(shared_data, tmp_path):
    """The shipped model saw all three cases in training: this checks the tool end to end; the
    leave-one-case-out figures (a model that never saw the case) are in
    scripts/results/tumour_centres.json."""
    pytest.importorskip("torch")
    from napari_medimg.cli import main

    folder = shared_data / "mr/brats_tumour/brats_2013_pat0002_1"
    out = tmp_path / "centres.csv"
    assert main(["run", "brain_tumour_centres", str(folder / "Flair_subtrMeanDivStd.nii.gz"), str(out)]) == 0
    with open(out, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows and {"rank", "class", "confidence", "volume_ml", "diameter_mm", "z_mm", "y_mm", "x_mm"} <= set(rows[0])
    truth = read(folder / "OTMultiClass.nii.gz")
    tumour = truth.array > 0
    pieces, _ = ndimage.label(tumour, structure=np.ones((3, 3, 3)))
    largest = pieces == np.argmax(np.bincount(pieces.ravel())[1:]) + 1
    centre = truth.index_to_world(np.array(ndimage.center_of_mass(largest)))
    first = np.array([float(rows[0][k]) for k in ("z_mm", "y_mm", "x_mm")])
    assert np.linalg.norm(first - centre) < 5.0
    assert 0.0 < float(rows[0]["confidence"]) <= 1.0
    assert abs(float(rows[0]["volume_ml"]) - largest.sum() * np.prod(truth.spacing) / 1000) < 0.3 * largest.sum() / 1000
