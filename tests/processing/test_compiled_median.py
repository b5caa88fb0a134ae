"""The numba-compiled median network: equal to the numpy network and to scipy, cached on disk."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from scipy import ndimage

from napari_medimg.processing import _compiled_median, denoise
from napari_medimg.processing.denoise import median_filter


def _volume(dtype, shape=(6, 33, 40), seed=0):
    rng = np.random.default_rng(seed)
    values = rng.normal(100, 40, shape)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        values = np.clip(np.round(values), info.min, info.max)
    return values.astype(dtype)


@pytest.mark.parametrize(
    "dtype, radius, footprint, spacing",
    [
        (np.int16, 1.0, "box", (1.0, 1.0, 1.0)),  # 27 elements
        (np.float32, 1.0, "ball", (1.0, 1.0, 1.0)),  # 7 elements
        (np.uint8, 1.0, "box", (5.0, 1.0, 1.0)),  # 3 x 3 in-plane
        (np.float64, 1.0, "box", (5.0, 0.5, 0.5)),  # 5 x 5 in-plane
    ],
)
def test_compiled_median_equals_numpy_network_and_scipy(monkeypatch, dtype, radius, footprint, spacing):
    image = _volume(dtype)
    compiled = median_filter(image, radius=radius, footprint=footprint, spacing=spacing)
    monkeypatch.setattr(denoise, "median_kernel", lambda offsets, radius: None)
    network = median_filter(image, radius=radius, footprint=footprint, spacing=spacing)
    assert compiled.dtype == image.dtype
    np.testing.assert_array_equal(compiled, network)
    fp = denoise.footprint(radius, spacing, shape=footprint)
    np.testing.assert_array_equal(compiled, ndimage.median_filter(image, footprint=fp, mode="nearest"))


def test_compiled_median_takes_ties_and_extreme_values():
    image = np.zeros((4, 9, 11), np.float32)
    image[1, 4, 5] = np.finfo(np.float32).max
    image[2, ::2] = -np.finfo(np.float32).max
    image[0, 3] = -0.0
    image[3] = 7.0
    out = median_filter(image, radius=1, units="voxels")
    np.testing.assert_array_equal(out, ndimage.median_filter(image, size=3, mode="nearest"))
    extremes = np.array([-32768, 32767], np.int16)[np.random.default_rng(1).integers(0, 2, (5, 8, 13))]
    np.testing.assert_array_equal(
        median_filter(extremes, radius=1, units="voxels"), ndimage.median_filter(extremes, size=3, mode="nearest")
    )


def test_large_footprints_use_the_numpy_network():
    assert _compiled_median.median_kernel([(0, 0, d) for d in range(-14, 15)], (0, 0, 14)) is None
    image = _volume(np.int16, (3, 20, 30))
    out = median_filter(image, radius=2, footprint="ball", spacing=(1.0, 1.0, 1.0))  # 33 elements
    fp = denoise.footprint(2, (1.0, 1.0, 1.0), shape="ball")
    assert fp.sum() > _compiled_median.MAX_ELEMENTS
    np.testing.assert_array_equal(out, ndimage.median_filter(image, footprint=fp, mode="nearest"))


def test_kernels_are_written_to_the_configured_cache_and_reused_by_a_new_process(tmp_path):
    code = (
        "import numpy as np, time\n"
        "from napari_medimg.processing.denoise import median_filter\n"
        "t = time.perf_counter()\n"
        "median_filter(np.arange(60, dtype=np.int16).reshape(3, 4, 5), radius=1, units='voxels')\n"
        "print(time.perf_counter() - t)\n"
    )
    env = {"NAPARI_MEDIMG_KERNEL_CACHE": str(tmp_path), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    first = float(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout)
    assert sorted(p.name for p in tmp_path.glob("median_27_*.py"))
    assert list((tmp_path / "__pycache__").glob("*.nbi")), "numba did not cache the machine code"
    second = float(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout)
    # the second process loads the cached machine code instead of compiling again
    assert second < first


def test_unwritable_cache_falls_back_to_the_temporary_folder(monkeypatch, tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    monkeypatch.setenv("NAPARI_MEDIMG_KERNEL_CACHE", str(blocked / "kernels"))
    folder = _compiled_median.kernel_cache_dir()
    assert folder != blocked / "kernels" and folder.is_dir()


def test_an_edited_kernel_file_is_written_again(monkeypatch, tmp_path):
    """The generated source is checked before it is imported: a damaged or edited file is replaced."""
    monkeypatch.setenv("NAPARI_MEDIMG_KERNEL_CACHE", str(tmp_path))
    _compiled_median._compiled.cache_clear()
    try:
        _compiled_median._compiled(9)
        (path,) = tmp_path.glob("median_9_*.py")
        expected = path.read_text()
        path.write_text("raise SystemExit('not ours')\n")
        _compiled_median._compiled.cache_clear()
        _compiled_median._compiled(9)
        assert path.read_text() == expected
    finally:
        _compiled_median._compiled.cache_clear()
