"""Brain tumour on FLAIR from one click: never floods, a dark core still finds the tumour (BraTS, 3 cases)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from napari_medimg import read
from napari_medimg.apps.brain_mr import tumour_from_click
from napari_medimg.cli import main


def dice(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a != 0, b != 0
    return float(2 * (a & b).sum() / (a.sum() + b.sum()))


def _case(shared_data, case: str):
    folder = shared_data / f"mr/brats_tumour/brats_2013_pat{case}_1"
    flair = read(folder / "Flair_subtrMeanDivStd.nii.gz")
    tumour = read(folder / "OTMultiClass.nii.gz").array > 0
    deepest = np.unravel_index(np.argmax(ndimage.distance_transform_edt(tumour, sampling=flair.spacing)), tumour.shape)
    darkest = np.unravel_index(np.argmin(np.where(tumour, flair.array, np.inf)), tumour.shape)
    return flair, tumour, deepest, darkest


@pytest.mark.parametrize("case,measured", [("0001", 0.865), ("0002", 0.906), ("0003", 0.918)])
def test_whole_tumour_from_the_deepest_and_from_the_darkest_voxel(shared_data, case, measured):
    flair, tumour, deepest, darkest = _case(shared_data, case)
    assert flair.array[darkest] < np.median(flair.array[tumour]) - 3  # a necrotic / background-dark click
    for click in (deepest, darkest):
        grown = tumour_from_click(flair.array, [click], spacing=flair.spacing)
        assert dice(grown, tumour) > 0.85 and abs(dice(grown, tumour) - measured) < 0.01
        assert grown.sum() < 3 * tumour.sum()  # no flood


def _seeds_csv(path, flair, voxel):
    path.write_text("z,y,x\n" + ",".join(f"{v:.4f}" for v in flair.index_to_world(voxel)) + "\n")
    return path


def test_region_grow_with_defaults_never_floods_a_flair(shared_data, tmp_path, capsys):
    """Contract: `run region_grow IMAGE OUT --seeds` with default parameters, seed in the tumour, never floods."""
    flair, tumour, deepest, darkest = _case(shared_data, "0001")
    image = shared_data / "mr/brats_tumour/brats_2013_pat0001_1/Flair_subtrMeanDivStd.nii.gz"
    out = tmp_path / "grown.nii.gz"
    assert main(["run", "region_grow", str(image), str(out), "--seeds", str(_seeds_csv(tmp_path / "deep.csv", flair, deepest))]) == 0
    grown = read(out).array
    assert 0.7 < dice(grown, tumour) and grown.sum() < 2 * tumour.sum()  # measured 0.863
    dark_out = tmp_path / "dark.nii.gz"
    assert main(["run", "region_grow", str(image), str(dark_out), "--seeds", str(_seeds_csv(tmp_path / "dark.csv", flair, darkest))]) == 1
    message = capsys.readouterr().err
    assert "leaked" in message and "mL" in message and not dark_out.exists()  # told, and nothing written
    # the tumour tool from the command line finds it from that same dark click
    assert main(["run", "brain_tumour_from_click", str(image), str(dark_out), "--seeds", str(tmp_path / "dark.csv")]) == 0
    assert dice(read(dark_out).array, tumour) > 0.85


def test_brain_tumour_study_recipe_on_the_flair_as_stored(shared_data, tmp_path):
    """The shipped U-Net on the FLAIR file as BraTS stores it (z-scored, background -3.2, not 0)."""
    from napari_medimg.pipeline import find_cases, load_workflow, run_batch

    flair, tumour, _, _ = _case(shared_data, "0002")
    recipe = load_workflow("brain_tumour_study")
    source = shared_data / "mr/brats_tumour/brats_2013_pat0002_1/Flair_subtrMeanDivStd.nii.gz"
    folder = tmp_path / "cases"
    folder.mkdir()
    (folder / "flair.nii.gz").symlink_to(source)
    manifest = run_batch(recipe, find_cases(folder), tmp_path / "out", workers=1, say=lambda _: None)
    case = manifest["cases"][0]
    assert case["status"] == "done", case.get("error")
    predicted = read(tmp_path / "out" / case["outputs"]["tumour"]["path"]).array > 0
    # a training case of the shipped model (its validation is the leave-one-out figure in its card):
    # this checks the input path, which once took the whole brain (1343 mL) for tumour
    assert dice(predicted, tumour) > 0.8 and predicted.sum() < 1.5 * tumour.sum()
    page = (tmp_path / "out" / case["outputs"]["report"]["path"]).read_text()
    assert "Brain tumour MRI study" in page and "original_glcm_Contrast" in page and "0.879" in page
