"""Known answers for cropping to a box and to labels."""

from __future__ import annotations

import numpy as np
import pytest

from napari_medimg import Volume, read
from napari_medimg.processing.crop import crop_to_box, crop_to_labels, labels_bounding_box
from napari_medimg.volume import check_same_grid


def tilted() -> np.ndarray:
    c, s = np.cos(np.radians(25)), np.sin(np.radians(25))
    return np.array([[1.0, 0, 0], [0, c, -s], [0, s, c]])


def test_crop_to_box_moves_the_origin_by_exact_mm_and_copies():
    array = np.arange(10 * 20 * 30, dtype=np.int16).reshape(10, 20, 30)
    volume = Volume(array, (5.0, 0.5, 0.25), (1.0, 2.0, 3.0), tilted(), {"modality": "CT", "warnings": []})
    out = crop_to_box(volume, start=(2, 4, 8), stop=(5, 10, None))
    assert out.array.shape == (3, 6, 22)
    np.testing.assert_array_equal(out.array, array[2:5, 4:10, 8:])
    # origin + direction @ (spacing * start): 10 mm, 2 mm, 2 mm along the three axes.
    expected = np.array([1.0, 2.0, 3.0]) + tilted() @ np.array([10.0, 2.0, 2.0])
    np.testing.assert_allclose(out.origin, expected)
    assert out.spacing == volume.spacing
    np.testing.assert_array_equal(out.direction, volume.direction)
    # The same voxel keeps its world position.
    np.testing.assert_allclose(out.index_to_world([1, 2, 3]), volume.index_to_world([3, 6, 11]))
    assert not np.shares_memory(out.array, array) and out.array.base is None
    assert out.metadata == volume.metadata and out.metadata["warnings"] is not volume.metadata["warnings"]


def test_crop_to_box_keeps_time_and_colour_axes():
    series = Volume(np.zeros((4, 5, 6, 7), np.float32), (1.0, 1.0, 1.0), (0.0,) * 3, np.eye(3))
    assert crop_to_box(series, start=(1, 1, 1), stop=(3, 4, 5)).array.shape == (4, 2, 3, 4)
    rgb = Volume(np.zeros((8, 9, 3), np.uint8), (0.5, 0.5), (0.0, 0.0), np.eye(2), rgb=True)
    out = crop_to_box(rgb, start=(2, 3))
    assert out.array.shape == (6, 6, 3) and out.rgb and out.origin == (1.0, 1.5)


@pytest.mark.parametrize(
    "start, stop, match",
    [((0, 0, 0), (11, 5, 5), "outside"), ((3, 0, 0), (3, 5, 5), "empty"), ((-1, 0, 0), None, "outside"),
     ((0, 0), None, "one index per spatial axis"), ((0.5, 0, 0), None, "whole voxel indices")],
)
def test_crop_to_box_errors(start, stop, match):
    volume = Volume(np.zeros((10, 5, 5)), (1.0,) * 3, (0.0,) * 3, np.eye(3))
    with pytest.raises(ValueError, match=match):
        crop_to_box(volume, start=start, stop=stop)


def test_margin_in_mm_is_converted_per_axis_and_clipped():
    # 10 mm on 5 x 0.5 x 0.5 mm voxels: 2 slices across, 20 voxels in-plane.
    image = Volume(np.zeros((30, 200, 200), np.int16), (5.0, 0.5, 0.5), (0.0, 0.0, 0.0), tilted())
    seg = np.zeros(image.array.shape, np.uint8)
    seg[10:12, 50:60, 100:101] = 1
    seg[20, 190, 195] = 2
    labels = image.with_array(seg)
    assert labels_bounding_box(labels, margin_mm=10.0, label=1) == ((8, 30, 80), (14, 80, 121))
    # Label 2 is 10 voxels from the in-plane edges: its margin is clipped to the image.
    assert labels_bounding_box(labels, margin_mm=10.0, label=2) == ((18, 170, 175), (23, 200, 200))
    # All non-zero labels; a margin that is not a whole number of voxels is rounded up.
    assert labels_bounding_box(labels, margin_mm=6.0) == ((8, 38, 88), (23, 200, 200))
    assert labels_bounding_box(labels, margin_mm=6.0, label=0) == ((8, 38, 88), (23, 200, 200))
    out = crop_to_labels(image, labels, margin_mm=10.0, label=1)
    assert out.array.shape == (6, 50, 41)
    expected = image.index_to_world(np.array([8, 30, 80]))
    np.testing.assert_allclose(out.origin, expected)
    np.testing.assert_allclose(out.origin, tilted() @ np.array([40.0, 15.0, 40.0]))
    assert out.array.base is None


def test_crop_to_labels_with_4d_labels_and_images():
    array = np.arange(2 * 6 * 7 * 8).reshape(2, 6, 7, 8).astype(np.float32)
    image = Volume(array, (2.0, 1.0, 1.0), (0.0,) * 3, np.eye(3))
    seg = np.zeros((2, 6, 7, 8), np.uint8)
    seg[0, 1, 2, 3] = 1
    seg[1, 4, 5, 6] = 1
    out = crop_to_labels(image, image.with_array(seg), margin_mm=0.0)
    np.testing.assert_array_equal(out.array, image.array[:, 1:5, 2:6, 3:7])


def test_crop_to_labels_errors():
    image = Volume(np.zeros((4, 10, 10), np.int16), (3.0, 1.0, 1.0), (0.0, 0.0, 0.0), np.eye(3))
    empty = image.with_array(np.zeros((4, 10, 10), np.uint8))
    with pytest.raises(ValueError, match="empty"):
        crop_to_labels(image, empty)
    seg = np.zeros((4, 10, 10), np.uint8)
    seg[1, 2, 3] = 4
    with pytest.raises(ValueError, match=r"label 2 does not occur.*present: 4"):
        crop_to_labels(image, image.with_array(seg), label=2)
    with pytest.raises(ValueError, match="margin_mm"):
        crop_to_labels(image, image.with_array(seg), margin_mm=-1.0)
    grid_errors = [
        (Volume(seg[:, :9], (3.0, 1.0, 1.0), (0.0,) * 3, np.eye(3)), "spatial shape"),
        (Volume(seg, (3.0, 1.0, 1.01), (0.0,) * 3, np.eye(3)), "spacing"),
        (Volume(seg, (3.0, 1.0, 1.0), (0.0, 0.0, 0.5), np.eye(3)), "origin"),
        (Volume(seg, (3.0, 1.0, 1.0), (0.0,) * 3, tilted()), "direction"),
    ]
    for labels, match in grid_errors:
        with pytest.raises(ValueError, match=f"{match}.*resample_to_reference"):
            crop_to_labels(image, labels)
    # float32 rounding of stored geometry is tolerated.
    close = Volume(seg, (3.0000001, 1.0, 1.0), (1e-5, 0.0, -1e-5), np.eye(3) + 1e-7)
    check_same_grid(image, close)
    assert crop_to_labels(image, close, margin_mm=0.0).array.shape == (1, 1, 1)


def test_crop_ct_to_the_pulmonary_artery(shared_data):
    folder = shared_data / "ct" / "totalseg_example"
    ct = read(folder / "ct_cropped.nii.gz")
    artery = read(folder / "pulmonary_artery.nii.gz")
    out = crop_to_labels(ct, artery, margin_mm=10.0)
    start, stop = labels_bounding_box(artery, margin_mm=10.0)
    cropped_labels = crop_to_box(artery, start=start, stop=stop)
    assert np.count_nonzero(cropped_labels.array) == np.count_nonzero(artery.array)
    assert out.array.shape == cropped_labels.array.shape and out.array.dtype == np.int16
    # 10 mm at 1.5 mm is 7 voxels (rounded up) wherever the image allows.
    nz = np.argwhere(artery.array)
    for axis in range(3):
        assert start[axis] == max(0, nz[:, axis].min() - 7)
        assert stop[axis] == min(ct.array.shape[axis], nz[:, axis].max() + 1 + 7)
    np.testing.assert_allclose(out.origin, np.asarray(ct.origin) + 1.5 * np.asarray(start), atol=1e-9)
    np.testing.assert_array_equal(out.array, ct.array[tuple(slice(a, b) for a, b in zip(start, stop))])
