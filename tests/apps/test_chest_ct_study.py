"""The chest CT study recipe: right and left lung against TotalSegmentator, volumes and emphysema by hand, report."""

from __future__ import annotations

import json

import numpy as np
from scipy import ndimage

from napari_medimg import read
from napari_medimg.operations import run_operation
from napari_medimg.pipeline import find_cases, load_workflow, run_batch


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return float(2 * (a & b).sum() / (a.sum() + b.sum()))


def test_right_and_left_lung_against_totalsegmentator(shared_data):
    ct = read(shared_data / "ct/totalseg_example/example_ct_sm.nii.gz")  # rows and columns flipped on disk
    seg = read(shared_data / "ct/totalseg_example/example_seg.nii.gz").array
    lungs = run_operation("chest_ct_lungs_left_right", ct)
    assert lungs.direction.tolist() == ct.direction.tolist() and lungs.array.shape == ct.array.shape
    right, left = np.isin(seg, (12, 13, 14)), np.isin(seg, (10, 11))
    assert dice(lungs.array == 1, right) > 0.95  # measured 0.968
    assert dice(lungs.array == 2, left) > 0.95  # measured 0.959
    assert [c["name"] for c in lungs.metadata["classes"]] == ["right lung", "left lung"]
    import pytest

    from napari_medimg.operations import get_operation
    from napari_medimg.progress import OperationCancelled

    asked = []  # a cancel asked during the run stops it at the next step
    with pytest.raises(OperationCancelled):
        get_operation("chest_ct_lungs_left_right").run(ct, progress=asked.append, cancel=lambda: bool(asked))
    assert asked == [0.6]


def test_airways_removed_and_the_lungs_parted(shared_data):
    ct = read(shared_data / "ct/pyradiomics_lung1/lung1_image.nrrd")  # chest CT with the trachea
    both = run_operation("chest_ct_lungs", ct).array != 0
    lungs = run_operation("chest_ct_lungs_left_right", ct).array
    top = 38  # lung1, 3 cm below the apices: the trachea is air in the middle, between the lungs
    trachea = both[top] & (ct.array[top] < -900) & (lungs[top] == 0)
    pieces, n = ndimage.label(trachea)
    sizes = np.bincount(pieces.ravel())[1:] * ct.spacing[1] * ct.spacing[2]
    assert n >= 1 and 80 < sizes.max() < 700  # a trachea-sized section (mm²) left out of the lungs
    columns = np.nonzero(lungs == 1)[2].mean(), np.nonzero(lungs == 2)[2].mean()
    assert columns[0] < columns[1]  # LPS-axis volume: the right lung has the smaller x
    contact = np.count_nonzero((lungs == 1) & ndimage.binary_dilation(lungs == 2))
    assert contact < 0.001 * np.count_nonzero(lungs == 2)  # parted at a thin junction only (measured 15 voxels)


def test_recipe_figures_equal_hand_counts_and_batch_writes_a_report(shared_data, tmp_path):
    recipe = load_workflow("chest_ct_study")
    source = shared_data / "ct/totalseg_example/example_ct_sm.nii.gz"
    result = recipe.run(source)
    ct, lungs, table = result.image, result.volumes["lungs"].array, result.tables["lung_table"]
    smoothed = run_operation("gaussian", ct, sigma=1.0).array
    voxel_ml = float(np.prod(ct.spacing)) / 1000
    for row, value in enumerate(table["label"]):
        inside = lungs == value
        assert table["volume_ml"][row] == np.count_nonzero(inside) * voxel_ml
        by_hand = 100.0 * np.count_nonzero(smoothed[inside] < -950) / np.count_nonzero(inside)
        assert abs(table["percent_below_-950"][row] - by_hand) < 1e-9  # the emphysema index
    nodules = result.tables["nodules"]
    assert len(nodules["diameter_mm"]) and np.all(nodules["diameter_mm"] >= 5)
    folder = tmp_path / "cases"
    folder.mkdir()
    (folder / source.name).symlink_to(source)
    manifest = run_batch(recipe, find_cases(folder), tmp_path / "out", workers=1, say=lambda _: None)
    case = manifest["cases"][0]
    assert case["status"] == "done" and {"lungs", "lung_table", "nodules", "report"} <= set(case["outputs"])
    page = (tmp_path / "out" / case["outputs"]["report"]["path"]).read_text()
    assert "Chest CT study" in page and "right lung" in page and "percent_below_-950" in page
    assert "validated" in page and "data:image/png;base64," in page and source.name not in page  # no file name
    picture = read(tmp_path / "out" / case["id"] / "report.png")
    assert picture.rgb and picture.array.shape[1] >= 400
    record = json.loads((tmp_path / "out" / case["id"] / "case.json").read_text())
    assert record["outputs"]["report"]["sha256"]
