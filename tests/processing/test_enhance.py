"""Known answers for intensity enhancement (processing/enhance.py)."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import exposure

from napari_medimg import read
from napari_medimg.processing import enhance as E
from napari_medimg.processing.denoise import gaussian
from napari_medimg.progress import OperationCancelled

DTYPES = [np.uint8, np.int16, np.float32, np.float64]


def expected_dtype(dtype) -> np.dtype:
    return np.dtype(np.float64 if dtype == np.float64 else np.float32)


def ramp(dtype, shape=(6, 20, 24), seed=0) -> np.ndarray:
    """Noisy values in 0..200 (fits every tested dtype)."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 201, shape).astype(dtype)


# ----------------------------------------------------------------------------- presets / windows
def test_presets_have_the_published_values():
    assert E.WINDOW_PRESETS["lung"] == (-600, 1500)
    assert E.WINDOW_PRESETS["mediastinum"] == E.WINDOW_PRESETS["soft_tissue"] == (40, 400)
    assert E.WINDOW_PRESETS["bone"] == (400, 1800)
    assert E.WINDOW_PRESETS["brain"] == (40, 80)
    assert E.WINDOW_PRESETS["stroke"] == (40, 40)
    assert E.WINDOW_PRESETS["stroke_narrow"] == (32, 8)
    assert E.WINDOW_PRESETS["liver"] == (60, 160)
    assert E.WINDOW_PRESETS["abdomen"] == (40, 350)
    assert all(width > 0 for _, width in E.WINDOW_PRESETS.values())


@pytest.mark.parametrize("dtype", [np.int16, np.float32, np.float64])
def test_window_preset_known_values(dtype):
    hu = np.array([-1000, -600, 0, 150, 2000], dtype=dtype)
    out = E.window_preset(hu, preset="lung")  # [-1350, 150] -> [0, 1]
    np.testing.assert_allclose(out, [350 / 1500, 0.5, 0.9, 1.0, 1.0], rtol=1e-6)
    assert out.dtype == expected_dtype(dtype)
    np.testing.assert_allclose(E.window_preset(hu, preset="brain"), [0, 0, 0, 1, 1])
    with pytest.raises(ValueError, match="choose one of lung"):
        E.window_preset(hu, preset="lungs")


def test_window_keeps_nan_and_rejects_bad_width():
    out = E.window(np.array([np.nan, 40.0], np.float32), center=40, width=10)
    assert np.isnan(out[0]) and out[1] == 0.5
    with pytest.raises(ValueError, match="width must be positive"):
        E.window(np.zeros(3), center=0, width=0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_auto_window_matches_numpy_percentiles(dtype):
    values = ramp(dtype)
    center, width = E.auto_window(values, lower_percentile=0.5, upper_percentile=99.5)
    low, high = np.percentile(values, [0.5, 99.5])
    assert center == pytest.approx((low + high) / 2, rel=1e-9)
    assert width == pytest.approx(high - low, rel=1e-9)
    out = E.percentile_window(values)
    assert out.dtype == expected_dtype(dtype)
    np.testing.assert_allclose(out, np.clip((values - low) / (high - low), 0, 1), atol=1e-6)


def test_int16_percentiles_are_exact_for_negative_values():
    values = np.random.default_rng(3).integers(-1024, 3000, 10001).astype(np.int16)
    for q in ([0.5, 99.5], [2, 98], [0, 100], [33.3, 66.7]):
        np.testing.assert_allclose(E._percentiles(values, q), np.percentile(values, q), rtol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
def test_contrast_stretch_maps_percentiles_to_0_and_1(dtype):
    values = np.arange(101).astype(dtype)
    out = E.contrast_stretch(values)  # 2nd and 98th percentiles are 2 and 98
    assert out.dtype == expected_dtype(dtype)
    np.testing.assert_allclose(out[[0, 2, 50, 98, 100]], [0, 0, 0.5, 1, 1], atol=1e-6)
    reference = exposure.rescale_intensity(
        values.astype(np.float64), in_range=(2.0, 98.0), out_range=(0.0, 1.0)
    )
    np.testing.assert_allclose(out, reference, atol=1e-6)


def test_percentiles_ignore_nan_and_keep_it():
    values = np.arange(101, dtype=np.float32)
    with_nan = np.concatenate([values, np.full(50, np.nan, np.float32)])
    assert E.auto_window(with_nan, lower_percentile=10, upper_percentile=90) == pytest.approx((50.0, 80.0))
    out = E.contrast_stretch(with_nan)
    assert np.isnan(out[101:]).all() and np.isfinite(out[:101]).all()


def test_degenerate_input_raises_clear_errors():
    with pytest.raises(ValueError, match="constant"):
        E.auto_window(np.full((4, 4), 7, np.int16))
    with pytest.raises(ValueError, match="widen the percentiles"):
        E.contrast_stretch(np.r_[np.zeros(100), 1.0].astype(np.float32))
    with pytest.raises(ValueError, match="empty"):
        E.percentile_window(np.zeros((0, 3), np.float32))
    with pytest.raises(ValueError, match="all NaN"):
        E.log_transform(np.full(5, np.nan))
    with pytest.raises(ValueError, match="infinite"):
        E.gamma(np.array([0.0, np.inf]))
    with pytest.raises(ValueError, match="0 <= lower < upper <= 100"):
        E.auto_window(np.arange(5), lower_percentile=60, upper_percentile=40)
    for function in (E.log_transform, E.gamma, E.equalize_histogram, E.clahe):
        with pytest.raises(ValueError, match="constant"):
            function(np.full((8, 8), 3.0, np.float32))


# ----------------------------------------------------------------------------- point transforms
@pytest.mark.parametrize("dtype", DTYPES)
def test_log_transform_formula(dtype):
    values = np.array([10, 11, 13, 17, 25, 41], dtype=dtype)  # x - min = 0, 1, 3, 7, 15, 31
    out = E.log_transform(values)
    assert out.dtype == expected_dtype(dtype)
    np.testing.assert_allclose(out, np.log1p(values - 10.0) / np.log1p(31.0), rtol=1e-6)
    np.testing.assert_allclose(out, [0, 0.2, 0.4, 0.6, 0.8, 1.0], atol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("exponent", [0.5, 1.0, 2.2])
def test_gamma_on_min_max_normalised_values(dtype, exponent):
    values = np.array([20, 40, 70, 120], dtype=dtype)  # normalised: 0, 0.2, 0.5, 1
    out = E.gamma(values, gamma=exponent)
    assert out.dtype == expected_dtype(dtype)
    np.testing.assert_allclose(out, np.array([0, 0.2, 0.5, 1.0]) ** exponent, rtol=1e-6)
    with pytest.raises(ValueError, match="gamma must be positive"):
        E.gamma(values, gamma=0)


def test_point_transforms_keep_nan():
    values = np.array([np.nan, 0.0, 3.0, 15.0], np.float32)
    for out in (E.log_transform(values), E.gamma(values, gamma=0.5)):
        assert np.isnan(out[0])
        np.testing.assert_allclose(out[[1, 3]], [0, 1])


# ----------------------------------------------------------------------------- histogram equalization
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_equalize_histogram_matches_skimage_on_float(dtype):
    values = np.random.default_rng(1).normal(0, 300, (9, 40, 37)).astype(dtype)
    out = E.equalize_histogram(values, bins=64)
    assert out.dtype == expected_dtype(dtype)
    np.testing.assert_allclose(out, exposure.equalize_hist(values, nbins=64), atol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
def test_equalize_histogram_uses_bins_for_every_dtype(dtype):
    values = ramp(dtype)
    out = E.equalize_histogram(values, bins=32)
    assert out.dtype == expected_dtype(dtype)
    reference = exposure.equalize_hist(values.astype(np.float64), nbins=32)
    np.testing.assert_allclose(out, reference, atol=1e-6)
    # uniform data -> output roughly uniform
    assert abs(float(np.median(out)) - 0.5) < 0.05


def test_equalize_histogram_mask_nan_and_progress():
    values = np.random.default_rng(2).normal(0, 1, (6, 30, 30)).astype(np.float32)
    mask = np.zeros(values.shape, bool)
    mask[:, :15] = True
    np.testing.assert_allclose(
        E.equalize_histogram(values, mask=mask), exposure.equalize_hist(values, mask=mask), atol=1e-6
    )
    with_nan = values.copy()
    with_nan[0, 0, :5] = np.nan
    out = E.equalize_histogram(with_nan)
    assert np.isnan(out[0, 0, :5]).all() and np.isfinite(out[0, 0, 5:]).all()
    finite = np.isfinite(with_nan)
    np.testing.assert_allclose(out[finite], exposure.equalize_hist(with_nan, mask=finite)[finite], atol=1e-6)
    seen: list[float] = []
    E.equalize_histogram(values, progress=seen.append)
    assert seen[-1] == 1.0 and seen == sorted(seen)
    with pytest.raises(OperationCancelled):
        E.equalize_histogram(values, cancel=lambda: True)
    with pytest.raises(ValueError, match="mask is empty"):
        E.equalize_histogram(values, mask=np.zeros(values.shape, bool))


# ----------------------------------------------------------------------------- CLAHE
def test_clahe_kernel_is_converted_from_mm_per_axis():
    assert E.clahe_kernel_voxels((40, 512, 512), kernel_size=50.0, spacing=(5.0, 0.7, 0.7)) == (10, 71, 71)
    assert E.clahe_kernel_voxels((40, 512, 512), kernel_size=50.0) == (40, 50, 50)  # 1 mm, capped at the axis
    assert E.clahe_kernel_voxels((3, 100, 80), kernel_size=0.5, spacing=(5.0, 0.5, 0.5)) == (1, 1, 1)
    assert E.clahe_kernel_voxels((40, 512, 256)) == (5, 64, 32)  # skimage's default, 1/8 per axis


@pytest.mark.parametrize("dtype", DTYPES)
def test_clahe_3d_equals_skimage_with_the_voxel_kernel(dtype):
    values = ramp(dtype, shape=(23, 30, 28), seed=4)
    spacing = (2.5, 0.5, 0.5)
    out = E.clahe(values, kernel_size=5.0, spacing=spacing, clip_limit=0.02, bins=128)
    assert out.dtype == expected_dtype(dtype)
    kernel = (2, 10, 10)  # 5 mm / (2.5, 0.5, 0.5) mm: thinner along the thick slices
    unit = (values - values.min()) / np.ptp(values).astype(expected_dtype(dtype))
    reference = exposure.equalize_adapthist(
        unit.astype(expected_dtype(dtype)), kernel_size=kernel, clip_limit=0.02, nbins=128
    )
    np.testing.assert_array_equal(out, reference)  # slab-wise processing is exact


def test_clahe_does_not_clip_negative_hu():
    # skimage alone would clip negative int16 to 0 (img_as_uint); here air and fat stay distinct
    hu = np.random.default_rng(5).choice(np.array([-1000, -100, 40, 700], np.int16), (40, 40))
    out = E.clahe(hu, kernel_size=10.0)
    assert out.dtype == np.float32
    assert out[hu == -1000].max() < out[hu == -100].min()


def test_clahe_per_slice_equals_skimage_on_each_slice_and_reports():
    values = ramp(np.int16, shape=(5, 32, 30), seed=6)
    values[2] = 100  # a constant slice (e.g. padding) becomes 0
    seen: list[float] = []
    out = E.clahe(values, kernel_size=8.0, spacing=(5.0, 1.0, 2.0), per_slice=True, progress=seen.append)
    unit = ((values - values.min()) / np.float32(np.ptp(values))).astype(np.float32)
    for index in (0, 1, 3, 4):
        reference = exposure.equalize_adapthist(unit[index], kernel_size=(8, 4))
        np.testing.assert_array_equal(out[index], reference)
    assert (out[2] == 0).all()
    assert len(seen) >= 5 and seen[-1] == 1.0
    with pytest.raises(OperationCancelled):
        E.clahe(values, per_slice=True, cancel=lambda: True)


def test_clahe_2d_keeps_nan_and_checks_spacing():
    image = np.random.default_rng(7).random((40, 40)).astype(np.float32)
    image[:3, :3] = np.nan
    out = E.clahe(image, kernel_size=10.0, spacing=(1.0, 1.0))
    assert np.isnan(out[:3, :3]).all() and np.isfinite(out[3:]).all()
    with pytest.raises(ValueError, match="one spacing per axis"):
        E.clahe(image, spacing=(1.0, 1.0, 1.0))


def test_clahe_increases_local_contrast_of_a_radiograph(shared_data):
    image = read(shared_data / "xray" / "cxr_lungs_montgomery" / "images" / "1.jpg").array
    out = E.clahe(image, kernel_size=64.0)
    unit = image / 255.0
    # local contrast: mean standard deviation over 32 x 32 tiles
    def local_std(a):
        h, w = (s // 32 * 32 for s in a.shape)
        return a[:h, :w].reshape(h // 32, 32, w // 32, 32).std(axis=(1, 3)).mean()

    assert out.dtype == np.float32 and out.shape == image.shape
    assert local_std(out) > 1.3 * local_std(unit)


# ----------------------------------------------------------------------------- unsharp mask
@pytest.mark.parametrize("dtype", DTYPES)
def test_unsharp_mask_formula_in_image_units(dtype):
    values = ramp(dtype, shape=(12, 20, 18), seed=8)
    spacing = (3.0, 0.6, 0.6)
    out = E.unsharp_mask(values, radius=1.5, amount=0.7, spacing=spacing)
    assert out.dtype == expected_dtype(dtype)
    blurred = gaussian(values, sigma=1.5, spacing=spacing)
    np.testing.assert_allclose(out, values + 0.7 * (values - blurred), rtol=1e-5, atol=1e-4)


def test_unsharp_mask_keeps_hu_and_flat_regions():
    hu = np.full((8, 16, 16), -1000, np.int16)
    hu[:, :, 8:] = 40
    out = E.unsharp_mask(hu, radius=1.0, amount=1.0, spacing=(2.0, 1.0, 1.0))
    assert out.dtype == np.float32
    assert out[:, :, 0] == pytest.approx(-1000) and out[:, :, -1] == pytest.approx(40)
    assert out[:, :, 7].max() < -1000 and out[:, :, 8].min() > 40  # overshoot at the edge
    np.testing.assert_array_equal(E.unsharp_mask(hu, amount=0.0), hu.astype(np.float32))


def test_unsharp_mask_nan_does_not_spread_and_cancel_works():
    values = np.random.default_rng(9).normal(0, 1, (6, 20, 20)).astype(np.float32)
    values[3, 10, 10] = np.nan
    out = E.unsharp_mask(values, radius=2.0)
    assert np.isnan(out).sum() == 1 and np.isnan(out[3, 10, 10])
    with pytest.raises(OperationCancelled):
        E.unsharp_mask(values, radius=2.0, cancel=lambda: True)


# ----------------------------------------------------------------------------- real CT
def test_real_ct_lung_window_and_no_float64(shared_data):
    volume = read(shared_data / "ct" / "totalseg_example" / "example_ct_sm.nii.gz")
    hu = volume.array
    assert hu.dtype == np.int16
    lung = E.window_preset(hu, preset="lung")
    assert lung.dtype == np.float32
    air = hu <= -990
    assert air.any()
    np.testing.assert_allclose(lung[hu == -1000], 350 / 1500, rtol=1e-6)  # ~0.233
    assert (lung[hu >= 150] == 1).all()  # bone is white
    for function in (E.percentile_window, E.contrast_stretch, E.log_transform, E.gamma, E.equalize_histogram):
        assert function(hu).dtype == np.float32
    sharpened = E.unsharp_mask(hu, radius=3.0, spacing=volume.spacing)
    assert sharpened.dtype == np.float32
    assert abs(float(np.median(sharpened[air])) - float(np.median(hu[air]))) < 20  # HU kept
    enhanced = E.clahe(hu, kernel_size=45.0, spacing=volume.spacing)
    assert enhanced.dtype == np.float32 and 0 <= enhanced.min() and enhanced.max() == 1
