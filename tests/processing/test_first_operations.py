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
    assert {op.name for op in list_operations("Segment")} >= {"threshold", "threshold_auto", "region_grow"}


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
    np.testing.assert_array_equal(seeds_to_indices(world, volume), [[2, 2, 10], [9, 10, 29]])
    # a time coordinate in front is ignored
    np.testing.assert_array_equal(seeds_to_indices(np.array([[3.0, 110, -19, 35]]), volume), [[2, 2, 10]])
    with pytest.raises(ValueError, match="point 1 at .* is outside the image"):
        seeds_to_indices(np.array([[0.0, 0.0, 0.0]]), volume)
    with pytest.raises(ValueError, match="give at least one point"):
        parameter.convert(None)
