"""Clustering into labels ordered by intensity."""

from __future__ import annotations

import numpy as np
import pytest

from napari_medimg.processing import cluster


@pytest.fixture(scope="module")
def three_tissues():
    rng = np.random.default_rng(3)
    truth = np.ones((8, 40, 40), np.uint8)
    truth[:, :, 14:27] = 3
    truth[:, :, 27:] = 2
    means = np.array([0, 10.0, 60.0, 30.0])  # label 2 (x >= 27) is darker than label 3
    image = means[truth] + rng.normal(0, 4, truth.shape)
    return image.astype(np.float32), truth


@pytest.mark.parametrize("method", ["kmeans", "gmm"])
def test_classes_are_ordered_by_intensity(three_tissues, method):
    image, truth = three_tissues
    labels = cluster.cluster_intensity(image, method=method, n_classes=3, spacing=(3.0, 1.0, 1.0))
    assert labels.dtype == np.uint8
    expected = np.array([0, 1, 3, 2])[truth]  # 1 = darkest (10), 2 = middle (30), 3 = brightest (60)
    assert (labels == expected).mean() > 0.99


def test_smoothed_and_position_features_and_mask_nan(three_tissues):
    image, truth = three_tissues
    noisy = image + np.random.default_rng(1).normal(0, 10, image.shape).astype(np.float32)
    plain = cluster.kmeans(noisy, n_classes=3, spacing=(3.0, 1.0, 1.0))
    smoothed = cluster.kmeans(noisy, n_classes=3, sigma=1.0, spacing=(3.0, 1.0, 1.0))
    expected = np.array([0, 1, 3, 2])[truth]
    assert (smoothed == expected).mean() > (plain == expected).mean() + 0.05
    positioned = cluster.gaussian_mixture(image, n_classes=3, position_weight=0.5, spacing=(3.0, 1.0, 1.0))
    assert (positioned == expected).mean() > 0.95
    with_nan = image.copy()
    with_nan[0, 0, 0] = np.nan
    mask = np.zeros(image.shape, bool)
    mask[:, :, 20:] = True
    out = cluster.kmeans(with_nan, n_classes=2, mask=mask)
    assert out[0, 0, 0] == 0 and out[~mask].max() == 0
    assert set(np.unique(out[mask])) == {1, 2}
    # reproducible (fixed seed)
    np.testing.assert_array_equal(out, cluster.kmeans(with_nan, n_classes=2, mask=mask))
    with pytest.raises(ValueError, match="method"):
        cluster.cluster_intensity(image, method="dbscan")
