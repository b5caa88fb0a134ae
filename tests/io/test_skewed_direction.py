"""NRRD / MHA directions that are not orthonormal: positions kept exactly, and said so."""

from __future__ import annotations

import numpy as np
import pytest

from napari_medimg.io import read
from napari_medimg.io.warnings_codes import SKEWED_DIRECTION, warning_codes

VOXELS = np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6)


def _nrrd(path, directions: str):
    path.write_bytes(
        b"NRRD0004\ntype: short\ndimension: 3\nspace: left-posterior-superior\nsizes: 6 5 4\n"
        + f"space directions: {directions}\n".encode()
        + b"encoding: raw\nendian: little\nspace origin: (0,0,0)\n\n"
        + VOXELS.tobytes()
    )
    return path


def _mha(path, matrix: str, spacing: str = "1 1 2"):
    path.write_bytes(
        f"ObjectType = Image\nNDims = 3\nTransformMatrix = {matrix}\nElementSpacing = {spacing}\n".encode()
        + b"DimSize = 6 5 4\nElementType = MET_SHORT\nElementDataFile = LOCAL\n"
        + VOXELS.tobytes()
    )
    return path


def _world(volume, index):
    """world = origin + direction @ (spacing * index), all in numpy (z, y, x) order."""
    return np.asarray(volume.origin) + volume.direction @ (np.asarray(volume.spacing) * np.asarray(index, float))


@pytest.mark.parametrize(
    "make",
    [
        lambda tmp: _nrrd(tmp / "skew.nrrd", "(1,0,0) (0.5,1,0) (0,0,2)"),
        lambda tmp: _mha(tmp / "skew.mha", "1 0 0 0.5 1 0 0 0 1"),
    ],
    ids=["nrrd", "mha"],
)
def test_skewed_axes_keep_positions_and_warn(tmp_path, make):
    volume = read(make(tmp_path))
    np.testing.assert_array_equal(volume.array, VOXELS)
    # the y axis (x, y, z header order) steps (0.5, 1, 0) mm: length 1.118 mm, 63.43 deg from x
    np.testing.assert_allclose(volume.spacing, (2.0, np.sqrt(1.25), 1.0))
    np.testing.assert_allclose(np.linalg.norm(volume.direction, axis=0), 1.0)
    step_y = _world(volume, (0, 1, 0)) - _world(volume, (0, 0, 0))
    np.testing.assert_allclose(np.abs(step_y[::-1]), (0.5, 1.0, 0.0), atol=1e-9)  # the header's vector
    warning = next(w for w in volume.metadata["warnings"] if w.startswith(SKEWED_DIRECTION))
    assert warning_codes(volume.metadata["warnings"]).count(SKEWED_DIRECTION) == 1
    assert "x-y 63.43 deg instead of 90" in warning
    assert "0.8944 x the product of the spacings" in warning and "11.80 % too large" in warning
    assert "resample_axis_aligned" in warning


def test_scaled_axes_move_into_the_spacing(tmp_path):
    volume = read(_mha(tmp_path / "scaled.mha", "2 0 0 0 1 0 0 0 1"))
    np.testing.assert_allclose(volume.spacing, (2.0, 1.0, 2.0))  # x: 1 mm x length 2
    np.testing.assert_allclose(volume.direction, np.eye(3))
    (warning,) = [w for w in volume.metadata["warnings"] if w.startswith(SKEWED_DIRECTION)]
    assert "lengths [2.0, 1.0, 1.0]" in warning and "[1.0, 1.0, 2.0] -> [2.0, 1.0, 2.0] mm" in warning
    assert "not perpendicular" not in warning


def test_orthonormal_direction_gives_no_warning(tmp_path):
    volume = read(_nrrd(tmp_path / "plain.nrrd", "(0,1,0) (-1,0,0) (0,0,2)"))
    assert SKEWED_DIRECTION not in warning_codes(volume.metadata["warnings"])
    np.testing.assert_allclose(volume.spacing, (2.0, 1.0, 1.0))
