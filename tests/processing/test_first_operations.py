"""Known answers for the first registered operations."""

from __future__ import annotations

import numpy as np
import pytest

from napari_medimg import Volume
from napari_medimg.operations import KINDS, OPERATIONS, get_operation, list_operations, run_operation
from napari_medimg.processing.denoise import gaussian
from napari_medimg.processing.enhance import window
from napari_medimg.processing.segment import clear_border, connected_components, keep_largest, threshold_range


def test_registry_names_are_unique_and_loadable():
    names = [op.name for op in OPERATIONS]
    assert len(names) == len(set(names))
    for op in OPERATIONS:
        assert callable(op.load())
        assert op.input_kind in ("image", "labels") and op.output_kind in KINDS
        assert op.description, f"{op.name} needs a docstring"
        for parameter in op.parameters:
            assert parameter.help
            if not parameter.is_layer:
                assert parameter.convert(parameter.default) == parameter.default
    assert {op.name for op in list_operations("Threshold") + list_operations("Grow")} >= {"threshold", "threshold_auto", "region_grow"}


def test_parameter_conversion_errors_name_the_parameter():
    op = get_operation("gaussian")
    assert op.resolve({"sigma": "2.5"}) == {"sigma": 2.5}
    with pytest.raises(ValueError, match="sigma must be at least 0.0"):
        op.resolve({"sigma": -1})
    with pytest.raises(ValueError, match="sigma must be float"):
        op.resolve({"sigma": "wide"})
    with pytest.raises(KeyError, match="no parameter 'radius'"):
        op.resolve({"radius": 1})
    with pytest.raises(KeyError, match="known: window"):
        get_operation("nope")


@pytest.mark.parametrize("dtype", [np.int16, np.uint8, np.float32, np.float64])
def test_window_known_values(dtype):
    values = np.array([0, 10, 20, 30, 40], dtype=dtype)
    out = window(values, center=20, width=20)
    np.testing.assert_allclose(out, [0, 0, 0.5, 1, 1])
    assert out.dtype == (np.float64 if dtype == np.float64 else np.float32)


def test_gaussian_sigma_is_in_mm_per_axis():
    # 2 mm on 0.5 x 0.5 x 5 mm voxels: 4 voxels in-plane, 0.4 across.
    impulse = np.zeros((21, 41, 41), np.float32)
    impulse[10, 20, 20] = 1
    out = gaussian(impulse, sigma=2.0, spacing=(5.0, 0.5, 0.5))
    assert out.dtype == np.float32
    assert out.sum() == pytest.approx(1.0, abs=1e-5)
    coords = np.indices(out.shape) - np.array([10, 20, 20])[:, None, None, None]
    variances = [(out * c**2).sum() for c in coords]
    np.testing.assert_allclose(np.sqrt(variances[1:]), [4.0, 4.0], rtol=1e-3)
    # across slices sigma is 0.4 voxel: neighbour / centre weight = exp(-1 / (2 * 0.4**2))
    assert out[11, 20, 20] / out[10, 20, 20] == pytest.approx(np.exp(-1 / (2 * 0.4**2)), rel=1e-4)


def test_gaussian_through_registry_keeps_geometry():
    volume = Volume(np.zeros((3, 8, 8), np.int16), (5.0, 0.5, 0.5), (1, 2, 3), np.eye(3), {"modality": "CT"})
    out = run_operation("gaussian", volume, sigma=1.0)
    assert out.spacing == volume.spacing and out.origin == volume.origin
    assert out.array.dtype == np.float32
    assert out.metadata["history"] == [{"operation": "gaussian", "parameters": {"sigma": 1.0}}]


def test_threshold_and_components_with_volume_in_mm3():
    image = np.zeros((1, 10, 10), np.int16)
    image[0, 1:3, 1:3] = -800  # 4 voxels
    image[0, 5:9, 5:9] = -700  # 16 voxels
    mask = threshold_range(image, lower=-1000, upper=-400)
    assert mask.dtype == np.uint8 and mask.sum() == 20
    labels = connected_components(mask, min_volume=10.0, spacing=(1.0, 1.0, 1.0))
    assert labels.dtype == np.uint8
    assert sorted(np.unique(labels)) == [0, 1]
    assert np.count_nonzero(labels) == 16
    # same objects on 2 mm voxels are 8x larger in volume: both pass 10 mm3
    assert connected_components(mask, min_volume=10.0, spacing=(2.0, 2.0, 2.0)).max() == 2


def test_clear_border_and_keep_largest():
    mask = np.zeros((3, 10, 10), np.uint8)
    mask[:, 0:2, 0:2] = 1  # touches the in-plane border
    mask[1, 4:6, 4:6] = 1
    mask[:, 7:9, 3:8] = 1
    kept = clear_border(mask)
    assert kept[:, 0:2, 0:2].max() == 0
    assert kept.max() == 2 and kept[1, 7, 3] == 1  # the largest is label 1
    largest = keep_largest(mask, count=1)
    assert np.count_nonzero(largest) == 30


def test_seed_points_from_csv_map_to_voxels(tmp_path):
    from napari_medimg.operations import Parameter, seeds_to_indices

    volume = Volume(np.zeros((10, 20, 30), np.int16), (5.0, 0.5, 0.5), (100.0, -20.0, 30.0), np.eye(3))
    csv = tmp_path / "seeds.csv"
    csv.write_text("z,y,x\n110,-19,35\n145, -15.25 ,44.5\n")
    parameter = Parameter("seeds", np.ndarray, None, layer_kind="points", help="seeds")
    world = parameter.convert(str(csv))
    indices, frames = seeds_to_indices(world, volume)
    np.testing.assert_array_equal(indices, [[2, 2, 10], [9, 10, 29]])
    assert frames is None
    # a single volume ignores a leading coordinate; a series takes it as the frame
    np.testing.assert_array_equal(seeds_to_indices(np.array([[3.0, 110, -19, 35]]), volume)[0], [[2, 2, 10]])
    series = Volume(np.zeros((4, 10, 20, 30), np.int16), volume.spacing, volume.origin, np.eye(3))
    indices, frames = seeds_to_indices(np.array([[3.0, 110, -19, 35]]), series)
    np.testing.assert_array_equal(frames, [[3]])
    with pytest.raises(ValueError, match="give each point its frame"):
        seeds_to_indices(world, series)
    with pytest.raises(ValueError, match="point 1 at .* is outside the image"):
        seeds_to_indices(np.array([[0.0, 0.0, 0.0]]), volume)
    with pytest.raises(ValueError, match="give at least one point"):
        parameter.convert(None)


def test_series_run_frame_by_frame_and_seeds_grow_in_their_frame():
    # frame 0: one big ball; frame 1: a small remnant and a second ball
    series = np.zeros((2, 20, 20, 20), np.uint8)
    zz, yy, xx = np.indices((20, 20, 20))
    series[0][(zz - 6) ** 2 + (yy - 6) ** 2 + (xx - 6) ** 2 <= 16] = 1
    series[1][(zz - 14) ** 2 + (yy - 14) ** 2 + (xx - 14) ** 2 <= 4] = 1
    series[1, 5:7, 5, 5] = 1
    volume = Volume(series, (1.0, 1.0, 1.0), (0.0, 0.0, 0.0), np.eye(3))
    out = run_operation("connected_components", volume, min_volume=10.0)
    np.testing.assert_array_equal(out.array[1], connected_components(series[1], min_volume=10.0))
    assert out.array.shape == series.shape
    bright = np.zeros((2, 20, 20, 20), np.float32)
    bright[1][(zz - 12) ** 2 + (yy - 12) ** 2 + (xx - 12) ** 2 <= 36] = 100
    bright += np.random.default_rng(0).normal(0, 1, bright.shape).astype(np.float32)
    image = Volume(bright, (1.0, 1.0, 1.0), (0.0, 0.0, 0.0), np.eye(3))
    grown = run_operation("region_grow", image, seeds=np.array([[1.0, 12.0, 12.0, 12.0]]), sigma=0.0, radius=3.0)
    assert grown.array[0].max() == 0  # no seed in frame 0
    ball = bright[1] > 50
    assert np.count_nonzero((grown.array[1] > 0) & ball) / np.count_nonzero(ball) > 0.99  # mean +- 2 std of noise


def test_colour_images_filter_per_channel_and_segment_on_luminance():
    rgb = np.zeros((21, 21, 3), np.uint8)
    rgb[10, 10, 0] = 255
    volume = Volume(rgb, (1.0, 1.0), (0.0, 0.0), np.eye(2), rgb=True)
    smooth = run_operation("gaussian", volume, sigma=2.0)
    assert smooth.rgb and smooth.array.shape == (21, 21, 3)
    assert smooth.array[..., 1].max() == 0 and smooth.array[..., 2].max() == 0  # no bleeding across colours
    np.testing.assert_allclose(smooth.array[:, 10, 0], smooth.array[10, :, 0], rtol=1e-5)  # isotropic in y, x
    mask = run_operation("threshold", volume, lower=50, upper=300)
    assert not mask.rgb and mask.array.shape == (21, 21) and mask.array[10, 10] == 1  # luminance 76


def test_derived_images_drop_the_ct_window_and_filters_keep_it():
    ct = Volume(np.zeros((2, 8, 8), np.int16), (1.0, 1.0, 1.0), (0, 0, 0), np.eye(3), {"modality": "CT", "units": "HU", "window_presets": [{"name": "lung", "center": -600.0, "width": 1500.0}]})
    assert run_operation("gaussian", ct, sigma=1.0).metadata["units"] == "HU"
    windowed = run_operation("window_preset", ct, preset="lung")
    assert windowed.metadata["units"] == "" and "window_presets" not in windowed.metadata
