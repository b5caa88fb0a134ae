"""Denoising filters: known answers, agreement with the raw libraries, real-data PSNR/SSIM."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from napari_medimg import read
from napari_medimg.progress import OperationCancelled
from napari_medimg.processing.denoise import (
    anisotropic_diffusion,
    bilateral,
    estimate_noise_sigma,
    footprint,
    gaussian,
    maximum_filter,
    mean_filter,
    median_filter,
    minimum_filter,
    non_local_means,
    radius_to_voxels,
)

DTYPES = [np.uint8, np.int16, np.float32, np.float64]
SPACINGS = [(1.0, 1.0, 1.0), (5.0, 0.5, 0.5), (0.7, 1.0, 2.0)]
FLOAT_OUT = {np.uint8: np.float32, np.int16: np.float32, np.float32: np.float32, np.float64: np.float64}


def _image(dtype, shape=(7, 19, 23), seed=0):
    rng = np.random.default_rng(seed)
    values = rng.normal(100, 40, shape).clip(0, 250)
    return values.astype(dtype)


# ------------------------------------------------------------------------- radius to voxels


def test_radius_in_mm_becomes_per_axis_voxels():
    assert radius_to_voxels(1.0, (5.0, 0.5, 0.5)) == (0, 2, 2)
    assert radius_to_voxels(1.0, (0.5, 0.5, 5.0), units="voxels") == (1, 1, 1)
    assert footprint(1.0, (5.0, 0.5, 0.5)).shape == (1, 5, 5)
    ball = footprint(1.0, (0.5, 0.5, 0.5), shape="ball")
    assert ball.shape == (5, 5, 5) and ball.sum() == 33 and ball[2, 2, 0] and not ball[0, 0, 0]
    with pytest.raises(ValueError, match="footprint must be one of"):
        footprint(1.0, (1, 1), shape="disk")
    with pytest.raises(ValueError, match="units must be one of"):
        radius_to_voxels(1.0, (1, 1), units="cm")


def test_median_of_1mm_on_thick_slices_is_5x5x1():
    image = _image(np.int16, (5, 21, 21))
    out = median_filter(image, radius=1.0, spacing=(5.0, 0.5, 0.5))
    ref = ndimage.median_filter(image, size=(1, 5, 5), mode="nearest")
    np.testing.assert_array_equal(out, ref)


# ------------------------------------------------------------------ agreement with scipy


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("spacing", SPACINGS)
@pytest.mark.parametrize("shape", ["box", "ball"])
def test_order_filters_equal_scipy_and_keep_dtype(dtype, spacing, shape):
    image = _image(dtype)
    fp = footprint(1.5, spacing, shape=shape)
    for ours, ref in (
        (median_filter, ndimage.median_filter),
        (minimum_filter, ndimage.minimum_filter),
        (maximum_filter, ndimage.maximum_filter),
    ):
        out = ours(image, radius=1.5, footprint=shape, spacing=spacing)
        assert out.dtype == image.dtype
        np.testing.assert_array_equal(out, ref(image, footprint=fp, mode="nearest"))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("spacing", SPACINGS)
@pytest.mark.parametrize("shape", ["box", "ball"])
def test_mean_equals_scipy_average_over_footprint(dtype, spacing, shape):
    image = _image(dtype)
    fp = footprint(1.5, spacing, shape=shape)
    out = mean_filter(image, radius=1.5, footprint=shape, spacing=spacing)
    assert out.dtype == FLOAT_OUT[dtype]
    ref = ndimage.correlate(image.astype(np.float64), fp / fp.sum(), mode="nearest")
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-4)
    if shape == "box":
        uniform = ndimage.uniform_filter(image, size=fp.shape, output=np.float64, mode="nearest")
        np.testing.assert_allclose(out, uniform, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("dtype", DTYPES)
def test_mean_of_constant_is_the_constant(dtype):
    image = np.full((4, 9, 9), 42, dtype)
    for shape in ("box", "ball"):
        out = mean_filter(image, radius=2.0, footprint=shape, spacing=(2.0, 1.0, 1.0))
        np.testing.assert_allclose(out, 42, rtol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
def test_impulse_through_minimum_maximum_and_median(dtype):
    image = np.full((5, 11, 11), 10, dtype)
    image[2, 5, 5] = 200
    grown = maximum_filter(image, radius=1.0, spacing=(5.0, 0.5, 0.5))  # 1 x 5 x 5
    assert grown.dtype == image.dtype
    assert (grown == 200).sum() == 25 and (grown[2, 3:8, 3:8] == 200).all()
    ball = maximum_filter(image, radius=1.0, footprint="ball", spacing=(1.0, 1.0, 1.0))
    assert (ball == 200).sum() == 7
    assert (minimum_filter(image, radius=3.0, spacing=(1, 1, 1)) == 10).all()
    pit = np.full((5, 11, 11), 10, dtype)
    pit[2, 5, 5] = 0
    assert (minimum_filter(pit, radius=1.0, spacing=(1, 1, 1)) == 0).sum() == 27
    assert (median_filter(image, radius=1.0, spacing=(1, 1, 1)) == 10).all()


def test_2d_and_leading_time_axis():
    image = _image(np.int16, (3, 4, 17, 19))
    out = median_filter(image, radius=1.0, spacing=(1.0, 1.0, 1.0))
    for t in range(3):
        np.testing.assert_array_equal(out[t], ndimage.median_filter(image[t], size=3, mode="nearest"))
    plane = image[0, 0]
    np.testing.assert_array_equal(
        minimum_filter(plane, radius=2.0, spacing=(1.0, 1.0)), ndimage.minimum_filter(plane, size=5, mode="nearest")
    )
    with pytest.raises(ValueError, match="give spacing"):
        mean_filter(image)


def test_large_median_footprint_falls_back_to_scipy():
    image = _image(np.int16, (12, 15, 15))
    out = median_filter(image, radius=5.0, spacing=(1.0, 1.0, 1.0))  # 11^3 = 1331 voxels
    np.testing.assert_array_equal(out, ndimage.median_filter(image, size=11, mode="nearest"))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("spacing", SPACINGS)
def test_gaussian_equals_scipy(dtype, spacing):
    image = _image(dtype)
    out = gaussian(image, sigma=1.2, spacing=spacing)
    assert out.dtype == FLOAT_OUT[dtype]
    ref = ndimage.gaussian_filter(image.astype(np.float64), [1.2 / s for s in spacing], mode="nearest")
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-3)


def test_nan_is_rejected_with_advice():
    image = np.zeros((3, 8, 8), np.float32)
    image[1, 2, 2] = np.nan
    for function in (mean_filter, median_filter, minimum_filter, maximum_filter, gaussian, bilateral, non_local_means):
        with pytest.raises(ValueError, match="NaN"):
            function(image)


# ------------------------------------------------------------- bilateral, diffusion, NLM


def test_bilateral_matches_simpleitk_and_keeps_edges():
    import SimpleITK as sitk
    image = _image(np.float32, (6, 30, 34), seed=3)
    image[:, :, 17:] += 400
    spacing = (2.0, 0.8, 0.7)
    out = bilateral(image, sigma_spatial=1.2, sigma_range=80.0, spacing=spacing)
    assert out.dtype == np.float32
    ref_image = sitk.GetImageFromArray(image)
    ref_image.SetSpacing(spacing[::-1])
    ref = sitk.GetArrayFromImage(sitk.Bilateral(ref_image, 1.2, 80.0))
    diff = np.abs(out - ref)
    assert diff.mean() < 0.01 * 80 and diff.max() < 0.1 * 80  # ITK: 100-sample range lookup table
    # the 400 step survives, the noise is reduced
    assert (out[:, :, 18:].mean() - out[:, :, :16].mean()) == pytest.approx(400, abs=5)
    assert out[:, :, :15].std() < 0.7 * image[:, :, :15].std()
    assert bilateral(np.full((3, 6, 6), 5, np.int16), spacing=(1, 1, 1)).dtype == np.float32


@pytest.mark.parametrize("dtype", [np.int16, np.float32, np.float64])
def test_anisotropic_diffusion_equals_simpleitk_with_spacing(dtype):
    import SimpleITK as sitk
    image = _image(dtype, (6, 24, 26))
    spacing = (3.0, 0.8, 0.8)
    out = anisotropic_diffusion(image, iterations=3, conductance=2.0, spacing=spacing)
    assert out.dtype == FLOAT_OUT[dtype]
    ref_image = sitk.GetImageFromArray(image.astype(out.dtype))
    ref_image.SetSpacing(spacing[::-1])
    ref = sitk.CurvatureAnisotropicDiffusion(ref_image, 0.8 / 16, 2.0, 1, 3)
    np.testing.assert_allclose(out, sitk.GetArrayFromImage(ref), rtol=1e-5, atol=1e-3)


def test_non_local_means_agrees_with_skimage():
    from skimage import restoration
    rng = np.random.default_rng(1)
    clean = np.zeros((48, 52), np.float32)
    clean[10:30, 12:40] = 100
    noisy = clean + rng.normal(0, 10, clean.shape).astype(np.float32)
    out = non_local_means(noisy, patch_radius=1, search_radius=3, h=8.0, sigma=10.0, spacing=(1, 1), units="voxels")
    ref = restoration.denoise_nl_means(noisy, patch_size=3, patch_distance=3, h=8.0, sigma=10.0, fast_mode=True)
    # skimage uses an approximate exponential and an integral-image patch window of
    # 2p (not 2p + 1) voxels per axis: agreement to a small fraction of sigma
    assert np.abs(out - ref).mean() < 0.1 * 10.0
    assert np.abs(out - clean).mean() < 0.4 * np.abs(noisy - clean).mean()
    # anisotropic 3D: 1 mm search on 5 mm slices is slice-by-slice 2D
    stack = np.stack([noisy, noisy[::-1]])
    per_slice = non_local_means(stack, patch_radius=1.0, search_radius=3.0, h=8.0, sigma=10.0, spacing=(5.0, 1.0, 1.0))
    np.testing.assert_allclose(per_slice[0], out, rtol=1e-5, atol=1e-3)


def test_noise_sigma_estimate():
    rng = np.random.default_rng(0)
    smooth = ndimage.gaussian_filter(rng.normal(0, 300, (6, 96, 96)), 6)
    noisy = smooth + rng.normal(0, 15, smooth.shape)
    assert estimate_noise_sigma(noisy) == pytest.approx(15, rel=0.1)


# --------------------------------------------------------------------- progress and cancel


@pytest.mark.parametrize(
    "call",
    [
        lambda a, **kw: median_filter(a, radius=1.0, spacing=(1, 1, 1), **kw),
        lambda a, **kw: mean_filter(a, radius=1.0, footprint="ball", spacing=(1, 1, 1), **kw),
        lambda a, **kw: gaussian(a, sigma=1.0, spacing=(1, 1, 1), **kw),
        lambda a, **kw: bilateral(a, sigma_spatial=0.6, spacing=(1, 1, 1), **kw),
        lambda a, **kw: non_local_means(a, patch_radius=1, search_radius=1, sigma=5.0, spacing=(1, 1, 1), **kw),
        lambda a, **kw: anisotropic_diffusion(a, iterations=2, spacing=(1, 1, 1), **kw),
    ],
    ids=["median", "mean", "gaussian", "bilateral", "nlm", "diffusion"],
)
def test_progress_is_monotonic_and_cancel_raises(call):
    image = _image(np.int16, (24, 40, 40))
    seen: list[float] = []
    call(image, progress=seen.append)
    assert seen and seen[-1] == pytest.approx(1.0)
    assert all(b >= a for a, b in zip(seen, seen[1:])) and min(seen) >= 0
    with pytest.raises(OperationCancelled):
        call(image, cancel=lambda: True)
    calls = {"n": 0}

    def cancel_later() -> bool:
        calls["n"] += 1
        return calls["n"] > 2

    with pytest.raises(OperationCancelled):
        call(image, cancel=cancel_later)


# ------------------------------------------------------------ real data: PSNR and SSIM

# PSNR gain (dB) over the noisy input measured with these settings (fixed seed), minus
# 0.5 dB slack; see the table printed by the test (pytest -s).
EXPECTED_GAIN = {
    "CT": {"gaussian": 4.2, "mean": 5.8, "median": 5.3, "bilateral": 5.2, "anisotropic_diffusion": 5.3, "non_local_means": 6.6},
    "MR": {"gaussian": 0.9, "mean": -0.6, "median": 0.9, "bilateral": 4.4, "anisotropic_diffusion": 4.2, "non_local_means": 5.9},
}
METHODS = {
    "gaussian": lambda a, sp, s: gaussian(a, sigma=0.6, spacing=sp),
    "mean": lambda a, sp, s: mean_filter(a, radius=1.0, spacing=sp),
    "median": lambda a, sp, s: median_filter(a, radius=1.0, spacing=sp),
    "bilateral": lambda a, sp, s: bilateral(a, sigma_spatial=0.8, sigma_range=2 * s, spacing=sp),
    "anisotropic_diffusion": lambda a, sp, s: anisotropic_diffusion(a, iterations=5, conductance=1.0, spacing=sp),
    "non_local_means": lambda a, sp, s: non_local_means(a, patch_radius=1.0, search_radius=3.0, spacing=sp),
}


def _real_case(shared_data, modality):
    if modality == "CT":
        volume = read(shared_data / "ct" / "pyradiomics_lung1" / "lung1_image.nrrd")
        return volume.array[20:26, 128:384, 128:384].astype(np.float32), volume.spacing, 40.0
    volume = read(shared_data / "mr" / "pyradiomics" / "brain1_image.nrrd")
    return volume.array[10:16].astype(np.float32), volume.spacing, 60.0


@pytest.mark.parametrize("modality", ["CT", "MR"])
def test_denoising_real_images_improves_psnr(shared_data, modality):
    from skimage import metrics
    clean, spacing, sigma = _real_case(shared_data, modality)
    noisy = clean + np.random.default_rng(0).normal(0, sigma, clean.shape).astype(np.float32)
    data_range = float(clean.max() - clean.min())

    def ssim(a, b):
        return float(np.mean([metrics.structural_similarity(x, y, data_range=data_range) for x, y in zip(a, b)]))

    base_psnr = metrics.peak_signal_noise_ratio(clean, noisy, data_range=data_range)
    base_ssim = ssim(clean, noisy)
    assert estimate_noise_sigma(noisy) == pytest.approx(sigma, rel=0.15)
    print(f"\n{modality} {clean.shape} spacing {tuple(round(s, 3) for s in spacing)} noise sd {sigma}")
    print(f"  {'noisy':22s} PSNR {base_psnr:6.2f} dB  SSIM {base_ssim:.3f}")
    for name, method in METHODS.items():
        out = method(noisy, spacing, sigma)
        assert out.shape == clean.shape and out.dtype == np.float32
        value = metrics.peak_signal_noise_ratio(clean, out, data_range=data_range)
        structure = ssim(clean, out)
        print(f"  {name:22s} PSNR {value:6.2f} dB ({value - base_psnr:+.2f})  SSIM {structure:.3f}")
        assert value - base_psnr > EXPECTED_GAIN[modality][name] - 0.5, name
        assert structure > base_ssim + 0.05, name
