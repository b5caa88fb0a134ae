"""Automatic thresholds equal scikit-image's on the selected voxels."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import filters

from napari_medimg.processing import threshold as th


def _image(dtype, seed=0):
    rng = np.random.default_rng(seed)
    a = np.concatenate([rng.normal(100, 10, 3000), rng.normal(160, 15, 2000), rng.normal(220, 8, 1000)])
    a = rng.permutation(a).reshape(6, 10, 100)
    return np.round(a).astype(dtype) if np.issubdtype(dtype, np.integer) else a.astype(dtype)


@pytest.mark.parametrize("dtype", [np.int16, np.uint8, np.float32, np.float64])
@pytest.mark.parametrize("method", ["otsu", "yen", "isodata", "triangle", "li", "mean"])
def test_levels_equal_skimage_with_and_without_mask(dtype, method, monkeypatch):
    monkeypatch.setattr(th, "_SLAB_VOXELS", 1500)  # several slabs: the chunked histogram must add up
    image = _image(dtype)
    mask = np.zeros(image.shape, bool)
    mask[:, :, 30:] = True
    reference = {
        "otsu": filters.threshold_otsu,
        "yen": filters.threshold_yen,
        "isodata": filters.threshold_isodata,
        "triangle": filters.threshold_triangle,
        "li": filters.threshold_li,
        "mean": filters.threshold_mean,
    }[method]
    for m, values in ((None, image.ravel()), (mask, image[mask])):
        assert th.threshold_value(image, method=method, mask=m) == pytest.approx(float(reference(values)), rel=1e-6)


def test_threshold_auto_mask_invert_and_nan():
    image = np.array([[0, 0, 10, 10], [0, 0, 10, np.nan]], np.float32)
    out = th.threshold_auto(image, method="otsu")
    assert out.dtype == np.uint8 and out.tolist() == [[0, 0, 1, 1], [0, 0, 1, 0]]
    inverted = th.threshold_auto(image, method="otsu", invert=True)
    assert inverted.tolist() == [[1, 1, 0, 0], [1, 1, 0, 0]]  # NaN is never foreground
    mask = np.array([[0, 1, 1, 0], [0, 0, 0, 0]])
    assert th.threshold_auto(image, mask=mask).tolist() == [[0, 0, 1, 0], [0, 0, 0, 0]]


def test_threshold_errors():
    image = np.arange(10, dtype=np.float32)
    with pytest.raises(ValueError, match="mask is empty"):
        th.threshold_auto(image, mask=np.zeros(10))
    with pytest.raises(ValueError, match="shape"):
        th.threshold_auto(image, mask=np.ones(3))
    with pytest.raises(ValueError, match="two values"):
        th.threshold_auto(np.ones(5))
    with pytest.raises(ValueError, match="no finite voxel"):
        th.threshold_auto(np.full(4, np.nan, np.float32))
    with pytest.raises(ValueError, match="method must be"):
        th.threshold_value(image, method="magic")


def test_multi_otsu_labels_by_intensity_and_matches_skimage():
    image = _image(np.uint8)
    labels = th.threshold_multi_otsu(image, classes=3)
    assert labels.dtype == np.uint8 and set(np.unique(labels)) == {1, 2, 3}
    levels = filters.threshold_multiotsu(image, classes=3)
    np.testing.assert_array_equal(labels, 1 + (image > levels[0]) + (image > levels[1]))
    means = [image[labels == k].mean() for k in (1, 2, 3)]
    assert means[0] < means[1] < means[2]
    assert abs(means[0] - 100) < 5 and abs(means[2] - 220) < 10
    # inside a mask: outside is 0, levels come from the mask only
    mask = image > 130
    inside = th.threshold_multi_otsu(image, classes=2, mask=mask)
    assert inside[~mask].max() == 0 and set(np.unique(inside[mask])) == {1, 2}
    # a wide int16 range is binned (nbins) rather than one bin per level
    wide = (_image(np.float32) * 20).astype(np.int16)
    wide_labels = th.threshold_multi_otsu(wide, classes=3)
    assert (wide_labels == labels).mean() > 0.99


def test_threshold_local_block_size_in_mm():
    # a bright step on a ramp: global Otsu fails on the ramp, the local threshold finds both squares
    y, x = np.mgrid[0:100, 0:100].astype(np.float32)
    image = x * 2.0
    image[20:30, 10:20] += 30
    image[20:30, 80:90] += 30
    out = th.threshold_local(image, block_size=10.0, offset=5.0, spacing=(0.5, 0.5))
    assert out.dtype == np.uint8
    assert out[22:28, 12:18].all() and out[22:28, 82:88].all()
    assert out[50:, :].sum() == 0
    # a volume is done slice by slice, identical to the 2D call on each slice
    vol = np.stack([image, image[::-1]])
    out3 = th.threshold_local(vol, block_size=10.0, offset=5.0, spacing=(3.0, 0.5, 0.5))
    np.testing.assert_array_equal(out3[0], out)
    np.testing.assert_array_equal(out3[1], th.threshold_local(image[::-1], block_size=10.0, offset=5.0, spacing=(0.5, 0.5)))
