"""The Volume: an image array with its physical geometry.

Every array above :mod:`napari_medimg.io` is in numpy order: ``(z, y, x)`` for a
volume, ``(t, z, y, x)`` for a time series, ``(y, x)`` for a 2D image and
``(y, x, c)`` for a colour image. The geometry travels with it in the same order:

``world = origin + direction @ (spacing * index)``

where ``index`` is a voxel index in numpy order and ``world`` is a patient
coordinate in millimetres, LPS (DICOM / ITK convention) written in reversed order
``(S, P, L)`` so that it lines up with numpy axes. ``io`` is the only place that
converts to and from ITK's ``(x, y, z)`` order (see :func:`Volume.itk_geometry`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

__all__ = ["Volume", "check_same_grid"]


@dataclasses.dataclass
class Volume:
    """An image array with spacing, origin, direction and safe metadata.

    Parameters
    ----------
    array : numpy.ndarray
        Voxel values in numpy order. Leading non-spatial axes (time) come first,
        a colour axis (``rgb=True``) comes last.
    spacing : tuple of float
        Distance between voxel centres in mm along each spatial array axis.
    origin : tuple of float
        World position in mm (reversed LPS) of the centre of the first voxel.
    direction : numpy.ndarray
        ``(n, n)`` matrix whose column ``j`` is the unit world direction of spatial
        array axis ``j``, in numpy order.
    metadata : dict
        Safe metadata only (modality, units, window presets, series description,
        warnings ...). Never patient identifiers.
    rgb : bool
        True when the last array axis holds colour channels.
    """

    array: np.ndarray
    spacing: tuple[float, ...]
    origin: tuple[float, ...]
    direction: np.ndarray
    metadata: dict[str, Any] = dataclasses.field(default_factory=dict)
    rgb: bool = False

    def __post_init__(self) -> None:
        self.array = np.asarray(self.array)
        self.spacing = tuple(float(s) for s in self.spacing)
        self.origin = tuple(float(o) for o in self.origin)
        self.direction = np.asarray(self.direction, dtype=np.float64).reshape(
            self.spatial_ndim, self.spatial_ndim
        )
        n = self.spatial_ndim
        if len(self.origin) != n:
            raise ValueError(
                f"origin has {len(self.origin)} entries but spacing has {n}; give one per spatial axis"
            )
        if n < 2 or n > 3:
            raise ValueError(f"a Volume has 2 or 3 spatial axes, not {n}")
        needed = n + (1 if self.rgb else 0)
        if self.array.ndim < needed:
            raise ValueError(
                f"array of shape {self.array.shape} has fewer axes than the {n} spatial axes"
                + (" plus a colour axis" if self.rgb else "")
            )
        if any(not np.isfinite(s) or s <= 0 for s in self.spacing):
            raise ValueError(f"spacing must be positive and finite, got {self.spacing}")

    # ------------------------------------------------------------------ shape
    @property
    def spatial_ndim(self) -> int:
        """Number of spatial axes (2 or 3)."""
        return len(self.spacing)

    @property
    def spatial_shape(self) -> tuple[int, ...]:
        """Shape of the spatial axes, numpy order."""
        stop = self.array.ndim - (1 if self.rgb else 0)
        return tuple(self.array.shape[stop - self.spatial_ndim : stop])

    @property
    def leading_shape(self) -> tuple[int, ...]:
        """Shape of the non-spatial leading axes (e.g. ``(t,)`` for a 4D series)."""
        stop = self.array.ndim - (1 if self.rgb else 0) - self.spatial_ndim
        return tuple(self.array.shape[:stop])

    # ------------------------------------------------------------- geometry
    @property
    def affine(self) -> np.ndarray:
        """Homogeneous ``(n+1, n+1)`` index-to-world matrix in numpy order."""
        n = self.spatial_ndim
        out = np.eye(n + 1)
        out[:n, :n] = self.direction * np.asarray(self.spacing)[np.newaxis, :]
        out[:n, n] = self.origin
        return out

    def index_to_world(self, index: np.ndarray) -> np.ndarray:
        """Map voxel indices ``(..., n)`` in numpy order to world mm (numpy order)."""
        index = np.asarray(index, dtype=np.float64)
        return index * np.asarray(self.spacing) @ self.direction.T + np.asarray(self.origin)

    def world_to_index(self, world: np.ndarray) -> np.ndarray:
        """Map world mm ``(..., n)`` (numpy order) to continuous voxel indices."""
        world = np.asarray(world, dtype=np.float64) - np.asarray(self.origin)
        return world @ np.linalg.inv(self.direction).T / np.asarray(self.spacing)

    @property
    def is_axis_aligned(self) -> bool:
        """True when the direction is the identity (no flip, permutation or tilt)."""
        return bool(np.allclose(self.direction, np.eye(self.spatial_ndim), atol=1e-6))

    @property
    def obliquity_degrees(self) -> float:
        """Largest angle in degrees between an array axis and its closest world axis."""
        cosines = np.abs(self.direction).max(axis=0).clip(-1.0, 1.0)
        return float(np.degrees(np.arccos(cosines)).max())

    def itk_geometry(self) -> dict[str, Any]:
        """Geometry in ITK / SimpleITK convention (x, y, z order, LPS).

        Returns
        -------
        dict
            ``size`` (x, y, z[, t]), ``spacing``, ``origin`` and ``direction``
            (the row-major numbers SimpleITK's ``GetDirection`` gives).
        """
        size = list(self.spatial_shape[::-1]) + list(self.leading_shape[::-1])
        direction = self.direction[::-1, ::-1]
        return {
            "size": [int(s) for s in size],
            "spacing": list(self.spacing[::-1]),
            "origin": list(self.origin[::-1]),
            "direction": [float(v) for v in direction.ravel()],
        }

    def with_array(self, array: np.ndarray, **metadata_updates: Any) -> "Volume":
        """A new Volume with the same geometry and a different array of the same shape."""
        array = np.asarray(array)
        if array.shape[: self.array.ndim - (1 if self.rgb else 0)] != self.array.shape[
            : self.array.ndim - (1 if self.rgb else 0)
        ]:
            raise ValueError(
                f"new array shape {array.shape} does not match the volume's {self.array.shape}"
            )
        meta = dict(self.metadata)
        meta.update(metadata_updates)
        return dataclasses.replace(self, array=array, metadata=meta)

    def with_frame(self, frame: tuple[int, ...]) -> "Volume":
        """The spatial volume of one frame of a series (``array[frame]``), same geometry."""
        if len(frame) != len(self.leading_shape):
            raise ValueError(f"frame {frame} does not index the leading axes {self.leading_shape}")
        return dataclasses.replace(self, array=self.array[tuple(frame)], metadata=dict(self.metadata))

    @classmethod
    def from_array(
        cls,
        array: np.ndarray,
        spacing: tuple[float, ...] | None = None,
        origin: tuple[float, ...] | None = None,
        direction: np.ndarray | None = None,
        *,
        rgb: bool = False,
        spatial_ndim: int | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> "Volume":
        """Build a Volume with default geometry (1 mm, origin 0, identity) where not given."""
        array = np.asarray(array)
        if spatial_ndim is None:
            spatial_ndim = len(spacing) if spacing is not None else min(3, array.ndim - rgb)
        spacing = tuple(spacing) if spacing is not None else (1.0,) * spatial_ndim
        origin = tuple(origin) if origin is not None else (0.0,) * spatial_ndim
        direction = np.eye(spatial_ndim) if direction is None else direction
        return cls(array, spacing, origin, direction, dict(metadata or {}), rgb)

    def __repr__(self) -> str:  # short: never print a whole array
        return (
            f"Volume(shape={self.array.shape}, dtype={self.array.dtype}, "
            f"spacing={tuple(round(s, 4) for s in self.spacing)}, "
            f"origin={tuple(round(o, 3) for o in self.origin)}, rgb={self.rgb})"
        )


def check_same_grid(
    volume: Volume,
    other: Volume,
    *,
    tolerance: float = 1e-3,
    names: tuple[str, str] = ("image", "labels"),
) -> None:
    """Raise ValueError unless two volumes lie on the same spatial voxel grid.

    Parameters
    ----------
    volume, other : Volume
        The volumes to compare (leading time axes and colour axes are ignored).
    tolerance : float
        Allowed difference of spacing and origin as a fraction of the smallest voxel
        spacing, and of the direction cosines (absolute). 1e-3 absorbs the float32
        rounding of NIfTI headers and is far below any real misregistration.
    names : tuple of str
        What the two volumes are called in the message.

    Raises
    ------
    ValueError
        Naming the first difference and how to fix it.
    """
    first, second = names
    hint = (
        f"; they are not on the same grid: put the {second} onto the {first}'s grid first "
        "(napari_medimg.processing.resample.resample_to_reference, interpolation='label' for labels)"
    )
    if volume.spatial_shape != other.spatial_shape:
        raise ValueError(
            f"{first} and {second} have different shapes (spatial shape {volume.spatial_shape} "
            f"vs {other.spatial_shape}, numpy order)" + hint
        )
    scale = tolerance * min(min(volume.spacing), min(other.spacing))
    checks = (
        ("spacing", np.asarray(volume.spacing), np.asarray(other.spacing), scale, "mm"),
        ("origin", np.asarray(volume.origin), np.asarray(other.origin), scale, "mm"),
        ("direction", volume.direction, other.direction, tolerance, ""),
    )
    for what, a, b, allowed, unit in checks:
        if np.max(np.abs(a - b)) > allowed:
            raise ValueError(
                f"{first} and {second} have different {what} ({np.round(a, 6).tolist()} vs "
                f"{np.round(b, 6).tolist()}{' ' + unit if unit else ''}, numpy order)" + hint
            )
