"""Edges and gradients: known answers in mm, agreement with scipy / scikit-image."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage

from napari_medimg.analysis.edges import canny, gradient_magnitude, laplacian_of_gaussian, sobel
from napari_medimg.progress import OperationCancelled


def test_sobel_ramp_is_slope_per_mm():
    ramp = np.tile(np.arange(16, dtype=np.int16) * 3, (16, 1))  # 3 per voxel along x
    out = sobel(ramp, spacing=(1.0, 2.0))
    assert out.dtype == np.float32
    assert out[5:-5, 5:-5] == pytest.approx(1.5)  # 3 per voxel / 2 mm
    z, y, x = np.indices((8, 10, 12), dtype=np.float64)
    volume = 2 * z + 4 * y + 1 * x
    spacing = (5.0, 0.5, 0.8)
    for axis, slope in enumerate((2 / 5.0, 4 / 0.5, 1 / 0.8)):
        d = sobel(volume, axis=axis, spacing=spacing)
        assert d.dtype == np.float64
        assert d[2:-2, 2:-2, 2:-2] == pytest.approx(slope)
    magnitude = sobel(volume, spacing=spacing)
    assert magnitude[4, 5, 6] == pytest.approx(np.sqrt(0.4**2 + 8**2 + 1.25**2))


def test_gradient_magnitude_matches_scipy_and_is_per_mm():
    rng = np.random.default_rng(1)
    image = rng.normal(size=(12, 20, 24)).astype(np.float32)
    ours = gradient_magnitude(image, sigma=1.5)
    reference = ndimage.gaussian_gradient_magnitude(image.astype(np.float64), 1.5, mode="nearest")
    np.testing.assert_allclose(ours, reference, rtol=1e-4, atol=1e-5)
    ramp = np.tile(np.arange(40, dtype=np.float32) * 2, (40, 1))
    out = gradient_magnitude(ramp, sigma=2.0, spacing=(0.5, 0.5))
    assert out[20, 20] == pytest.approx(4.0, rel=2e-3)  # 2 per voxel / 0.5 mm


@pytest.mark.parametrize("spacing", [(0.5, 0.5), (0.5, 0.8)])
def test_log_of_gaussian_blob_peaks_at_its_sigma(spacing):
    t = 3.0  # blob standard deviation in mm
    y, x = np.indices((121, 121))
    world = ((y - 60) * spacing[0]) ** 2 + ((x - 60) * spacing[1]) ** 2
    blob = np.exp(-world / (2 * t * t)).astype(np.float32)
    sigmas = np.arange(1.5, 5.01, 0.25)
    response = [-laplacian_of_gaussian(blob, sigma=s, spacing=spacing)[60, 60] for s in sigmas]
    assert sigmas[int(np.argmax(response))] == pytest.approx(t, abs=0.25)
    # unnormalised, per mm²: blurring gives a blob of variance v = t² + sigma² and height t²/v,
    # whose Laplacian at the centre is -2 t² / v²
    v = t * t + 1.0
    raw = laplacian_of_gaussian(blob, sigma=1.0, normalize=False, spacing=spacing)[60, 60]
    assert raw == pytest.approx(-2 * t * t / v**2, rel=0.01)


def test_canny_equals_scikit_image_on_unit_pixels():
    from skimage import feature

    rng = np.random.default_rng(0)
    image = np.zeros((80, 90), np.float32)
    image[20:60, 25:70] = 10
    image[35:45, 10:80] += 5
    image += rng.normal(0, 0.5, image.shape).astype(np.float32)
    ours = canny(image, sigma=1.5, low_threshold=0.5, high_threshold=1.2)
    # scikit-image's Sobel is not normalised: its magnitude is 8 x ours on 1 mm pixels
    theirs = feature.canny(image, sigma=1.5, low_threshold=4.0, high_threshold=9.6, mode="nearest")
    assert ours.dtype == np.uint8
    assert np.array_equal(ours.astype(bool), theirs)


def test_canny_sigma_and_thresholds_in_mm_and_3d():
    image = np.zeros((60, 60), np.float32)
    image[20:40, 20:40] = 100.0
    on_half_mm = canny(image, sigma=1.0, spacing=(0.5, 0.5))
    assert not canny(image, sigma=1.0, spacing=(0.5, 0.5), low_threshold=101.0, high_threshold=102.0).any()
    # the step (at 19.5 px) smoothed by sigma 1 mm, central difference over 1 mm at pixel 19
    phi = lambda u: 0.5 * (1 + math.erf(u / math.sqrt(2)))  # noqa: E731
    peak = 100 * (phi(0.25) - phi(-0.75)) / 1.0  # per mm, about 37.2
    assert canny(image, sigma=1.0, spacing=(0.5, 0.5), low_threshold=20.0, high_threshold=0.98 * peak).any()
    assert not canny(image, sigma=1.0, spacing=(0.5, 0.5), low_threshold=20.0, high_threshold=1.02 * peak).any()
    edge_rows = np.flatnonzero(on_half_mm.any(axis=1))
    assert edge_rows.min() in (19, 20) and edge_rows.max() in (39, 40)
    # 3D-aware: a ball gives a closed surface, per-slice gives rings only in slices it crosses
    z, y, x = np.indices((30, 30, 30))
    ball = (((z - 15) ** 2 + (y - 15) ** 2 + (x - 15) ** 2) <= 81).astype(np.float32)
    surface = canny(ball, sigma=1.0, per_slice=False)
    radius = np.sqrt(((np.argwhere(surface) - 15) ** 2).sum(axis=1))
    assert surface.sum() > 300 and np.all(np.abs(radius - 9) < 1.5)
    rings = canny(ball, sigma=1.0)
    assert rings[15].sum() > 0 and rings[0].sum() == 0


def test_edges_on_real_mr_slice(shared_data):
    from skimage import feature

    from napari_medimg.io import read

    volume = read(shared_data / "mr" / "pyradiomics" / "brain1_image.nrrd")
    dy, dx = volume.spacing[1:]
    assert dy == pytest.approx(dx)
    image = volume.array[12].astype(np.float32)
    magnitude = gradient_magnitude(image, sigma=1.0, spacing=(dy, dx))
    assert magnitude.dtype == np.float32 and np.all(np.isfinite(magnitude))
    edges = canny(image, sigma=1.5, low_threshold=20.0, high_threshold=50.0, spacing=(dy, dx))
    theirs = feature.canny(
        image, sigma=1.5 / dx, low_threshold=20.0 * 8 * dx, high_threshold=50.0 * 8 * dx, mode="nearest"
    )
    assert edges.sum() > 500
    assert np.mean(edges.astype(bool) != theirs) < 1e-3  # identical up to float rounding at ties
    # the whole volume, per slice, with progress and thresholds shared by all slices
    fractions = []
    all_edges = canny(volume.array, sigma=1.5, spacing=volume.spacing, progress=fractions.append)
    assert all_edges.shape == volume.array.shape and fractions[-1] == 1.0


def test_cancel_dtype_and_nan_errors():
    image = np.random.default_rng(0).normal(size=(8, 32, 32)).astype(np.float32)
    with pytest.raises(OperationCancelled):
        gradient_magnitude(image, sigma=1.0, cancel=lambda: True)
    with pytest.raises(OperationCancelled):
        canny(image, cancel=lambda: True)
    bad = image.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        sobel(bad)
    with pytest.raises(ValueError, match="sigma"):
        laplacian_of_gaussian(image, sigma=0.0)
    # leading (time) axes with spacing for the spatial ones
    series = np.stack([image, 2 * image])
    out = sobel(series, spacing=(1.0, 1.0, 1.0))
    np.testing.assert_allclose(out[1], 2 * out[0], rtol=1e-5, atol=1e-6)


def test_gaussian_derivatives_pass_by_pass_equal_scipy_and_report_fine_steps():
    """gradient magnitude / LoG run scipy's gaussian_filter one 1D pass piece at a time:
    bit-identical to the whole-volume call, steps well under 10 %, Cancel inside a pass."""
    import numpy as np
    import pytest
    from scipy import ndimage

    from napari_medimg.analysis.edges import gradient_magnitude, laplacian_of_gaussian
    from napari_medimg.progress import OperationCancelled

    image = (np.random.default_rng(1).normal(size=(30, 48, 52)) * 100).astype(np.int16)
    spacing, sigma = (2.5, 0.8, 0.8), 4.0
    sigmas = [sigma / s for s in spacing]

    def derivative(axis, order):
        orders = [0, 0, 0]
        orders[axis] = order
        d = ndimage.gaussian_filter(image, sigmas, order=orders, output=np.float32, mode="nearest")
        return d / np.float32(spacing[axis] ** order)

    expected = np.sqrt(sum(derivative(a, 1) ** 2 for a in range(3)))
    steps = []
    got = gradient_magnitude(image, sigma=sigma, spacing=spacing, progress=steps.append)
    np.testing.assert_array_equal(got, expected.astype(np.float32))
    assert max(np.diff([0.0] + steps)) <= 0.05 and steps[-1] == 1.0
    np.testing.assert_array_equal(
        laplacian_of_gaussian(image, sigma=sigma, spacing=spacing, normalize=False),
        sum(derivative(a, 2) for a in range(3)),
    )
    calls = []
    with pytest.raises(OperationCancelled):
        gradient_magnitude(image, sigma=sigma, spacing=spacing, cancel=lambda: calls.append(1) or len(calls) > 3)


def _reference_canny_3d(image, sigma, spacing, mask=None, thresholds=None):
    """3D canny as it ran before it was cut into cancellable steps: whole-array scipy calls."""
    sigmas = [sigma / s for s in spacing]
    if mask is None:
        smoothed = ndimage.gaussian_filter(image, sigmas, output=np.float32, mode="nearest")
        inner = np.zeros(image.shape, bool)
        inner[1:-1, 1:-1, 1:-1] = True
    else:
        def smooth(a):
            return ndimage.gaussian_filter(a.astype(np.float32), sigmas, output=np.float32, mode="nearest")

        smoothed = smooth(np.where(mask, image, 0)) / (smooth(mask) + np.finfo(np.float32).eps)
        inner = ndimage.binary_erosion(mask, np.ones((3, 3, 3), bool), border_value=0)
    gradients = [  # scipy's Sobel gives 2 * 4 ** 2 = 32 times the slope per voxel in 3D
        ndimage.sobel(smoothed, axis=a, output=np.float32, mode="nearest") / np.float32(32.0 * spacing[a])
        for a in range(3)
    ]
    g0, g1, g2 = gradients
    magnitude = np.sqrt(g0 * g0 + g1 * g1 + g2 * g2)
    if thresholds is None:
        peak = float(magnitude[inner].max())
        thresholds = (0.1 * peak, 0.2 * peak)
    low, high = thresholds
    points = np.nonzero(inner & (magnitude >= low) & (magnitude > 0))
    step = np.stack([g[points] / s for g, s in zip(gradients, spacing)]).astype(np.float64)
    step /= np.abs(step).max(axis=0, keepdims=True)
    centre = np.stack(points).astype(np.float64)
    keep = np.ones(points[0].size, bool)
    for sign in (1.0, -1.0):
        sample = ndimage.map_coordinates(magnitude, centre + sign * step, order=1, mode="nearest")
        keep &= magnitude[points] >= sample
    thin = np.zeros(image.shape, bool)
    thin[tuple(p[keep] for p in points)] = True
    labels, _ = ndimage.label(thin, np.ones((3, 3, 3), bool))
    strong = np.unique(labels[thin & (magnitude >= high)])
    return (np.isin(labels, strong[strong > 0])).astype(np.uint8)


@pytest.fixture
def small_pieces(monkeypatch):
    """Cut a small volume as finely as the test's 16 M voxel one is (every piece boundary exercised)."""
    from napari_medimg.analysis import edges

    monkeypatch.setattr(edges, "_PIECES_FROM", 1)
    monkeypatch.setattr(edges, "_SLABS", 5)
    monkeypatch.setattr(edges, "_NMS_SLABS", 9)


def _blob_volume():
    rng = np.random.default_rng(5)
    image = rng.normal(0, 10, (26, 34, 40)).astype(np.float32)
    image[6:20, 8:26, 10:30] += 40
    return image


@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("thresholds", [None, (2.0, 6.0)])
def test_3d_canny_in_steps_is_bit_identical_to_whole_array_calls(small_pieces, masked, thresholds):
    image = _blob_volume()
    spacing, sigma = (2.0, 0.8, 0.9), 1.6
    mask = None
    if masked:
        mask = np.zeros(image.shape, bool)
        mask[2:24, 3:31, 2:37] = True
    low, high = thresholds or (None, None)
    fractions = []
    options = dict(per_slice=False, spacing=spacing, mask=mask, low_threshold=low, high_threshold=high)
    ours = canny(image, sigma=sigma, progress=fractions.append, **options)
    expected = _reference_canny_3d(image, sigma, spacing, mask, thresholds)
    assert ours.dtype == np.uint8 and expected.sum() > 100
    np.testing.assert_array_equal(ours, expected)
    # the steps: smoothing pass pieces, Sobel slabs, suppression slabs; none above 10 %
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert max(np.diff([0.0] + fractions)) <= 0.1 and len(fractions) >= 30


@pytest.mark.parametrize("at", [0.05, 0.4, 0.8])  # in the smoothing, the Sobel slabs, the suppression
def test_3d_canny_cancels_inside_each_step(small_pieces, at):
    fractions = []
    with pytest.raises(OperationCancelled):
        canny(
            _blob_volume(), sigma=1.6, per_slice=False, progress=fractions.append,
            cancel=lambda: bool(fractions) and fractions[-1] >= at,
        )
    assert at <= fractions[-1] < at + 0.1  # stopped at the next check, within one step
