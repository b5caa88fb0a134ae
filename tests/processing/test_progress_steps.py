"""Long library calls split into parts: same result as one call, small progress steps, prompt cancel.

Curvature diffusion runs one ITK step per slab (ITK itself reports only between steps),
fast marching with a volume stop marches to a time first instead of the whole image,
and :func:`~napari_medimg.progress.map_chunks` cuts finer slabs. Each is compared with
the single call it replaces.
"""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from napari_medimg.processing import denoise, region_growing
from napari_medimg.progress import OperationCancelled, map_chunks


def _steps(fractions: list[float]) -> np.ndarray:
    return np.diff([0.0, *fractions])


def _cancel_after_first_report(fractions: list[float]):
    """A cancel check that turns true once progress was reported."""
    return lambda: len(fractions) > 0


def _itk_diffusion(array: np.ndarray, spacing, iterations: int, conductance: float) -> np.ndarray:
    """The previous implementation: one ITK call on the whole volume."""
    image = sitk.GetImageFromArray(array)
    image.SetSpacing([float(s) for s in spacing[::-1]])
    image = sitk.Cast(image, sitk.sitkFloat64 if array.dtype == np.float64 else sitk.sitkFloat32)
    f = sitk.CurvatureAnisotropicDiffusionImageFilter()
    f.SetNumberOfIterations(iterations)
    f.SetTimeStep(min(spacing) / 2 ** (len(spacing) + 1))
    f.SetConductanceParameter(conductance)
    return sitk.GetArrayFromImage(f.Execute(image))


def _textured(shape, dtype=np.float32, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    array = rng.normal(100, 20, shape) + 80 * (rng.random(shape) > 0.7)
    return array.astype(dtype)


@pytest.mark.parametrize(
    "shape, spacing, dtype",
    [((30, 40, 50), (2.0, 0.8, 0.8), np.float32), ((60, 70), (0.5, 0.7), np.float32), ((25, 30, 30), (1.0, 1.0, 1.0), np.int16)],
)
@pytest.mark.parametrize("iterations", [1, 3])
def test_diffusion_in_slabs_equals_one_itk_call(shape, spacing, dtype, iterations, monkeypatch):
    monkeypatch.setattr(denoise, "_DIFFUSION_PART_VOXELS", 9_000)  # several slabs per step
    array = _textured(shape, dtype)
    fractions: list[float] = []
    result = denoise.anisotropic_diffusion(array, iterations=iterations, conductance=2.0, spacing=spacing, progress=fractions.append)
    expected = _itk_diffusion(array, spacing, iterations, 2.0)
    assert result.dtype == expected.dtype
    np.testing.assert_array_equal(result, expected)  # bit for bit
    steps = _steps(fractions)
    assert fractions[-1] == 1.0 and np.all(steps >= 0) and steps.max() <= 0.1 + 1e-9
    assert len(fractions) >= 10


def test_diffusion_float64_and_a_flat_slab():
    array = _textured((20, 24, 24), np.float64)
    array[:8] = 7.0  # a slab without any gradient keeps its values
    result = denoise.anisotropic_diffusion(array, iterations=2, conductance=3.0)
    np.testing.assert_allclose(result, _itk_diffusion(array, (1.0, 1.0, 1.0), 2, 3.0), rtol=1e-12, atol=1e-10)


def test_diffusion_cancels_at_the_next_slab(monkeypatch):
    monkeypatch.setattr(denoise, "_DIFFUSION_PART_VOXELS", 9_000)
    fractions: list[float] = []
    with pytest.raises(OperationCancelled):
        denoise.anisotropic_diffusion(
            _textured((30, 40, 50)), iterations=5, progress=fractions.append, cancel=_cancel_after_first_report(fractions)
        )
    assert len(fractions) == 1 and fractions[0] <= 0.1


def _speed(shape, seed=0):
    """A speed image with a fast ball around the centre in a slow, noisy surround."""
    rng = np.random.default_rng(seed)
    grid = np.indices(shape).astype(np.float32)
    distance = np.sqrt(sum((g - n / 2) ** 2 for g, n in zip(grid, shape)))
    speed = np.where(distance < min(shape) / 3, 1.0, 0.05) * rng.uniform(0.5, 1.0, shape)
    return speed.astype(np.float32)


def _unlimited_earliest(speed: np.ndarray, index: np.ndarray, count: int, spacing) -> np.ndarray:
    """The previous implementation: march over the whole image, keep the ``count`` earliest."""
    image = sitk.GetImageFromArray(speed)
    image.SetSpacing([float(s) for s in spacing[::-1]])
    marcher = sitk.FastMarchingImageFilter()
    marcher.SetTrialPoints([tuple(int(v) for v in i[::-1]) + (0,) for i in index])
    times = sitk.GetArrayFromImage(marcher.Execute(image))
    finite = times[times < 1e30].ravel()
    count = max(1, min(count, finite.size))
    return times <= np.partition(finite, count - 1)[count - 1]


@pytest.mark.parametrize("count", [1, 40, 2_000, 30_000, 10**9])  # 10**9: more than the image holds
def test_fast_marching_to_a_volume_equals_the_unlimited_march(count):
    shape, spacing = (24, 30, 36), (2.0, 1.0, 0.8)
    speed = _speed(shape)
    index = np.array([[12, 15, 18], [5, 5, 5]])
    image = sitk.GetImageFromArray(speed)
    image.SetSpacing([float(s) for s in spacing[::-1]])
    fractions: list[float] = []
    region = region_growing._earliest(image, index, count, spacing, fractions.append, None)
    expected = _unlimited_earliest(speed, index, count, spacing)
    np.testing.assert_array_equal(region, expected)
    assert np.all(_steps(fractions) >= 0) and max(fractions) <= 1.0


def test_fast_marching_reports_small_steps_and_cancels():
    shape = (40, 60, 60)
    grid = np.indices(shape)
    image = (100.0 * (np.sqrt(sum((g - n / 2) ** 2 for g, n in zip(grid, shape))) < 15)).astype(np.float32)
    image += np.random.default_rng(1).normal(0, 5, shape).astype(np.float32)
    fractions: list[float] = []
    region = region_growing.fast_marching(image, [(20, 30, 30)], volume_ml=8.0, progress=fractions.append)
    assert region.dtype == np.uint8 and abs(int(region.sum()) - 8000) < 800  # 8 mL of 1 mm voxels (holes filled)
    steps = _steps(fractions)
    assert fractions[-1] == 1.0 and np.all(steps >= 0) and steps.max() <= 0.1 + 1e-9
    fractions.clear()
    with pytest.raises(OperationCancelled):
        region_growing.fast_marching(
            image, [(20, 30, 30)], volume_ml=8.0, progress=fractions.append, cancel=_cancel_after_first_report(fractions)
        )
    assert len(fractions) <= 2 and fractions[-1] <= 0.2  # stopped inside the gradient filter


def test_map_chunks_reports_at_least_ten_steps_and_cancels():
    array = np.arange(64 * 4 * 4, dtype=np.float32).reshape(64, 4, 4)
    fractions: list[float] = []
    out = map_chunks(lambda slab: slab * 2, array, halo=1, workers=2, progress=fractions.append)
    np.testing.assert_array_equal(out, array * 2)
    assert len(fractions) == 20 and _steps(fractions).max() <= 0.05 + 1e-9
    calls: list[int] = []
    fractions.clear()

    def slow(slab):
        calls.append(1)
        return slab

    with pytest.raises(OperationCancelled):
        map_chunks(slow, array, workers=1, progress=fractions.append, cancel=_cancel_after_first_report(fractions))
    assert len(calls) <= 2  # the slab running when Cancel came, at most one more


# ------------------------------------------- run_blocks: many small tasks, Cancel per block


def _blocks_run(function, array, monkeypatch, max_tasks, **kwargs):
    from napari_medimg.processing import _filters_stencil

    monkeypatch.setattr(_filters_stencil, "_MAX_TASKS", max_tasks)
    fractions: list[float] = []
    result = function(array, progress=fractions.append, **kwargs)
    return result, fractions


@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("median_filter", {"radius": 1.0}),
        ("median_filter", {"radius": 2.0, "footprint": "ball"}),
        ("minimum_filter", {"radius": 2.0, "footprint": "ball"}),
        ("mean_filter", {"radius": 1.5, "footprint": "ball"}),
        ("bilateral", {"sigma_spatial": 1.5, "sigma_range": 30.0}),
        ("non_local_means", {}),
    ],
)
def test_run_blocks_in_plane_tasks_equals_the_previous_grouping(name, kwargs, monkeypatch):
    """One task per plane (progress per plane) gives the same voxels as the previous 16 groups."""
    function = getattr(denoise, name)
    array = _textured((40, 24, 28))
    before, _ = _blocks_run(function, array, monkeypatch, 16, spacing=(1.0, 0.8, 0.8), **kwargs)  # 8 x 2 workers
    after, fractions = _blocks_run(function, array, monkeypatch, 256, spacing=(1.0, 0.8, 0.8), **kwargs)
    np.testing.assert_array_equal(after, before)  # bit for bit
    steps = _steps(fractions)
    assert fractions[-1] == 1.0 and np.all(steps >= 0) and steps.max() <= 0.1 + 1e-9


@pytest.mark.parametrize("name, kwargs", [("median_filter", {"radius": 2.0}), ("bilateral", {"sigma_spatial": 2.0})])
def test_run_blocks_cancels_inside_a_plane(name, kwargs, monkeypatch):
    """Cancel is seen before the next block (and every 512 offsets of a wide bilateral kernel)."""
    from napari_medimg.processing import _filters_stencil

    calls = {"n": 0}

    def cancel():
        calls["n"] += 1
        return calls["n"] > 3  # true from the fourth check on: inside the first plane

    monkeypatch.setattr(_filters_stencil, "_MAX_TASKS", 1)  # one task for the whole volume
    fractions: list[float] = []
    with pytest.raises(OperationCancelled):
        getattr(denoise, name)(_textured((6, 64, 64)), progress=fractions.append, cancel=cancel, **kwargs)
    assert fractions == []  # stopped before the only task finished


# ------------------------------------------------ clustering: the fit in steps, same model


def _cluster_sample(seed: int, n: int = 3000) -> np.ndarray:
    rng = np.random.default_rng(seed)
    values = np.concatenate([rng.normal(0, 1, n), rng.normal(4, 1.5, n // 3), rng.normal(9, 1, n // 5)])
    sample = np.stack([values, rng.normal(0, 1, values.size)], axis=1)
    return ((sample - sample.mean(0)) / sample.std(0)).astype(np.float32)


@pytest.mark.parametrize("seed", [0, 1, 2, 7])
@pytest.mark.parametrize("n_classes", [2, 3, 5])
def test_kmeans_one_initialisation_at_a_time_equals_one_fit(seed, n_classes):
    from sklearn.cluster import KMeans

    from napari_medimg.processing import cluster

    sample = _cluster_sample(seed)
    fractions: list[float] = []
    model = cluster._fit_kmeans(sample, n_classes, seed, fractions.append, None)
    expected = KMeans(n_clusters=n_classes, n_init=4, random_state=seed).fit(sample)  # the previous call
    np.testing.assert_array_equal(model.cluster_centers_, expected.cluster_centers_)
    np.testing.assert_array_equal(model.predict(sample), expected.predict(sample))
    assert fractions == pytest.approx([0.1, 0.2, 0.3, 0.4])


@pytest.mark.parametrize("seed", [0, 1, 2, 7])
@pytest.mark.parametrize("n_classes", [2, 3, 5])
@pytest.mark.parametrize("call_seconds", [0.0, 0.3, 100.0])  # 1 EM step a call, timed, 10 a call
def test_mixture_em_steps_in_parts_equal_one_fit(seed, n_classes, call_seconds, monkeypatch):
    from sklearn.mixture import GaussianMixture

    from napari_medimg.processing import cluster

    monkeypatch.setattr(cluster, "_MIXTURE_CALL_SECONDS", call_seconds)

    sample = _cluster_sample(seed)
    fractions: list[float] = []
    model = cluster._fit_mixture(sample, n_classes, seed, fractions.append, None)
    expected = GaussianMixture(n_components=n_classes, covariance_type="full", random_state=seed).fit(sample)
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        np.testing.assert_array_equal(getattr(model, name), getattr(expected, name))
    assert model.converged_ == expected.converged_ and 1 <= len(fractions) <= expected.n_iter_
    np.testing.assert_array_equal(model.predict(sample), expected.predict(sample))
    assert fractions[0] == pytest.approx(0.1) and np.all(_steps(fractions) > 0) and fractions[-1] < 0.2


@pytest.mark.parametrize("function", ["kmeans", "gaussian_mixture"])
def test_clustering_reports_steps_of_at_most_ten_percent_and_cancels_in_the_fit(function, monkeypatch):
    from napari_medimg.processing import cluster

    monkeypatch.setattr(cluster, "_PREDICT_VOXELS", 4_000)
    image = _textured((20, 30, 30))
    fractions: list[float] = []
    labels = getattr(cluster, function)(image, n_classes=3, progress=fractions.append)
    steps = _steps(fractions)
    assert fractions[-1] == 1.0 and np.all(steps >= 0) and steps.max() <= 0.1 + 1e-9
    assert set(np.unique(labels)) == {1, 2, 3}
    fractions.clear()
    with pytest.raises(OperationCancelled):
        getattr(cluster, function)(image, n_classes=3, progress=fractions.append, cancel=_cancel_after_first_report(fractions))
    assert fractions == [pytest.approx(0.1)]  # stopped after the first initialisation / EM step


# ------------------------------------- 3D CLAHE: skimage's arithmetic in rows of regions


@pytest.mark.parametrize(
    "shape, kernel",
    [((30, 40, 50), (7, 9, 11)), ((33, 47, 29), (5, 12, 4)), ((60, 70), (13, 9)), ((20, 20, 20), (20, 20, 20)), ((25, 31, 40), (3, 3, 3))],
)
@pytest.mark.parametrize("clip_limit, bins", [(0.01, 256), (0.0, 64), (0.5, 128)])
def test_clahe_in_steps_equals_equalize_adapthist(shape, kernel, clip_limit, bins):
    from skimage.exposure import equalize_adapthist

    from napari_medimg.processing import enhance

    rng = np.random.default_rng(3)
    image = rng.random(shape).astype(np.float32)
    image[::3] *= 0.5
    fractions: list[float] = []
    result = enhance._clahe_in_steps(image, kernel, clip_limit, bins, fractions.append, None)
    expected = equalize_adapthist(image, kernel_size=kernel, clip_limit=clip_limit, nbins=bins)  # the previous call
    assert result.dtype == expected.dtype
    np.testing.assert_array_equal(result, expected)  # bit for bit
    steps = _steps(fractions)
    assert fractions[-1] == pytest.approx(1.0) and np.all(steps >= 0) and steps.max() <= 0.1 + 1e-9


def test_clahe_3d_reports_and_cancels_and_keeps_its_result():
    from napari_medimg.processing import enhance

    image = _textured((30, 36, 40))
    plain = enhance.clahe(image, spacing=(2.0, 1.0, 1.0))  # no callbacks: skimage itself
    fractions: list[float] = []
    stepped = enhance.clahe(image, spacing=(2.0, 1.0, 1.0), progress=fractions.append, cancel=lambda: False)
    np.testing.assert_array_equal(stepped, plain)
    assert fractions[-1] == 1.0 and _steps(fractions).max() <= 0.1 + 1e-9 and len(fractions) >= 20
    fractions.clear()
    with pytest.raises(OperationCancelled):
        enhance.clahe(image, spacing=(2.0, 1.0, 1.0), progress=fractions.append, cancel=_cancel_after_first_report(fractions))
    assert len(fractions) == 1 and fractions[0] <= 0.1


# ------------------------------------------------ N4: progress per iteration, Cancel in the fit


def _biased(shape=(24, 40, 40), seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    grid = np.indices(shape).astype(np.float32)
    field = np.exp(0.3 * grid[2] / shape[2] - 0.2 * grid[1] / shape[1])
    return ((100 + 20 * (rng.random(shape) > 0.5)) * field + rng.normal(0, 2, shape)).astype(np.float32)


@pytest.mark.parametrize("with_mask", [False, True])
def test_n4_with_progress_equals_the_plain_fit_and_cancels(with_mask):
    from napari_medimg.processing import bias

    image = _biased()
    mask = None
    if with_mask:
        mask = np.zeros(image.shape, np.uint8)
        mask[4:20, 8:32, 8:32] = 1
    kwargs = dict(iterations=8, levels=3, mask=mask, spacing=(2.0, 1.0, 1.0))
    plain = bias.n4_bias_correction(image, **kwargs)  # no callbacks: one Execute as before
    fractions: list[float] = []
    reported = bias.n4_bias_correction(image, progress=fractions.append, cancel=lambda: False, **kwargs)
    np.testing.assert_array_equal(reported, plain)
    steps = _steps(fractions)
    assert fractions[-1] == 1.0 and np.all(steps > 0) and len(fractions) >= 5
    assert steps[:-1].max() <= 0.3 + 1e-9  # within 1/levels of 0.9 (a level may converge early)
    fractions.clear()
    with pytest.raises(OperationCancelled):
        bias.n4_bias_correction(image, progress=fractions.append, cancel=_cancel_after_first_report(fractions), **kwargs)
    assert len(fractions) == 1 and fractions[0] < 0.9  # stopped inside the fit
