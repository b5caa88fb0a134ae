"""Region growing: seeds land on the right voxel, known answers, agreement with ITK."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from napari_medimg.processing import region_growing as rg


def _sphere(shape, center, radius_mm, spacing):
    grids = np.ogrid[tuple(slice(0, n) for n in shape)]
    return sum(((g - c) * s) ** 2 for g, c, s in zip(grids, center, spacing)) <= radius_mm**2


def test_seed_in_numpy_order_lands_on_that_voxel():
    # three separate single-voxel islands; only the one at the seed must grow
    image = np.zeros((5, 6, 7), np.int16)
    for z, y, x in [(1, 2, 3), (3, 2, 1), (1, 4, 5)]:
        image[z, y, x] = 100
    for seed in [(1, 2, 3), (3, 2, 1), (1, 4, 5)]:
        out = rg.connected_threshold(image, [seed], lower=50, upper=150, spacing=(2.0, 1.0, 0.5))
        assert out.dtype == np.uint8
        assert np.argwhere(out).tolist() == [list(seed)]
    # fast marching too: the earliest voxel is the seed
    out = rg.fast_marching(image.astype(np.float32), [(3, 2, 1)], volume_ml=1e-6, spacing=(1.0, 1.0, 1.0))
    assert np.argwhere(out).tolist() == [[3, 2, 1]]


def test_seed_validation():
    image = np.zeros((4, 4, 4), np.float32)
    with pytest.raises(ValueError, match="outside the image"):
        rg.connected_threshold(image, [(4, 0, 0)], lower=0, upper=1)
    with pytest.raises(ValueError, match="3 axes"):
        rg.connected_threshold(image, [(1, 1)], lower=0, upper=1)
    with pytest.raises(ValueError, match="at least one seed"):
        rg.connected_threshold(image, np.zeros((0, 3)), lower=0, upper=1)
    with pytest.raises(ValueError, match="mask is empty"):
        rg.connected_threshold(image, [(1, 1, 1)], lower=0, upper=1, mask=np.zeros((4, 4, 4)))
    assert rg.seed_indices((1.4, 2.6, 0.0), (4, 4, 4)).tolist() == [[1, 3, 0]]


@pytest.fixture(scope="module")
def noisy_sphere():
    rng = np.random.default_rng(0)
    spacing = (2.0, 1.0, 1.0)
    truth = _sphere((24, 48, 48), (12, 24, 24), 15.0, spacing)
    image = np.where(truth, 200.0, 100.0) + rng.normal(0, 10, truth.shape)
    image[~truth & (np.indices(truth.shape)[2] < 3)] = 195  # a bright slab elsewhere, not connected
    return image.astype(np.float32), truth, spacing


def test_connected_threshold_estimated_range_and_mask(noisy_sphere):
    image, truth, spacing = noisy_sphere
    out = rg.connected_threshold(image, [(12, 24, 24)], multiplier=3.0, radius=5.0, spacing=spacing)
    dice = 2 * (out & truth).sum() / (out.sum() + truth.sum())
    assert dice > 0.99
    assert out[:, :, :3].sum() == 0  # the bright slab is not connected
    lower_half = np.zeros(truth.shape, bool)
    lower_half[:12] = True
    masked = rg.connected_threshold(image, [(11, 24, 24)], multiplier=3.0, spacing=spacing, mask=lower_half)
    assert masked[12:].sum() == 0 and masked.sum() > 0.45 * truth.sum()
    # NaNs never join
    with_nan = image.copy()
    with_nan[12, 24, 30] = np.nan
    grown = rg.connected_threshold(with_nan, [(12, 24, 24)], lower=150, upper=250, fill_holes=False, spacing=spacing)
    assert grown[12, 24, 30] == 0 and grown.sum() == truth.sum() - 1


@pytest.mark.parametrize("dtype", [np.int16, np.float32])
def test_connected_threshold_is_itks_region(shared_data, dtype):
    """The flood fill grows exactly ITK's ConnectedThreshold region on a real CT (several
    seeds, one out of range; fractional bounds on integers; NaNs never join)."""
    from napari_medimg import read

    ct = read(shared_data / "ct/pyradiomics_lung1/lung1_image.nrrd").array[18:30].astype(dtype)
    if dtype == np.float32:
        ct[5, 200:260, 100:300] = np.nan  # a stripe of missing values through the lung
    seeds = [(6, 256, 150), (3, 300, 380), (9, 20, 20)]  # right lung, left lung, air outside the body
    lower, upper = -1000.4, -399.6
    ours = rg.connected_threshold(ct, seeds, lower=lower, upper=upper, fill_holes=False)
    image = sitk.GetImageFromArray(np.nan_to_num(ct, nan=1e9))
    itk = sitk.GetArrayFromImage(
        sitk.ConnectedThreshold(image, seedList=[s[::-1] for s in seeds], lower=-1000.0 if dtype == np.int16 else lower,
                                upper=-400.0 if dtype == np.int16 else upper, replaceValue=1)
    )
    assert ours.sum() > 100_000
    np.testing.assert_array_equal(ours, itk)
    filled = rg.connected_threshold(ct, seeds, lower=lower, upper=upper)  # default: holes filled
    assert np.all(filled[itk == 1] == 1) and filled.sum() > ours.sum()


def test_integer_bounds_are_rounded_inwards_not_truncated():
    image = np.array([[[10, 11, 12, 13]]], np.int16)
    out = rg.connected_threshold(image, [(0, 0, 1)], lower=10.5, upper=12.9, fill_holes=False)
    assert out.tolist() == [[[0, 1, 1, 0]]]
    out = rg.connected_threshold(image, [(0, 0, 1)], lower=-1e9, upper=np.inf, fill_holes=False)
    assert out.sum() == 4


@pytest.mark.parametrize("stop", [{"volume_ml": 4.0}, {"volume_ml": 150.0}, {"arrival_time": 12.0}])
def test_fast_marching_in_a_box_around_the_seeds_equals_the_whole_image(shared_data, monkeypatch, stop):
    """The front reaches only what lies within its travel time of a seed: marching in that
    box (plus the gradient kernel's reach) gives the whole image's region (brain1 MR tumour)."""
    from scipy import ndimage

    from napari_medimg import read

    image = read(shared_data / "mr/pyradiomics/brain1_image.nrrd")
    label = read(shared_data / "mr/pyradiomics/brain1_label.nrrd").array > 0
    seed = np.unravel_index(np.argmax(ndimage.distance_transform_edt(label)), label.shape)
    boxed = rg.fast_marching(image.array, [seed], spacing=image.spacing, **stop)
    monkeypatch.setattr(rg, "_box_of_seeds", lambda index, reach, spacing, shape: tuple(slice(0, n) for n in shape))
    whole = rg.fast_marching(image.array, [seed], spacing=image.spacing, **stop)
    assert whole.sum() > 100
    assert np.count_nonzero(boxed != whole) <= 0.001 * whole.sum()  # identical up to the gradient filter's border


def test_a_click_in_a_tumours_dark_core_never_floods(shared_data):
    """BraTS FLAIR case 2 with the region-growing widget's defaults: from the deepest tumour
    voxel the tumour grows (Dice 0.76); from the darkest one the estimated range holds the
    whole brain (97 % of it) and the run is refused with the figure, not returned."""
    from scipy import ndimage

    from napari_medimg import read
    from napari_medimg.operations import get_operation

    case = shared_data / "mr/brats_tumour/brats_2013_pat0002_1"
    flair = read(case / "Flair_subtrMeanDivStd.nii.gz")
    tumour = read(case / "OTMultiClass.nii.gz").array > 0
    defaults = {p.name: p.default for p in get_operation("region_grow").parameters if not p.is_layer}
    deepest = np.unravel_index(np.argmax(ndimage.distance_transform_edt(tumour)), tumour.shape)
    grown = rg.connected_threshold(flair.array, [deepest], spacing=flair.spacing, **defaults) > 0
    assert 2 * np.count_nonzero(grown & tumour) / (grown.sum() + tumour.sum()) > 0.72  # 0.759 measured
    darkest = np.unravel_index(np.argmin(np.where(tumour, flair.array, np.inf)), tumour.shape)
    with pytest.raises(ValueError, match=r"leaked: it holds 9\d % of the body"):
        rg.connected_threshold(flair.array, [darkest], spacing=flair.spacing, **defaults)


def test_a_seed_outside_its_range_is_an_error_not_an_empty_mask():
    image = np.array([[[10, 11, 12, 13]]], np.int16)
    with pytest.raises(ValueError, match=r"nothing grew: no seed's value \(10\) lies within the range \[11, 12\]"):
        rg.connected_threshold(image, [(0, 0, 0)], lower=11, upper=12)


def test_confidence_connected_agrees_with_itk_on_isotropic_voxels(noisy_sphere):
    image, truth, _ = noisy_sphere
    image = image[::2].copy()  # roughly isotropic 1 mm voxels for the comparison
    spacing = (1.0, 1.0, 1.0)
    seed = (6, 24, 24)
    ours = rg.confidence_connected(image, [seed], multiplier=2.5, iterations=3, radius=2.0, spacing=spacing, fill_holes=False)
    itk = sitk.GetArrayFromImage(
        sitk.ConfidenceConnected(
            sitk.GetImageFromArray(image), seedList=[seed[::-1]], numberOfIterations=3, multiplier=2.5,
            initialNeighborhoodRadius=2, replaceValue=1,
        )
    )
    dice = 2 * (ours & itk).sum() / (ours.sum() + itk.sum())
    assert dice > 0.995


def test_confidence_connected_keeps_last_region_when_range_drifts(noisy_sphere):
    image, truth, spacing = noisy_sphere
    out = rg.confidence_connected(image, [(12, 24, 24)], multiplier=2.5, iterations=10, spacing=spacing)
    assert 2 * (out & truth).sum() / (out.sum() + truth.sum()) > 0.98


def test_fast_marching_stops_at_volume_and_at_edges(noisy_sphere):
    image, truth, spacing = noisy_sphere
    true_ml = truth.sum() * np.prod(spacing) / 1000
    out = rg.fast_marching(image, [(12, 24, 24)], sigma=1.5, volume_ml=true_ml, spacing=spacing, fill_holes=False)
    assert abs(out.sum() - truth.sum()) <= 0.02 * truth.sum()
    assert 2 * (out & truth).sum() / (out.sum() + truth.sum()) > 0.95
    small = rg.fast_marching(image, [(12, 24, 24)], sigma=1.5, arrival_time=5.0, spacing=spacing)
    assert 0 < small.sum() < out.sum() and small[12, 24, 24] == 1
    with pytest.raises(ValueError, match="exactly one"):
        rg.fast_marching(image, [(12, 24, 24)], spacing=spacing)


def test_smoothing_and_leak_cutting(noisy_sphere):
    image, truth, spacing = noisy_sphere
    leaky = image.copy()
    leaky[12, 24, 39:46] = 200  # a one-voxel bridge to a bright blob
    leaky[10:15, 20:29, 44:48] = 200
    grown = rg.connected_threshold(leaky, [(12, 24, 24)], lower=150, upper=250, spacing=spacing)
    assert grown[12, 24, 46] == 1
    cut = rg.connected_threshold(leaky, [(12, 24, 24)], lower=150, upper=250, spacing=spacing, opening=2.0)
    assert cut[12, 24, 46] == 0 and cut[10:15, 20:29, 44:48].sum() == 0
    assert 2 * (cut & truth).sum() / (cut.sum() + truth.sum()) > 0.99
    smooth = rg.connected_threshold(image, [(12, 24, 24)], lower=150, upper=250, spacing=spacing, smoothing=1.0)
    assert 2 * (smooth & truth).sum() / (smooth.sum() + truth.sum()) > 0.98


def test_connected_threshold_memory_within_input_output_and_one_working_copy():
    """A region spanning the whole image (lung1's air and lungs are like this): the numpy
    memory at the peak stays below input + output + one working copy of the input."""
    import tracemalloc

    rng = np.random.default_rng(0)
    image = rng.normal(-800, 60, (24, 256, 256)).astype(np.int16)
    image[:, 100:150, 100:150] = 40  # an island outside the range: a hole in each slice
    rg.connected_threshold(image[:2], [(0, 0, 0)], lower=-1024, upper=-400)  # imports are not the filter's memory
    tracemalloc.start()
    try:
        out = rg.connected_threshold(image, [(0, 0, 0)], lower=-1024, upper=-400, spacing=(2.5, 0.7, 0.7))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert out.dtype == np.uint8 and out[:, 120, 120].all()  # the island was filled as a hole
    assert peak < 2 * image.nbytes + out.nbytes, f"peak {peak / 2**20:.1f} MB"
