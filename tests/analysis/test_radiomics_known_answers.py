"""Known answers on tiny synthetic arrays, computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from napari_medimg.analysis.radiomics import extract
from napari_medimg.analysis.radiomics import gldm, glrlm, glszm, ngtdm, shape, shape2d
from napari_medimg.analysis.radiomics.neighbours import generate_angles
from napari_medimg.analysis.radiomics.preprocessing import bin_edges
from napari_medimg.analysis.radiomics.settings import resolve_settings
from napari_medimg.volume import Volume


def _one_slice(array: np.ndarray) -> tuple[Volume, Volume]:
    image = Volume.from_array(np.asarray(array, dtype=np.int16)[None])
    mask = Volume.from_array(np.ones((1,) + np.shape(array), dtype=np.uint8))
    return image, mask


def test_checkerboard_glcm_by_hand():
    # 4x4 checkerboard of 0 / 25 -> levels 1 / 2 (binWidth 25); 4 in-plane offsets.
    # Horizontal and vertical: 12 pairs, always different -> p = [[0, .5], [.5, 0]].
    # Diagonals: 9 pairs, always equal, 5 of one level and 4 of the other
    # -> p = diag(5/9, 4/9) (order swapped between the two diagonals).
    board = (np.indices((4, 4)).sum(axis=0) % 2) * 25
    out = extract(*_one_slice(board), {"binWidth": 25}, feature_classes=["glcm"])
    h59 = -(5 / 9 * np.log2(5 / 9) + 4 / 9 * np.log2(4 / 9))
    assert out["original_glcm_Contrast"] == pytest.approx(0.5)  # (1 + 1 + 0 + 0) / 4
    assert out["original_glcm_JointEnergy"] == pytest.approx((0.5 + 0.5 + 2 * 41 / 81) / 4)
    assert out["original_glcm_JointEntropy"] == pytest.approx((1 + 1 + 2 * h59) / 4)
    assert out["original_glcm_Correlation"] == pytest.approx(0.0, abs=1e-12)  # (-1 - 1 + 1 + 1) / 4
    assert out["original_glcm_JointAverage"] == pytest.approx(1.5)  # (1.5 + 1.5 + 13/9 + 14/9) / 4
    assert out["original_glcm_DifferenceAverage"] == pytest.approx(0.5)
    assert out["original_glcm_Id"] == pytest.approx(0.75)  # (1/2 + 1/2 + 1 + 1) / 4
    assert out["original_glcm_MaximumProbability"] == pytest.approx((0.5 + 0.5 + 2 * 5 / 9) / 4)


def test_angles_are_pyradiomics_order():
    angles = generate_angles((5, 5, 5), [1], bidirectional=False)
    assert len(angles) == 13
    assert angles[0].tolist() == [1, 1, 1] and angles[-1].tolist() == [0, 0, 1]
    assert len(generate_angles((5, 5, 5), [1], bidirectional=True)) == 26
    assert len(generate_angles((1, 5, 5), [1], bidirectional=True)) == 8  # one slice: in-plane only
    assert len(generate_angles((5, 5, 5), [1], bidirectional=False, force2d_dimension=0)) == 4
    assert len(generate_angles((9, 9, 9), [1, 2], bidirectional=True)) == 124


# pyradiomics' documentation example (5x5, five grey levels)
EXAMPLE = np.array([[5, 2, 5, 4, 4], [3, 3, 3, 1, 3], [2, 1, 1, 1, 3], [4, 2, 2, 2, 3], [3, 5, 3, 3, 2]])


def test_glrlm_rows_of_the_example():
    levels = EXAMPLE[None].astype(np.int32)
    mask = np.ones_like(levels, dtype=bool)
    gl, rl = glrlm._runs(levels, mask, np.array([0, 0, 1]))  # runs along x
    p = np.zeros((5, 5))
    np.add.at(p, (gl - 1, rl - 1), 1)
    expected = [[1, 0, 1, 0, 0], [3, 0, 1, 0, 0], [4, 1, 1, 0, 0], [1, 1, 0, 0, 0], [3, 0, 0, 0, 0]]
    np.testing.assert_array_equal(p, expected)


def test_glszm_of_the_example_8_connected():
    levels = EXAMPLE[None].astype(np.int32)
    mask = np.ones_like(levels, dtype=bool)
    p, present = glszm.glszm_matrix(levels, mask, resolve_settings({}))
    expected = [[0, 0, 0, 1, 0], [1, 0, 0, 0, 1], [1, 0, 1, 0, 1], [1, 1, 0, 0, 0], [3, 0, 0, 0, 0]]
    np.testing.assert_array_equal(p, expected)
    np.testing.assert_array_equal(present, [1, 2, 3, 4, 5])


def test_ngtdm_of_the_documented_4x4():
    image = np.array([[1, 2, 5, 2], [3, 5, 1, 3], [1, 3, 5, 5], [3, 1, 1, 1]])[None].astype(np.int32)
    table = ngtdm.ngtdm_matrix(image, np.ones_like(image, dtype=bool), resolve_settings({}))
    np.testing.assert_array_equal(table[:, 2], [1, 2, 3, 5])  # level 4 absent
    np.testing.assert_array_equal(table[:, 0], [6, 2, 4, 4])
    # s_1 = |1-10/3| + |1-30/8| + |1-15/5| + |1-13/5| + |1-15/5| + |1-11/3|, s_2 = 2 * |2 - 3|,
    # s_3 = |3-12/5| + |3-18/5| + |3-20/8| + |3-5/3|, s_5 = |5-13/5| + |5-21/8| + |5-20/8| + |5-11/5|
    np.testing.assert_allclose(table[:, 1], [13.35, 2.0, 0.6 + 0.6 + 0.5 + 4 / 3, 2.4 + 2.375 + 2.5 + 2.8])


def test_gldm_of_a_uniform_cube():
    # 3x3x3 block, one level: corners have 7 dependent neighbours, edges 11, faces 17, centre 26
    levels = np.ones((3, 3, 3), dtype=np.int32)
    p, jv, _ = gldm.gldm_matrix(levels, levels.astype(bool), resolve_settings({}))
    np.testing.assert_array_equal(jv - 1, [7, 11, 17, 26])
    np.testing.assert_array_equal(p, [[8, 12, 6, 1]])


def test_first_order_by_hand():
    values = np.array([[0, 10], [20, 30]])  # one slice, binWidth 20 -> bins {0,10}, {20,30}
    out = extract(*_one_slice(values), {"binWidth": 20}, feature_classes=["firstorder"])
    assert out["original_firstorder_Mean"] == 15
    assert out["original_firstorder_Variance"] == pytest.approx(125.0)
    assert out["original_firstorder_Range"] == 30
    assert out["original_firstorder_Entropy"] == pytest.approx(1.0)
    assert out["original_firstorder_Uniformity"] == pytest.approx(0.5)
    assert out["original_firstorder_Energy"] == 0 + 100 + 400 + 900
    assert out["original_firstorder_Median"] == 15
    assert out["original_firstorder_10Percentile"] == pytest.approx(3.0)


def test_bin_edges_are_multiples_of_the_width():
    edges = bin_edges(np.array([54, 100, 166]), {"binWidth": 25})
    np.testing.assert_array_equal(edges, [50, 75, 100, 125, 150, 175, 200])
    flat = bin_edges(np.array([50, 50]), {"binWidth": 25})
    np.testing.assert_array_equal(flat, [50, 75])


@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), (2.0, 1.0, 0.5)])
def test_single_voxel_mesh_is_an_octahedron(spacing):
    # vertices at the six face centres (+-s/2 on each axis): volume = (4/3) a b c, and 8 faces
    mask = np.ones((1, 1, 1), dtype=bool)
    area, volume, vertices = shape.mesh_coefficients(mask, spacing)
    a, b, c = (s / 2 for s in spacing)
    assert volume == pytest.approx(4 / 3 * a * b * c)
    face = 0.5 * np.linalg.norm(np.cross([-a, b, 0], [-a, 0, c]))
    assert area == pytest.approx(8 * face)
    assert len(vertices) == 6


def test_shape_of_a_box_axis_lengths_and_volume():
    mask = np.zeros((3, 4, 10), dtype=bool)
    mask[1, 1:3, :] = True  # 1 x 2 x 10 voxels
    out = shape.compute(mask, (1.0, 1.0, 1.0))
    assert out["VoxelVolume"] == 20
    assert out["MajorAxisLength"] == pytest.approx(4 * np.sqrt((10**2 - 1) / 12))
    assert out["MinorAxisLength"] == pytest.approx(4 * np.sqrt((2**2 - 1) / 12))
    assert out["LeastAxisLength"] == pytest.approx(0, abs=1e-6)
    # the mesh of a straight bar loses a tetrahedral corner and a prism edge strip
    assert 0 < out["MeshVolume"] < out["VoxelVolume"]
    assert 10 <= out["Maximum3DDiameter"] <= np.sqrt(10**2 + 2**2 + 1**2)


def test_single_pixel_contour_is_a_diamond():
    perimeter, surface, vertices = shape2d.contour_coefficients(np.ones((1, 1), dtype=bool), (1.0, 1.0))
    assert surface == pytest.approx(0.5)
    assert perimeter == pytest.approx(4 * np.sqrt(0.5))
    assert len(vertices) == 4


def test_shape2d_square_with_hole():
    mask = np.ones((5, 5), dtype=bool)
    mask[2, 2] = False
    perimeter, surface, _ = shape2d.contour_coefficients(mask, (1.0, 1.0))
    # outer contour: 5x5 square with its 4 corners cut (24 area + 4 * 1/2 - 4 * 1/8 ...)
    outer = 25 - 4 * 0.125 - 0.5  # minus a diamond of 1/2 around the hole
    assert surface == pytest.approx(outer)
