"""Local GLCM maps and LBP maps: exact agreement with scikit-image and brute force."""

from __future__ import annotations

import numpy as np
import pytest

from napari_medimg.analysis.texture import GLCM_FEATURES, glcm_map, glcm_maps, lbp_map, quantize


def _features(P: np.ndarray) -> dict[str, float]:
    p = P / P.sum()
    i, j = np.indices(p.shape) + 1
    mu = (p * i).sum()
    var = (p * (i - mu) ** 2).sum()
    nz = p[p > 0]
    return {
        "contrast": (p * (i - j) ** 2).sum(),
        "homogeneity": (p / (1 + (i - j) ** 2)).sum(),
        "energy": (p**2).sum(),
        "correlation": (p * (i - mu) * (j - mu)).sum() / var if var > 0 else 1.0,
        "entropy": -(nz * np.log2(nz)).sum(),
    }


def _brute_glcm(crop: np.ndarray, levels: int, d: int) -> np.ndarray:
    P = np.zeros((levels, levels))
    h, w = crop.shape
    for dy, dx in ((0, d), (d, d), (d, 0), (d, -d)):
        for y in range(h):
            for x in range(w):
                if 0 <= y + dy < h and 0 <= x + dx < w:
                    a, b = crop[y, x], crop[y + dy, x + dx]
                    P[a, b] += 1
                    P[b, a] += 1
    return P


def test_quantize():
    assert quantize(np.array([0.0, 0.49, 0.5, 1.0]), levels=2).tolist() == [1, 1, 2, 2]
    assert quantize(np.array([-5, 0, 50, 500]), levels=4, intensity_range=(0, 100)).tolist() == [1, 1, 3, 4]
    assert quantize(np.full(3, 7.0), levels=8).tolist() == [1, 1, 1]


def test_glcm_matches_scikit_image_graycomatrix():
    from skimage.feature import graycomatrix

    rng = np.random.default_rng(0)
    image = rng.normal(size=(30, 40)).cumsum(axis=1).astype(np.float32)
    levels = 6
    maps = glcm_maps(image, window=7.0, levels=levels)
    q = quantize(image, levels=levels) - 1
    for y, x in [(0, 0), (15, 20), (29, 39), (4, 37), (3, 3)]:
        crop = q[max(0, y - 3) : y + 4, max(0, x - 3) : x + 4]  # the window, clipped at the border
        P = graycomatrix(crop, [1], [0, np.pi / 4, np.pi / 2, 3 * np.pi / 4], levels=levels, symmetric=True)
        expected = _features(P.sum(axis=(2, 3)).astype(np.float64))
        for name in GLCM_FEATURES:
            assert maps[name][y, x] == pytest.approx(expected[name], abs=2e-5), (name, y, x)
    assert all(m.dtype == np.float32 and m.shape == image.shape for m in maps.values())


def test_glcm_distance_two_and_anisotropic_window_by_brute_force():
    rng = np.random.default_rng(1)
    image = rng.integers(0, 4, size=(14, 16)).astype(np.int16)
    levels = 4
    # 3 mm window on (0.5, 1.0) mm pixels: radius 3 rows, 1 column -> 7 x 3 pixels
    maps = glcm_maps(image, window=3.0, levels=levels, distance=1, spacing=(0.5, 1.0), intensity_range=(0, 4))
    q = quantize(image, levels=levels, intensity_range=(0, 4)) - 1
    for y, x in [(7, 8), (0, 0), (13, 15)]:
        crop = q[max(0, y - 3) : y + 4, max(0, x - 1) : x + 2]
        expected = _features(_brute_glcm(crop, levels, 1))
        for name in GLCM_FEATURES:
            assert maps[name][y, x] == pytest.approx(expected[name], abs=2e-5), (name, y, x)
    maps = glcm_maps(image, window=7.0, levels=levels, distance=2, intensity_range=(0, 4))
    for y, x in [(7, 8), (1, 14)]:
        crop = q[max(0, y - 3) : y + 4, max(0, x - 3) : x + 4]
        expected = _features(_brute_glcm(crop, levels, 2))
        for name in GLCM_FEATURES:
            assert maps[name][y, x] == pytest.approx(expected[name], abs=2e-5), (name, y, x)


def test_glcm_known_answers_stripes_and_flat():
    stripes = np.tile([0, 9], (12, 6)).astype(np.float32)  # vertical stripes, 1 px wide
    maps = glcm_maps(stripes, window=5.0, levels=2)
    # horizontal and both diagonals pair different levels, vertical pairs equal levels:
    # 5x5 window: horizontal 20 pairs, diagonals 16 + 16, vertical 20 -> contrast 52/72
    assert maps["contrast"][6, 6] == pytest.approx(52 / 72)
    q = quantize(stripes, levels=2) - 1
    expected = _features(_brute_glcm(q[4:9, 4:9], 2, 1))
    assert maps["correlation"][6, 6] == pytest.approx(expected["correlation"], abs=1e-5)
    assert expected["correlation"] < 0  # neighbours mostly differ
    flat = glcm_maps(np.ones((9, 9)), window=3.0, levels=4)
    assert np.all(flat["energy"] == 1) and np.all(flat["entropy"] == 0) and np.all(flat["correlation"] == 1)
    assert np.all(flat["homogeneity"] == 1) and np.all(flat["contrast"] == 0)


def test_glcm_and_lbp_on_real_mr(shared_data):
    from skimage.feature import graycomatrix, local_binary_pattern

    from napari_medimg.io import read

    volume = read(shared_data / "mr" / "pyradiomics" / "brain1_image.nrrd")
    sub = volume.array[10:13]
    fractions = []
    contrast = glcm_map(sub, feature="contrast", window=4.0, levels=8, spacing=volume.spacing, progress=fractions.append)
    assert contrast.shape == sub.shape and contrast.dtype == np.float32 and fractions[-1] == 1.0
    # 4 mm on 0.78 mm pixels: radius 2, a 5 x 5 window; check one pixel against scikit-image
    q = quantize(sub, levels=8) - 1
    y, x = 128, 100
    P = graycomatrix(q[1, y - 2 : y + 3, x - 2 : x + 3], [1], [0, np.pi / 4, np.pi / 2, 3 * np.pi / 4], levels=8,
                     symmetric=True).sum(axis=(2, 3)).astype(float)
    assert contrast[1, y, x] == pytest.approx(_features(P)["contrast"], abs=1e-5)
    codes = lbp_map(sub, radius=1.56, points=8, spacing=volume.spacing)  # 2 pixels
    assert codes.dtype == np.uint8 and codes.max() <= 9
    reference = local_binary_pattern(sub[1], 8, 1.56 / volume.spacing[1], method="uniform")
    np.testing.assert_array_equal(codes[1], reference)


def test_texture_errors():
    with pytest.raises(ValueError, match="too small"):
        glcm_maps(np.zeros((8, 8)), window=1.0)
    with pytest.raises(ValueError, match="unknown GLCM"):
        glcm_maps(np.zeros((8, 8)), features=("dissimilarity",))
    with pytest.raises(ValueError, match="radius"):
        lbp_map(np.zeros((8, 8)), radius=0.2)
