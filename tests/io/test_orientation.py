import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from napari_medimg import Volume, read
from napari_medimg.io.orientation import to_nearest_axes, undo_reorientation


@pytest.mark.parametrize("seed", range(20))
def test_reorientation_keeps_world_positions_and_undoes_exactly(seed):
    rng = np.random.default_rng(seed)
    signed_permutation = np.eye(3)[rng.permutation(3)] * rng.choice([-1, 1], 3)
    tilt = Rotation.from_rotvec(rng.normal(size=3) * 0.15).as_matrix()
    volume = Volume(
        rng.integers(0, 1000, (2, 5, 6, 7)).astype(np.int16), (1.0, 2.0, 3.0), tuple(rng.normal(size=3) * 50), tilt @ signed_permutation
    )
    shown, how = to_nearest_axes(volume)
    # each array axis now follows its nearest world axis, in the positive sense
    np.testing.assert_array_equal(np.abs(shown.direction).argmax(axis=0), [0, 1, 2])
    assert np.all(np.diag(shown.direction) > 0)
    for index in ([0, 0, 0], [4, 5, 6], [2, 1, 3]):
        world = volume.index_to_world(index)
        moved = np.round(shown.world_to_index(world)).astype(int)
        np.testing.assert_allclose(shown.index_to_world(moved), world, atol=1e-9)
        assert shown.array[(1, *moved)] == volume.array[(1, *index)]
    back = undo_reorientation(shown, how)
    np.testing.assert_array_equal(back.array, volume.array)
    np.testing.assert_allclose(back.direction, volume.direction, atol=1e-12)
    np.testing.assert_allclose(back.origin, volume.origin, atol=1e-9)
    assert back.spacing == volume.spacing


def test_brain1_rows_are_flipped_to_posterior(shared_data):
    volume = read(shared_data / "mr/pyradiomics/brain1_image.nrrd")
    shown, how = to_nearest_axes(volume)
    assert how.order == (0, 1, 2) and how.flips == (False, True, False)
    assert shown.is_axis_aligned
    np.testing.assert_array_equal(shown.array, volume.array[:, ::-1, :])
    # the new first row is the old last row: origin moves 255 rows along -y (LPS)
    assert shown.origin[1] == pytest.approx(volume.origin[1] - 255 * 0.78125)
