"""Morphology in mm: SimpleITK results equal scipy with the documented ellipsoid."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from napari_medimg.processing import morphology as mo


@pytest.fixture(scope="module")
def blobs():
    rng = np.random.default_rng(1)
    noise = ndimage.gaussian_filter(rng.normal(size=(12, 40, 44)).astype(np.float32), (1, 2, 2))
    mask = noise > 0.05
    mask[0, 5:15, 5:15] = True  # touches the first slice
    mask[:, 0:6, 20:30] = True  # touches the in-plane border
    return mask


def test_ball_footprint_is_an_ellipsoid_in_voxels():
    fp = mo.ball_footprint(2.0, (2.0, 1.0, 1.0))
    assert fp.shape == (3, 5, 5)
    assert mo.ball_radius_voxels(2.0, (6.5, 0.78, 0.78)) == (0, 3, 3)
    assert fp[1, 2, :].all() and fp[:, 2, 2].all() and not fp[0, 0, 0]
    assert mo.ball_footprint(1.0, (1.0, 1.0)).sum() == 9  # ITK's radius-1 disc is the 3 x 3 square
    assert mo.ball_footprint(2.0, (1.0, 1.0)).sum() == 21


@pytest.mark.parametrize("radius,spacing", [(2.0, (3.0, 1.0, 1.0)), (3.0, (1.0, 1.5, 0.8)), (1.0, (5.0, 0.5, 0.5))])
def test_sitk_morphology_equals_scipy(blobs, radius, spacing):
    fp = mo.ball_footprint(radius, spacing)
    pad = [(k // 2, k // 2) for k in fp.shape]
    dil = ndimage.binary_dilation(blobs, fp)
    ero = ndimage.binary_erosion(blobs, fp, border_value=1)
    opened = ndimage.binary_dilation(ndimage.binary_erosion(blobs, fp, border_value=1), fp)
    padded = np.pad(blobs, pad)
    closed = ndimage.binary_erosion(ndimage.binary_dilation(padded, fp), fp)[tuple(slice(a, -a or None) for a, _ in pad)]
    for function, expected in (
        (mo.binary_dilation, dil),
        (mo.binary_erosion, ero),
        (mo.binary_opening, opened),
        (mo.binary_closing, closed),
    ):
        out = function(blobs.astype(np.uint8), radius=radius, spacing=spacing)
        assert out.dtype == np.uint8
        np.testing.assert_array_equal(out.astype(bool), expected, err_msg=function.__name__)


def test_2d_dilation_and_zero_radius():
    image = np.zeros((9, 9), np.uint8)
    image[4, 4] = 1
    assert mo.binary_dilation(image, radius=2.0, spacing=(1.0, 1.0)).sum() == 21
    np.testing.assert_array_equal(mo.binary_erosion(image, radius=0.2, spacing=(1.0, 1.0)), image)


def test_fill_holes_3d_and_per_slice():
    shell = np.zeros((5, 9, 9), np.uint8)
    shell[1:4, 2:7, 2:7] = 1
    shell[2, 3:6, 3:6] = 0  # enclosed in 3D
    tube = np.zeros((5, 9, 9), np.uint8)
    tube[:, 2:7, 2:7] = 2
    tube[:, 4, 4] = 0  # open at both ends: a hole only per slice
    assert mo.fill_holes(shell).sum() == 75
    np.testing.assert_array_equal(mo.fill_holes(tube), tube)
    filled = mo.fill_holes(tube, per_slice=True)
    assert filled.dtype == np.uint8 and (filled == 2).sum() == 125


def test_enclosed_background_equals_scipy_fill_holes():
    rng = np.random.default_rng(0)
    for _ in range(150):
        shape = tuple(int(n) for n in rng.integers(1, 12, size=rng.choice([2, 3])))
        mask = rng.random(shape) < rng.uniform(0.2, 0.8)
        np.testing.assert_array_equal(mask | mo.enclosed_background(mask), ndimage.binary_fill_holes(mask))
        if mask.ndim == 3:
            for axis in range(3):
                planes = [ndimage.binary_fill_holes(p) for p in np.moveaxis(mask, axis, 0)]
                expected = np.moveaxis(np.stack(planes), 0, axis)
                np.testing.assert_array_equal(mask | mo.enclosed_background(mask, per_slice=True, axis=axis), expected)
                # the 3D holes are among the per-slice holes: filling 3D first changes nothing
                both = mo.fill_holes(mo.fill_holes(mask), per_slice=True, axis=axis)
                np.testing.assert_array_equal(both != 0, expected)


def test_remove_small_objects_in_mm3_keeps_label_values():
    labels = np.zeros((4, 10, 10), np.uint16)
    labels[0, 0:2, 0:2] = 7  # 4 voxels
    labels[1:4, 5:9, 5:9] = 3  # 48 voxels
    out = mo.remove_small_objects(labels, min_volume=20.0, spacing=(2.0, 1.0, 1.0))
    assert out.dtype == np.uint8 and set(np.unique(out)) == {0, 3}  # 8 mm3 dropped, 96 mm3 kept
    assert mo.remove_small_objects(labels, min_volume=5.0, spacing=(2.0, 1.0, 1.0)).max() == 7


def test_smooth_labels_removes_spurs_and_keeps_two_labels():
    labels = np.zeros((40, 40), np.uint8)
    labels[5:20, 5:35] = 1
    labels[20:35, 5:35] = 2
    labels[4, 20] = 1  # one-pixel spur
    out = mo.smooth_labels(labels, sigma=1.5, spacing=(1.0, 1.0))
    assert out[4, 20] == 0
    assert (out == labels).mean() > 0.98
    assert out[12, 20] == 1 and out[27, 20] == 2
    single = mo.smooth_labels((labels == 1).view(np.uint8), sigma=1.0, spacing=(1.0, 1.0))
    assert set(np.unique(single)) == {0, 1}


def test_label_summary():
    labels = np.zeros((2, 4, 4), np.uint8)
    labels[0, :2, :2] = 1
    labels[1] = 4
    rows = mo.label_summary(labels, spacing=(2.0, 0.5, 0.5))
    assert [r["label"] for r in rows] == [1, 4]
    assert rows[0]["voxel_count"] == 4 and rows[0]["volume_mm3"] == pytest.approx(2.0)
    assert rows[1]["volume_ml"] == pytest.approx(16 * 0.5 / 1000)
    assert mo.label_summary(np.zeros((3, 3), np.uint8)) == []


def test_per_slice_holes_in_chunks_equal_one_labelling(monkeypatch):
    """Per-slice hole filling labels a few slices at a time (small int32 labels); the holes
    are those of one labelling of the whole stack."""
    from napari_medimg.processing import morphology

    rng = np.random.default_rng(3)
    mask = ndimage.binary_opening(rng.random((23, 40, 37)) > 0.45)
    whole = morphology.enclosed_background(mask, per_slice=True, axis=1)
    monkeypatch.setattr(morphology, "_LABEL_CHUNK", 40 * 37 * 3)  # 3-slice chunks along axis 0
    for axis in (0, 1, 2):
        chunked = morphology.enclosed_background(mask, per_slice=True, axis=axis)
        expected = np.stack([ndimage.binary_fill_holes(s) & ~s for s in np.moveaxis(mask, axis, 0)])
        np.testing.assert_array_equal(np.moveaxis(chunked, axis, 0), expected)
    np.testing.assert_array_equal(morphology.enclosed_background(mask, per_slice=True, axis=1), whole)
