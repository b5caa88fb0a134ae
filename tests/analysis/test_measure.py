"""Per-label measurements: a reference on real data (TotalSegmentator's statistics), agreement
with the radiomics shape class, and known answers on synthetic shapes."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest

from napari_medimg import read
from napari_medimg.volume import check_same_grid
from napari_medimg.analysis.measure import (
    measure_labels,
    per_slice_area,
    to_layer_features,
    write_csv,
)
from napari_medimg.analysis.radiomics import extract
from napari_medimg.progress import OperationCancelled
from napari_medimg.volume import Volume

SHAPE_3D = {
    "volume_mm3": "VoxelVolume",
    "mesh_volume_mm3": "MeshVolume",
    "surface_area_mm2": "SurfaceArea",
    "sphericity": "Sphericity",
    "elongation": "Elongation",
    "flatness": "Flatness",
    "maximum_3d_diameter_mm": "Maximum3DDiameter",
}
SHAPE_2D = {
    "area_mm2": "PixelSurface",
    "mesh_area_mm2": "MeshSurface",
    "perimeter_mm": "Perimeter",
    "sphericity": "Sphericity",
    "elongation": "Elongation",
    "maximum_diameter_mm": "MaximumDiameter",
}


@pytest.fixture(scope="module")
def totalseg(shared_data):
    folder = shared_data / "ct/totalseg_example"
    ct = read(folder / "example_ct_sm.nii.gz")
    seg = read(folder / "example_seg_fast.nii.gz")
    names = json.loads((folder / "totalseg_class_map.json").read_text())["total"]
    stats = json.loads((folder / "statistics_example_seg_fast.json").read_text())
    return ct, seg, {name: int(k) for k, name in names.items()}, stats


@pytest.fixture(scope="module")
def brain1(shared_data):
    folder = shared_data / "mr/pyradiomics"
    return read(folder / "brain1_image.nrrd"), read(folder / "brain1_label.nrrd")


# --------------------------------------------------------------- real-data reference
def test_totalsegmentator_statistics_reproduced(totalseg):
    """Every organ of TotalSegmentator's statistics JSON: volume (mm³) exactly, mean HU to the
    JSON's 5 decimals. TotalSegmentator rounds (``round(x, 5)``), it does not truncate."""
    ct, seg, ids, stats = totalseg
    table = measure_labels(seg, ct, units="HU")
    rows = {int(label): k for k, label in enumerate(table["label"])}
    decimals = {len(repr(v["intensity"]).partition(".")[2]) for v in stats.values()}
    assert max(decimals) == 5  # trailing zeros dropped, e.g. 2.4381
    assert len(stats) == 117
    present = 0
    for organ, expected in stats.items():
        row = rows.get(ids[organ])
        if row is None:  # organ not segmented: TotalSegmentator writes 0.0 / 0.0
            assert expected == {"volume": 0.0, "intensity": 0.0}, organ
            continue
        present += 1
        assert table["volume_mm3"][row] == expected["volume"], organ
        assert table["volume_mm3"][row] == table["voxel_count"][row] * 27.0
        assert round(float(table["mean_HU"][row]), 5) == expected["intensity"], organ
    assert present == len(table["label"]) == 40  # and no label of the map is left unchecked


def test_measure_columns_and_units_from_metadata(totalseg):
    ct, seg, _, _ = totalseg
    table = measure_labels(seg, ct.with_array(ct.array, units="HU"), percentiles=(5, 50))
    assert list(table)[-6:] == ["mean_HU", "std_HU", "min_HU", "max_HU", "p5_HU", "p50_HU"]
    unitless = measure_labels(seg, ct, percentiles=(2.5,))
    assert list(unitless)[-5:] == ["mean", "std", "min", "max", "p2_5"]
    assert "mean_HU" not in unitless
    np.testing.assert_array_equal(table["volume_ml"], table["volume_mm3"] / 1000)
    # intensity statistics against numpy on the whole volume (liver, id 5)
    row = list(table["label"]).index(5)
    values = ct.array[seg.array == 5].astype(np.float64)
    assert table["mean_HU"][row] == pytest.approx(values.mean(), rel=1e-13)
    assert table["std_HU"][row] == pytest.approx(values.std(), rel=1e-12)
    assert (table["min_HU"][row], table["max_HU"][row]) == (values.min(), values.max())
    np.testing.assert_allclose([table["p5_HU"][row], table["p50_HU"][row]], np.percentile(values, [5, 50]))
    assert ct.array.dtype == np.int16  # measured without converting the CT


def test_shape_columns_equal_radiomics_shape_class(brain1):
    image, label = brain1
    table = measure_labels(label, image)
    reference = extract(image, label, {"label": 1}, feature_classes=["shape"])
    assert list(table["label"]) == [1]
    for column, feature in SHAPE_3D.items():
        assert table[column][0] == pytest.approx(reference[f"original_shape_{feature}"], rel=1e-12), column


def test_2d_shape_columns_equal_radiomics_shape2d(brain1):
    image, label = brain1
    k = 16
    image2d = Volume.from_array(image.array[k], spacing=image.spacing[1:], origin=image.origin[1:])
    label2d = Volume.from_array(label.array[k], spacing=label.spacing[1:], origin=label.origin[1:])
    table = measure_labels(label2d, image2d)
    reference = extract(image2d, label2d, {"label": 1}, feature_classes=["shape2D"])
    assert list(table)[:8] == [
        "label", "pixel_count", "area_mm2", "mesh_area_mm2", "perimeter_mm", "sphericity", "elongation",
        "maximum_diameter_mm",
    ]
    for column, feature in SHAPE_2D.items():
        assert table[column][0] == pytest.approx(reference[f"original_shape2D_{feature}"], rel=1e-12), column
    assert "centroid_y_mm" in table and "centroid_z_mm" not in table


# ------------------------------------------------------------------- known answers
def test_box_volume_centroid_and_bbox_in_world_mm():
    """A box on a grid with spacing, origin and a flipping/permuting direction."""
    labels = np.zeros((6, 8, 10), np.uint16)
    labels[1:4, 2:7, 3:5] = 300  # z 1..3, y 2..6, x 3..4 (indices of voxel centres)
    spacing = (2.0, 0.5, 1.5)
    origin = (10.0, -20.0, 30.0)
    # array z runs along world -y, array y along world +x, array x along world -z
    direction = np.array([[0.0, 0.0, -1.0], [-1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    volume = Volume(labels, spacing, origin, direction)
    table = measure_labels(volume)
    assert list(table["label"]) == [300]
    assert table["voxel_count"][0] == 3 * 5 * 2
    assert table["volume_mm3"][0] == pytest.approx(30 * 2.0 * 0.5 * 1.5)
    assert table["volume_ml"][0] == pytest.approx(0.045)
    # centre index (2, 4, 3.5): world z = 10 - 1.5*3.5, y = -20 - 2*2, x = 30 + 0.5*4
    assert table["centroid_z_mm"][0] == pytest.approx(10 - 5.25)
    assert table["centroid_y_mm"][0] == pytest.approx(-24.0)
    assert table["centroid_x_mm"][0] == pytest.approx(32.0)
    # voxel-centre extents: z from x index 3..4, y from z index 1..3, x from y index 2..6
    assert (table["bbox_min_z_mm"][0], table["bbox_max_z_mm"][0]) == pytest.approx((10 - 6.0, 10 - 4.5))
    assert (table["bbox_min_y_mm"][0], table["bbox_max_y_mm"][0]) == pytest.approx((-26.0, -22.0))
    assert (table["bbox_min_x_mm"][0], table["bbox_max_x_mm"][0]) == pytest.approx((31.0, 33.0))
    # agrees with Volume.index_to_world
    np.testing.assert_allclose(
        [table[f"centroid_{a}_mm"][0] for a in "zyx"], volume.index_to_world([2.0, 4.0, 3.5])
    )
    # box mesh: faces at half a voxel outside the centres, edges cut by marching cubes
    assert table["maximum_3d_diameter_mm"][0] > 0 and 0 < table["sphericity"][0] < 1


def test_ball_sphericity_and_volume():
    r = 15  # voxels, 0.5 mm
    z, y, x = np.ogrid[-r - 2 : r + 3, -r - 2 : r + 3, -r - 2 : r + 3]
    ball = (z * z + y * y + x * x <= r * r).astype(np.uint8)
    table = measure_labels(Volume.from_array(ball, spacing=(0.5, 0.5, 0.5)))
    exact = 4 / 3 * math.pi * (r * 0.5) ** 3
    assert table["volume_mm3"][0] == pytest.approx(exact, rel=5e-3)
    assert table["mesh_volume_mm3"][0] == pytest.approx(exact, rel=5e-3)
    # the midpoint marching-cubes mesh of a voxelised ball is faceted: its area is ~9 % too
    # large, so a ball's sphericity is ~0.91-0.92, not 1 (pyradiomics behaves the same)
    assert 0.90 < table["sphericity"][0] < 0.93
    assert table["elongation"][0] == pytest.approx(1.0, abs=1e-9)
    assert table["flatness"][0] == pytest.approx(1.0, abs=1e-9)
    assert table["maximum_3d_diameter_mm"][0] == pytest.approx(2 * r * 0.5, rel=0.05)


def test_ellipsoid_elongation_and_flatness_are_axis_ratios():
    spacing = (1.5, 1.0, 1.0)
    semi = (10.0, 20.0, 30.0)  # mm along z, y, x
    z, y, x = np.mgrid[-8:9, -22:23, -32:33].astype(float)
    inside = ((z * spacing[0] / semi[0]) ** 2 + (y / semi[1]) ** 2 + (x / semi[2]) ** 2) <= 1
    table = measure_labels(Volume.from_array(inside.astype(np.uint8) * 4, spacing=spacing))
    assert table["elongation"][0] == pytest.approx(20 / 30, rel=0.01)
    assert table["flatness"][0] == pytest.approx(10 / 30, rel=0.01)
    assert table["maximum_3d_diameter_mm"][0] == pytest.approx(60, rel=0.02)
    assert table["mesh_volume_mm3"][0] == pytest.approx(4 / 3 * math.pi * 6000, rel=0.01)


def test_many_labels_intensities_against_numpy():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 50, size=(20, 30, 40)).astype(np.uint8)
    image = rng.normal(100, 20, size=labels.shape).astype(np.float32)
    table = measure_labels(
        Volume.from_array(labels), Volume.from_array(image, metadata={"units": "a.u."}), shape=False
    )
    assert list(table["label"]) == list(range(1, 50))
    assert "mean_a_u" in table and np.isnan(table["sphericity"]).all()
    for k in (1, 17, 49):
        values = image[labels == k].astype(np.float64)
        row = k - 1
        assert table["voxel_count"][row] == values.size
        assert table["mean_a_u"][row] == pytest.approx(values.mean(), rel=1e-12)
        assert table["std_a_u"][row] == pytest.approx(values.std(), rel=1e-10)
        assert table["p90_a_u"][row] == pytest.approx(np.percentile(image[labels == k], 90), rel=1e-6)
        assert table["centroid_z_mm"][row] == pytest.approx(np.argwhere(labels == k)[:, 0].mean())


def test_sparse_huge_label_values_and_bool_labels():
    labels = np.zeros((4, 5, 6), np.uint64)
    labels[1, 1:3, 1:3] = 2**40
    labels[2:4, 3:5, 4:6] = 7
    table = measure_labels(Volume.from_array(labels))
    assert table["label"].tolist() == [7, 2**40]
    assert table["voxel_count"].tolist() == [8, 4]
    mask = measure_labels(Volume.from_array(labels > 0))
    assert mask["label"].tolist() == [1] and mask["voxel_count"].tolist() == [12]


def test_per_slice_area():
    labels = np.zeros((5, 6, 7), np.uint8)
    labels[1, 0:2, 0:3] = 1  # 6 pixels
    labels[3, 2:5, 1:5] = 1  # 12 pixels
    labels[2:4, 4, 6] = 2
    volume = Volume(labels, (5.0, 0.5, 0.25), (100.0, 0.0, 0.0), np.diag([-1.0, 1.0, 1.0]))
    table = per_slice_area(volume)
    assert table["label"].tolist() == [1, 1, 2, 2]
    assert table["slice"].tolist() == [1, 3, 2, 3]
    assert table["pixel_count"].tolist() == [6, 12, 1, 1]
    np.testing.assert_allclose(table["area_mm2"], np.array([6, 12, 1, 1]) * 0.125)
    # slice k lies at origin . direction[:, 0] + 5 k = -100 + 5 k along the z axis direction
    np.testing.assert_allclose(table["slice_position_mm"], [-95, -85, -90, -85])
    across_x = per_slice_area(volume, axis=2)
    assert across_x["label"].tolist() == [1] * 5 + [2]
    assert across_x["slice"].tolist() == [0, 1, 2, 3, 4, 6]
    np.testing.assert_allclose(across_x["area_mm2"][-1], 2 * 5.0 * 0.5)
    with pytest.raises(ValueError, match="3D"):
        per_slice_area(Volume.from_array(labels[0]))


# ----------------------------------------------------------------- napari and CSV
def test_to_layer_features_has_index_and_background_row():
    labels = np.zeros((3, 8, 8), np.uint8)
    labels[0, 1:3, 1:3] = 2
    labels[0, 5:8, 5:8] = 5
    table = measure_labels(Volume.from_array(labels))
    features = to_layer_features(table)
    assert list(features)[0] == "index" and "label" not in features
    assert features["index"].tolist() == [0, 2, 5]
    assert np.isnan(features["volume_mm3"][0]) and features["voxel_count"][0] == 0
    assert features["volume_mm3"][1:].tolist() == [4.0, 9.0]
    import napari

    layer = napari.layers.Labels(labels, features=features)
    assert "volume_mm3: 9" in layer.get_status((0, 6, 6))["coordinates"]  # label 5 -> its row
    assert "volume_mm3: 4" in layer.get_status((0, 1, 1))["coordinates"]  # label 2 -> its row
    assert "volume_mm3" not in layer.get_status((0, 0, 5))["coordinates"]  # background row: NaN


def test_write_csv_full_precision(tmp_path):
    labels = np.eye(5, dtype=np.uint8)[None].repeat(3, 0)
    table = measure_labels(Volume.from_array(labels, spacing=(0.3, 0.7, 1 / 3)))
    path = write_csv(table, tmp_path / "sub" / "m.csv")
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == list(table)
    assert rows[1][0] == "1" and rows[1][1] == "15"
    for name, text in zip(rows[0], rows[1]):
        value = float(text)
        assert value == table[name][0] or (math.isnan(value) and math.isnan(table[name][0])), name


# ----------------------------------------------------------------- errors, progress
def test_grid_mismatch_is_reported():
    labels = Volume.from_array(np.ones((4, 5, 6), np.uint8), spacing=(2.0, 1.0, 1.0), origin=(0.0, 0.0, 0.0))
    image = labels.with_array(np.zeros((4, 5, 6), np.int16))
    measure_labels(labels, image)  # same grid
    nearly = Volume(image.array, (2.0, 1.00000001, 1.0), (1e-6, 0.0, 0.0), np.eye(3))
    measure_labels(labels, nearly)  # within tolerance (float32 header rounding)
    cases = {
        "shapes": Volume.from_array(np.zeros((4, 5, 7)), spacing=(2.0, 1.0, 1.0)),
        "spacing": Volume.from_array(image.array, spacing=(2.0, 1.1, 1.0)),
        "origin": Volume.from_array(image.array, spacing=(2.0, 1.0, 1.0), origin=(0.0, 0.5, 0.0)),
        "direction": Volume(image.array, (2.0, 1.0, 1.0), (0.0, 0.0, 0.0), np.diag([1.0, -1.0, 1.0])),
    }
    for what, other in cases.items():
        with pytest.raises(ValueError, match=f"different {what}.*resample"):
            measure_labels(labels, other)
        with pytest.raises(ValueError, match=f"different {what}"):
            check_same_grid(other, labels)


def test_bad_labels_and_images():
    with pytest.raises(ValueError, match="negative"):
        measure_labels(Volume.from_array(np.array([[[0, -1], [2, 2]]], np.int16)))
    with pytest.raises(ValueError, match="whole numbers"):
        measure_labels(Volume.from_array(np.full((2, 2, 2), 0.5)))
    with pytest.raises(ValueError, match="time point"):
        measure_labels(Volume.from_array(np.ones((2, 3, 4, 5), np.uint8), spacing=(1.0, 1.0, 1.0)))
    labels = Volume.from_array(np.ones((2, 3, 4), np.uint8))
    image = np.zeros((2, 3, 4), np.float32)
    image[1, 1, 1] = np.nan
    with pytest.raises(ValueError, match="NaN .*inside label 1"):
        measure_labels(labels, labels.with_array(image))


def test_empty_labels_give_an_empty_table_with_columns():
    empty = Volume.from_array(np.zeros((3, 4, 5), np.uint8))
    table = measure_labels(empty, empty.with_array(np.zeros((3, 4, 5), np.float32), units="HU"))
    assert "volume_mm3" in table and "p90_HU" in table
    assert all(len(column) == 0 for column in table.values())
    assert to_layer_features(table)["index"].tolist() == [0]


def test_progress_and_cancel():
    labels = Volume.from_array(np.arange(24, dtype=np.uint8).reshape(2, 3, 4))
    seen: list[float] = []
    measure_labels(labels, progress=seen.append, shape=False)
    assert seen == sorted(seen) and seen[-1] == 1.0 and len(seen) >= 23
    with pytest.raises(OperationCancelled):
        measure_labels(labels, cancel=lambda: True)
