"""Known answers for resampling, agreement with SimpleITK, and real data."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from napari_medimg import Volume, read
from napari_medimg.io.sitk_convert import volume_to_sitk
from napari_medimg.processing.resample import (
    Grid,
    axis_aligned_grid,
    resample_axis_aligned,
    resample_isotropic,
    resample_to_grid,
    resample_to_reference,
    resample_to_spacing,
    spacing_grid,
)
from napari_medimg.progress import OperationCancelled


def rotation(degrees: float, axes: tuple[int, int] = (1, 2)) -> np.ndarray:
    c, s = np.cos(np.radians(degrees)), np.sin(np.radians(degrees))
    d = np.eye(3)
    i, j = axes
    d[i, i], d[i, j], d[j, i], d[j, j] = c, -s, s, c
    return d


def box_edges(volume: Volume) -> tuple[np.ndarray, np.ndarray]:
    """World positions of the outer edges of the first and last voxel (index -0.5, n-0.5)."""
    shape = np.asarray(volume.spatial_shape)
    return volume.index_to_world(np.full(len(shape), -0.5)), volume.index_to_world(shape - 0.5)


def sitk_direct(
    volume: Volume, grid: Grid, interpolator: int, pixel_type: int, default=0.0, extrapolate=False
):
    """One-shot sitk.Resample onto the physical grid, for comparison."""
    ref = sitk.Image([int(s) for s in grid.shape[::-1]], sitk.sitkUInt8)
    ref.SetSpacing(grid.spacing[::-1])
    ref.SetOrigin(grid.origin[::-1])
    ref.SetDirection([float(v) for v in np.asarray(grid.direction)[::-1, ::-1].ravel()])
    out = sitk.Resample(
        volume_to_sitk(volume), ref, sitk.Transform(), interpolator, default, pixel_type, extrapolate
    )
    return sitk.GetArrayFromImage(out)


@pytest.fixture
def ramp() -> Volume:
    """A linear function of world position on an oblique 2 x 2 x 5 mm grid."""
    volume = Volume(np.zeros((8, 12, 10), np.float32), (5.0, 2.0, 2.0), (3.0, -7.0, 11.0), rotation(20))
    world = volume.index_to_world(np.stack(np.indices(volume.spatial_shape), axis=-1))
    volume.array = (world @ np.array([0.5, -1.0, 2.0]) + 100).astype(np.float32)
    return volume


# ------------------------------------------------------------------------- geometry
def test_spacing_grid_keeps_the_physical_box_and_moves_the_origin_by_half_the_spacing_change():
    volume = Volume(np.zeros((6, 10, 10), np.int16), (5.0, 2.0, 2.0), (10.0, 20.0, 30.0), np.eye(3))
    out = resample_to_spacing(volume, spacing=1.0)
    assert out.array.shape == (30, 20, 20)
    assert out.spacing == (1.0, 1.0, 1.0)
    # origin + (new - old) / 2 along each axis: (10 - 2, 20 - 0.5, 30 - 0.5)
    np.testing.assert_allclose(out.origin, (8.0, 19.5, 29.5))
    for a, b in zip(box_edges(volume), box_edges(out)):
        np.testing.assert_allclose(a, b, atol=1e-9)
    np.testing.assert_array_equal(out.direction, np.eye(3))


def test_spacing_grid_rounds_the_size_half_up_and_follows_the_direction():
    direction = rotation(30)
    volume = Volume(np.zeros((25, 7, 9)), (6.5, 0.7, 0.7), (1.0, 2.0, 3.0), direction)
    grid = spacing_grid(volume, (1.0, 0.5, 0.6))
    assert grid.shape == (163, 10, 11)  # 162.5 -> 163, 9.8 -> 10, 10.5 -> 11
    expected = np.asarray(volume.origin) + direction @ ((np.array([1.0, 0.5, 0.6]) - volume.spacing) / 2)
    np.testing.assert_allclose(grid.origin, expected)
    np.testing.assert_array_equal(grid.direction, direction)


def test_linear_ramp_stays_the_same_ramp_at_every_output_point(ramp):
    out = resample_to_spacing(ramp, spacing=(2.0, 1.5, 0.75))
    assert out.array.dtype == np.float32
    np.testing.assert_array_equal(out.direction, ramp.direction)
    world = out.index_to_world(np.stack(np.indices(out.spatial_shape), axis=-1))
    expected = world @ np.array([0.5, -1.0, 2.0]) + 100
    # Inside the span of input voxel centres linear interpolation of a linear function is exact;
    # the outer half voxel is extrapolated with the edge value.
    index = ramp.world_to_index(world)
    inside = np.all((index >= 0) & (index <= np.asarray(ramp.spatial_shape) - 1), axis=-1)
    assert inside.sum() > 0.5 * inside.size
    np.testing.assert_allclose(out.array[inside], expected[inside], atol=2e-4)
    # No artificial background at the borders: extrapolated voxels stay within the data range.
    assert out.array.min() >= ramp.array.min() - 1e-3 and out.array.max() <= ramp.array.max() + 1e-3


def test_shared_physical_points_keep_their_values():
    rng = np.random.default_rng(1)
    array = rng.normal(size=(5, 6, 7)).astype(np.float32)
    volume = Volume(array, (3.0, 3.0, 3.0), (0.0, 0.0, 0.0), np.eye(3))
    # 3 mm -> 1 mm: every third output voxel (offset 1) is centred on an input voxel.
    out = resample_to_spacing(volume, spacing=1.0)
    np.testing.assert_allclose(out.array[1::3, 1::3, 1::3], volume.array, atol=1e-6)


def test_round_trip_1mm_to_half_mm_and_back_is_nearly_identity():
    index = np.stack(np.indices((30, 32, 34)), axis=-1).astype(np.float64)
    smooth = np.exp(-((index - [15, 16, 17]) ** 2 / [8.0**2, 9.0**2, 10.0**2]).sum(-1)).astype(np.float32)
    volume = Volume(smooth * 1000, (1.0, 1.0, 1.0), (4.0, 5.0, 6.0), rotation(15))
    fine = resample_to_spacing(volume, spacing=0.5)
    back = resample_to_spacing(fine, spacing=1.0)
    assert back.array.shape == volume.array.shape
    np.testing.assert_allclose(back.origin, volume.origin, atol=1e-9)
    np.testing.assert_allclose(back.direction, volume.direction)
    assert np.abs(back.array - volume.array).max() < 0.02 * 1000


@pytest.mark.parametrize("interpolation", ["linear", "nearest", "bspline"])
def test_oblique_result_equals_simpleitk_one_shot_and_slabs_are_identical(ramp, interpolation):
    rng = np.random.default_rng(0)
    volume = ramp.with_array(rng.integers(-1000, 2000, ramp.array.shape).astype(np.int16))
    grid = spacing_grid(volume, (1.7, 0.9, 1.3))
    one = resample_to_grid(volume, grid, interpolation=interpolation, slabs=1)
    many = resample_to_grid(volume, grid, interpolation=interpolation, slabs=5, workers=3)
    np.testing.assert_array_equal(one.array, many.array)
    interpolator = {
        "linear": sitk.sitkLinear, "nearest": sitk.sitkNearestNeighbor, "bspline": sitk.sitkBSpline
    }
    pixel = sitk.sitkInt16 if interpolation == "nearest" else sitk.sitkFloat32
    expected = sitk_direct(volume, grid, interpolator[interpolation], pixel)
    assert one.array.dtype == expected.dtype
    np.testing.assert_allclose(one.array, expected, atol=1e-3)
    np.testing.assert_array_equal(one.direction, volume.direction)


# ---------------------------------------------------------------------------- dtypes
@pytest.mark.parametrize(
    "dtype, interpolation, expected",
    [
        (np.int16, "linear", np.float32),
        (np.int16, "bspline", np.float32),
        (np.int16, "nearest", np.int16),
        (np.uint8, "linear", np.float32),
        (np.float32, "linear", np.float32),
        (np.float64, "linear", np.float64),
        (np.float64, "nearest", np.float64),
        (np.uint8, "label", np.uint8),
        (np.uint16, "label", np.uint16),
        (np.int32, "label", np.int32),
        (np.bool_, "label", np.bool_),
        (np.bool_, "nearest", np.bool_),
    ],
)
def test_dtype_rules(dtype, interpolation, expected):
    array = (np.arange(4 * 5 * 6).reshape(4, 5, 6) % 3).astype(dtype)
    volume = Volume(array, (2.0, 1.0, 1.0), (0.0, 0.0, 0.0), np.eye(3), {"modality": "CT", "warnings": ["w"]})
    out = resample_to_spacing(volume, spacing=(1.0, 0.5, 0.5), interpolation=interpolation)
    assert out.array.dtype == expected
    assert out.metadata == volume.metadata and out.metadata["warnings"] is not volume.metadata["warnings"]


# ---------------------------------------------------------------------------- labels
def test_nearest_and_label_interpolation_give_only_existing_label_values():
    rng = np.random.default_rng(3)
    labels = rng.choice(np.array([0, 3, 7, 300], np.uint16), size=(6, 9, 8))
    volume = Volume(labels, (3.0, 1.1, 0.9), (0.0, 0.0, 0.0), rotation(10))
    for interpolation in ("nearest", "label"):
        out = resample_to_spacing(volume, spacing=0.7, interpolation=interpolation)
        assert out.array.dtype == np.uint16
        assert set(np.unique(out.array)) <= {0, 3, 7, 300}
        assert set(np.unique(out.array)) == {0, 3, 7, 300}


def test_label_interpolation_keeps_a_thin_structure_that_nearest_loses():
    # 0.5 mm -> 1 mm: each output voxel centre lies exactly between two input voxels.
    # Nearest neighbour rounds up and keeps only odd input columns: a one-voxel plane in
    # an even column vanishes. Label interpolation weighs both (0.5 / 0.5) and keeps it.
    labels = np.zeros((4, 20, 40), np.uint8)
    labels[:, :, 10] = 1  # even column
    labels[:, :, 25] = 2  # odd column
    labels[:, 6:8, 30:38] = 3  # a small 2-voxel-thick bar
    volume = Volume(labels, (0.5, 0.5, 0.5), (0.0, 0.0, 0.0), np.eye(3))
    nearest = resample_to_spacing(volume, spacing=1.0, interpolation="nearest")
    label = resample_to_spacing(volume, spacing=1.0, interpolation="label")
    assert 1 not in nearest.array
    assert set(np.unique(label.array)) == {0, 1, 2, 3}
    # Where weights are clear the two agree: a block upsampled is the same except that
    # trilinear weights round its 8 outermost corner voxels off.
    block = np.zeros((8, 20, 20), np.uint8)
    block[2:6, 4:16, 6:14] = 5
    big = Volume(block, (1.0, 1.0, 1.0), (0.0, 0.0, 0.0), np.eye(3))
    a = resample_to_spacing(big, spacing=0.5, interpolation="nearest").array
    b = resample_to_spacing(big, spacing=0.5, interpolation="label").array
    assert np.count_nonzero(a != b) == 8 and np.count_nonzero(a) - np.count_nonzero(b) == 8


def test_label_interpolation_slabs_are_identical_and_default_value_marks_outside():
    rng = np.random.default_rng(5)
    labels = np.zeros((10, 30, 30), np.uint8)
    for value in range(1, 6):
        z, y, x = rng.integers(2, 25, 3)
        labels[min(z, 8) : min(z, 8) + 2, y : y + 5, x : x + 4] = value
    volume = Volume(labels, (2.0, 1.0, 1.0), (0.0, 0.0, 0.0), rotation(12))
    grid = spacing_grid(volume, 0.8)
    one = resample_to_grid(volume, grid, interpolation="label", slabs=1)
    many = resample_to_grid(volume, grid, interpolation="label", slabs=6, workers=3)
    np.testing.assert_array_equal(one.array, many.array)
    # A reference grid half outside the labels: outside voxels get the default value.
    volume = Volume(labels, (2.0, 1.0, 1.0), (0.0, 0.0, 0.0), np.eye(3))
    shifted = Volume(np.zeros((10, 30, 30)), (2.0, 1.0, 1.0), (0.0, 0.0, 15.0), np.eye(3))
    out = resample_to_reference(volume, shifted, interpolation="label", default_value=255)
    assert np.all(out.array[:, :, 15:] == 255) and 255 not in out.array[:, :, :15]
    np.testing.assert_array_equal(out.array[:, :, :15], labels[:, :, 15:])


def test_labels_volume_refuses_linear_and_float_refuses_label():
    labels = Volume(np.ones((3, 4, 5), np.uint8), (1.0,) * 3, (0.0,) * 3, np.eye(3), {"kind": "labels"})
    with pytest.raises(ValueError, match="use 'label' or 'nearest'"):
        resample_to_spacing(labels, spacing=0.5)
    image = Volume(np.ones((3, 4, 5), np.float32), (1.0,) * 3, (0.0,) * 3, np.eye(3))
    with pytest.raises(ValueError, match="integer label volumes"):
        resample_to_spacing(image, spacing=0.5, interpolation="label")
    with pytest.raises(ValueError, match="interpolation must be one of"):
        resample_to_spacing(image, spacing=0.5, interpolation="cubic")
    with pytest.raises(ValueError, match="one value per spatial axis"):
        resample_to_spacing(image, spacing=(1.0, 2.0))
    with pytest.raises(ValueError, match="positive"):
        resample_to_spacing(image, spacing=0.0)
    rgb = Volume(np.zeros((4, 5, 3), np.uint8), (1.0, 1.0), (0.0, 0.0), np.eye(2), rgb=True)
    with pytest.raises(ValueError, match="colour"):
        resample_to_spacing(rgb, spacing=0.5)
    with pytest.raises(ValueError, match="spatial axes"):
        resample_to_reference(image, rgb)


# ----------------------------------------------------------------- 4D, 2D, isotropic
def test_each_time_point_of_a_4d_series_is_resampled_like_a_3d_volume():
    rng = np.random.default_rng(2)
    series = rng.normal(size=(3, 5, 6, 7)).astype(np.float32)
    volume = Volume(series, (4.0, 1.0, 1.0), (1.0, 2.0, 3.0), rotation(5), {"time_spacing": 2.0})
    out = resample_isotropic(volume)
    assert out.array.shape == (3, 20, 6, 7) and out.spacing == (1.0, 1.0, 1.0)
    assert out.metadata["time_spacing"] == 2.0
    for t in range(3):
        single = resample_isotropic(Volume(series[t], volume.spacing, volume.origin, volume.direction))
        np.testing.assert_array_equal(out.array[t], single.array)


def test_2d_images_and_isotropic_default():
    array = np.add.outer(10 * np.arange(4), np.arange(5)).astype(np.float32)
    image = Volume(array, (2.0, 1.0), (0.0, 0.0), np.eye(2))
    out = resample_isotropic(image)
    assert out.array.shape == (8, 5) and out.spacing == (1.0, 1.0)
    # Row i is at 2 i mm with value 5 * (2 i): a ramp of 5 per mm, held constant past the end centres.
    world = out.origin[0] + np.arange(8) * 1.0
    np.testing.assert_allclose(world, np.arange(8) - 0.5)
    np.testing.assert_allclose(out.array[:, 2], np.clip(5 * world, 0, 30) + 2, atol=1e-5)


def test_progress_and_cancel_between_slabs():
    volume = Volume(np.zeros((20, 64, 64), np.int16), (1.0, 1.0, 1.0), (0.0,) * 3, np.eye(3))
    grid = spacing_grid(volume, 0.5)
    seen: list[float] = []
    resample_to_grid(volume, grid, slabs=8, workers=2, progress=seen.append)
    assert seen == sorted(seen) and seen[-1] == 1.0 and len(seen) == 8
    calls = []

    def cancel() -> bool:
        calls.append(1)
        return len(calls) > 3

    with pytest.raises(OperationCancelled):
        resample_to_grid(volume, grid, slabs=8, workers=1, cancel=cancel)
    with pytest.raises(OperationCancelled):
        resample_to_spacing(volume, spacing=0.5, cancel=lambda: True)


# ------------------------------------------------------------------------ axis-aligned
def test_axis_aligned_grid_covers_the_oblique_box_with_identity_direction(ramp):
    out = resample_axis_aligned(ramp)
    assert out.is_axis_aligned and out.spacing == ramp.spacing
    edges = [[-0.5, n - 0.5] for n in ramp.spatial_shape]
    corners = np.array(np.meshgrid(*edges, indexing="ij")).reshape(3, -1).T
    world = ramp.index_to_world(corners)
    out_low, out_high = box_edges(out)
    assert np.all(out_low <= world.min(0) + 1e-9) and np.all(out_high >= world.max(0) - 1e-9)
    assert np.all(out_high - out_low - (world.max(0) - world.min(0)) < np.asarray(out.spacing) + 1e-9)
    assert out.metadata["resampled_from_direction"] == ramp.direction.tolist()
    # Same function of world position wherever the output voxel is inside the oblique volume.
    points = out.index_to_world(np.stack(np.indices(out.spatial_shape), axis=-1))
    index = ramp.world_to_index(points)
    inside = np.all((index >= 0) & (index <= np.asarray(ramp.spatial_shape) - 1), axis=-1)
    expected = points @ np.array([0.5, -1.0, 2.0]) + 100
    np.testing.assert_allclose(out.array[inside], expected[inside], atol=2e-4)
    # Outside: the minimum of the volume by default.
    outside = np.any((index < -1) | (index > np.asarray(ramp.spatial_shape)), axis=-1)
    assert outside.any() and np.all(out.array[outside] == ramp.array.min())


def test_axis_aligned_only_permutes_and_flips_when_there_is_no_obliquity():
    # A sagittal-like volume: axes permuted and one flipped, no tilt -> no interpolation.
    direction = np.array([[0, 0, 1.0], [0, -1.0, 0], [1.0, 0, 0]])
    array = np.arange(2 * 3 * 4, dtype=np.int16).reshape(2, 3, 4)
    volume = Volume(array, (1.0, 2.0, 3.0), (5.0, 6.0, 7.0), direction)
    out = resample_axis_aligned(volume)
    assert out.is_axis_aligned and out.array.dtype == np.int16
    assert sorted(out.array.ravel().tolist()) == array.ravel().tolist()
    assert not np.shares_memory(out.array, array)
    for index in np.ndindex(array.shape):  # every voxel keeps its world position
        world = volume.index_to_world(index)
        assert out.array[tuple(np.round(out.world_to_index(world)).astype(int))] == array[index]
    assert axis_aligned_grid(volume).shape == out.array.shape


# --------------------------------------------------------------------------- real data
def test_heart_label_onto_the_ct_grid(shared_data):
    folder = shared_data / "ct" / "totalseg_example"
    ct = read(folder / "ct_cropped.nii.gz")
    heart = read(folder / "heart.nii.gz")
    assert heart.spatial_shape != ct.spatial_shape
    for interpolation in ("nearest", "label"):
        out = resample_to_reference(heart, ct, interpolation=interpolation)
        assert out.array.shape == ct.array.shape and out.array.dtype == heart.array.dtype
        np.testing.assert_allclose(out.origin, ct.origin)
        np.testing.assert_allclose(out.spacing, ct.spacing)
        # Every voxel equals the label at the same physical point.
        world = out.index_to_world(np.stack(np.indices(out.spatial_shape), axis=-1))
        index = np.round(heart.world_to_index(world)).astype(int)
        np.testing.assert_array_equal(out.array, heart.array[index[..., 0], index[..., 1], index[..., 2]])
        # SimpleITK directly, one shot.
        expected = sitk_direct(heart, Grid.of(ct), sitk.sitkNearestNeighbor, sitk.sitkUInt8)
        np.testing.assert_array_equal(out.array, expected)
        # The heart lies inside the CT crop: its volume in mL is kept.
        ml_before = np.count_nonzero(heart.array) * np.prod(heart.spacing) / 1000
        ml_after = np.count_nonzero(out.array) * np.prod(out.spacing) / 1000
        assert ml_after == pytest.approx(ml_before, rel=0.01)


def test_brain_tumour_to_isotropic_1mm_keeps_extent_and_volume(shared_data):
    folder = shared_data / "mr" / "pyradiomics"
    image = read(folder / "brain1_image.nrrd")
    labels = read(folder / "brain1_label.nrrd")
    out = resample_isotropic(image, spacing=1.0)
    assert out.spacing == (1.0, 1.0, 1.0) and out.array.dtype == np.float32
    assert out.array.shape[0] in (162, 163)  # 25 x 6.5 mm = 162.5 mm
    low, high = box_edges(image)
    out_low, out_high = box_edges(out)
    np.testing.assert_allclose(out_low, low, atol=1e-6)
    assert np.all(np.abs(out_high - high) <= 0.5 + 1e-6)
    ml = np.count_nonzero(labels.array) * np.prod(labels.spacing) / 1000
    for interpolation in ("nearest", "label"):
        resampled = resample_isotropic(labels, spacing=1.0, interpolation=interpolation)
        assert resampled.array.dtype == labels.array.dtype and resampled.array.shape == out.array.shape
        assert np.count_nonzero(resampled.array) / 1000 == pytest.approx(ml, rel=0.03)


def test_axis_aligned_for_a_tilted_sagittal_volume_with_flipped_rows():
    # Array axes (x, -y, z) in world, then tilted by 12 degrees: reoriented without loss
    # first (a strided view), then resampled.
    direction = rotation(12, (0, 1)) @ np.array([[0, 0, 1.0], [0, -1.0, 0], [1.0, 0, 0]])
    volume = Volume(np.zeros((9, 14, 11), np.float32), (3.0, 1.0, 1.5), (2.0, 3.0, 4.0), direction)
    world = volume.index_to_world(np.stack(np.indices(volume.spatial_shape), axis=-1))
    volume.array = (world @ np.array([1.0, 2.0, -0.5])).astype(np.float32)
    out = resample_axis_aligned(volume, default_value=-999)
    assert out.is_axis_aligned
    assert out.spacing == (1.5, 1.0, 3.0)  # each array axis now follows its nearest world axis
    points = out.index_to_world(np.stack(np.indices(out.spatial_shape), axis=-1))
    index = volume.world_to_index(points)
    inside = np.all((index >= 0) & (index <= np.asarray(volume.spatial_shape) - 1), axis=-1)
    assert inside.sum() > 0.4 * inside.size
    np.testing.assert_allclose(out.array[inside], (points @ np.array([1.0, 2.0, -0.5]))[inside], atol=2e-4)
    outside = np.any((index < -0.5 - 1e-6) | (index > np.asarray(volume.spatial_shape) - 0.5 + 1e-6), axis=-1)
    assert np.all(out.array[outside] == -999)


def test_progress_runs_over_all_time_points():
    series = Volume(np.zeros((3, 8, 64, 64), np.int16), (1.0, 1.0, 1.0), (0.0,) * 3, np.eye(3))
    seen: list[float] = []
    resample_to_grid(series, spacing_grid(series, 0.5), slabs=2, workers=1, progress=seen.append)
    np.testing.assert_allclose(seen, [1 / 6, 2 / 6, 3 / 6, 4 / 6, 5 / 6, 1.0])
