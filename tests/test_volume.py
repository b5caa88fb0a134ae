import numpy as np
import pytest

from napari_medimg import Volume


def test_index_to_world_matches_the_itk_formula():
    # ITK: world = origin + D @ (spacing * index), all in x, y, z.
    d_itk = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
    spacing_itk = np.array([0.5, 0.7, 3.0])
    origin_itk = np.array([10.0, -20.0, 30.0])
    volume = Volume(
        np.zeros((4, 5, 6), np.int16),
        spacing=tuple(spacing_itk[::-1]),
        origin=tuple(origin_itk[::-1]),
        direction=d_itk[::-1, ::-1],
    )
    index_itk = np.array([5.0, 4.0, 3.0])
    expected_itk = origin_itk + d_itk @ (spacing_itk * index_itk)
    world = volume.index_to_world(index_itk[::-1])
    np.testing.assert_allclose(world[::-1], expected_itk)
    np.testing.assert_allclose(volume.world_to_index(world), index_itk[::-1])
    geometry = volume.itk_geometry()
    assert geometry["size"] == [6, 5, 4]
    assert geometry["spacing"] == list(spacing_itk)
    assert geometry["origin"] == list(origin_itk)
    assert geometry["direction"] == list(d_itk.ravel())


def test_four_d_size_and_spatial_shape():
    volume = Volume(np.zeros((10, 15, 8, 9), np.uint16), (4.0, 2.0, 2.0), (0, 0, 0), np.eye(3))
    assert volume.spatial_shape == (15, 8, 9)
    assert volume.leading_shape == (10,)
    assert volume.itk_geometry()["size"] == [9, 8, 15, 10]


def test_rgb_spatial_shape():
    volume = Volume(np.zeros((20, 30, 3), np.uint8), (0.1, 0.2), (0, 0), np.eye(2), rgb=True)
    assert volume.spatial_shape == (20, 30)
    assert volume.itk_geometry()["size"] == [30, 20]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"spacing": (1.0, 0.0, 1.0)}, "positive"),
        ({"origin": (0.0, 0.0)}, "origin has 2 entries"),
        ({"spacing": (1.0,), "origin": (0.0,), "direction": np.eye(1)}, "2 or 3 spatial axes"),
    ],
)
def test_bad_geometry_is_refused(kwargs, message):
    base = {"array": np.zeros((2, 3, 4)), "spacing": (1.0, 1.0, 1.0), "origin": (0.0, 0.0, 0.0), "direction": np.eye(3)}
    base.update(kwargs)
    with pytest.raises(ValueError, match=message):
        Volume(**base)


def test_obliquity_degrees():
    angle = np.radians(10.0)
    rotation = np.array([[1, 0, 0], [0, np.cos(angle), -np.sin(angle)], [0, np.sin(angle), np.cos(angle)]])
    volume = Volume(np.zeros((2, 2, 2)), (1, 1, 1), (0, 0, 0), rotation)
    assert volume.obliquity_degrees == pytest.approx(10.0)
    assert not volume.is_axis_aligned
