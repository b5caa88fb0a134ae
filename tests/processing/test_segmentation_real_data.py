"""Classical segmentation on real data, against human (or reference) labels.

Bounds are the measured Dice minus a small slack; the measured values are in the
comments. Data are read in place from ../shared/data (not copied: BraTS and most CXR
images are non-commercial).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from napari_medimg import read
from napari_medimg.processing.region_growing import connected_threshold

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
assert DATA.is_dir(), f"the shared real data is expected at {DATA}"


def dice(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a != 0, b != 0
    return float(2 * (a & b).sum() / (a.sum() + b.sum()))


def deepest_voxel(label: np.ndarray, spacing) -> tuple[int, ...]:
    """The voxel of the label farthest (mm) from its border: where a user would click."""
    box = tuple(slice(max(0, b.start - 1), b.stop + 1) for b in ndimage.find_objects(label.astype(np.uint8))[0])
    distance = ndimage.distance_transform_edt(label[box], sampling=spacing)
    index = np.unravel_index(np.argmax(distance), distance.shape)
    return tuple(int(i + b.start) for i, b in zip(index, box))


# one parameter set for every case: a bright lesion grown from one click,
# range [mean - 2 std, +inf) of a 5 mm ball around the click, 1 mm gaussian pre-smoothing
GROW = dict(multiplier=2.0, upper=np.inf, radius=5.0, sigma=1.0)


def test_brain1_tumour_from_one_seed():
    image = read(DATA / "mr/pyradiomics/brain1_image.nrrd")
    label = read(DATA / "mr/pyradiomics/brain1_label.nrrd").array > 0
    seed = deepest_voxel(label, image.spacing)
    grown = connected_threshold(image.array, [seed], spacing=image.spacing, **GROW)
    assert dice(grown, label) > 0.72  # measured 0.749 (T1 post-contrast, 6.5 mm slices)


@pytest.mark.parametrize("case,expected", [("0001", 0.863), ("0002", 0.823), ("0003", 0.739)])
def test_brats_whole_tumour_on_flair_from_one_seed(case, expected):
    folder = DATA / f"mr/brats_tumour/brats_2013_pat{case}_1"
    flair = read(folder / "Flair_subtrMeanDivStd.nii.gz")
    whole_tumour = read(folder / "OTMultiClass.nii.gz").array > 0
    seed = deepest_voxel(whole_tumour, flair.spacing)
    grown = connected_threshold(flair.array, [seed], spacing=flair.spacing, **GROW)
    assert dice(grown, whole_tumour) > expected - 0.03
