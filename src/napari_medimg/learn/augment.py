"""Training augmentation defined in millimetres (numpy and scipy only).

A random rotation, scaling and elastic deformation are composed into one map from patch
voxels to image voxels and the patch is *sampled* through it (one interpolation, no
border effects from transforming a crop): rotations and displacements act in physical
space, so an anisotropic volume (0.8 x 0.8 x 5 mm) is rotated as the anatomy is, not as
the voxel grid is. Intensity changes (scale, shift, gamma, gaussian noise) follow.

The settings are a plain dict in configs and model cards::

    {"rotate_deg": 10, "scale": 0.1, "elastic_mm": 4, "elastic_grid_mm": 40,
     "intensity_scale": 0.1, "intensity_shift": 0.1, "gamma": 0.2, "noise": 0.05,
     "rotate_axes": [[0, 1]]}

Flips are the sampler's own (``flip_axes``), because only the caller knows which axes the
anatomy allows.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import ndimage

__all__ = ["Augmentation"]


@dataclasses.dataclass(frozen=True)
class Augmentation:
    """Random spatial and intensity augmentation of training patches.

    Attributes
    ----------
    rotate_deg : float
        Largest rotation in degrees (uniform in ``[-rotate_deg, rotate_deg]``) in each plane
        of ``rotate_axes``.
    rotate_axes : tuple of (int, int), optional
        Planes rotated in, as pairs of spatial axes; None means the last two axes (in-plane
        for a 2D image, the axial plane of a (z, y, x) volume).
    scale : float
        Largest relative zoom (uniform factor in ``[1 - scale, 1 + scale]``, the same on all axes).
    elastic_mm : float
        Standard deviation in mm of a smooth random displacement (0 turns it off).
    elastic_grid_mm : float
        Spacing in mm of the displacement's random control values (larger is smoother).
    intensity_scale, intensity_shift : float
        Largest relative gain and largest offset (in normalised intensity units).
    gamma : float
        Largest change of the exponent of a gamma curve applied between the patch's
        minimum and maximum (exponent in ``[1 - gamma, 1 + gamma]``).
    noise : float
        Largest standard deviation of added gaussian noise (normalised units).
    """

    rotate_deg: float = 0.0
    rotate_axes: tuple[tuple[int, int], ...] | None = None
    scale: float = 0.0
    elastic_mm: float = 0.0
    elastic_grid_mm: float = 40.0
    intensity_scale: float = 0.0
    intensity_shift: float = 0.0
    gamma: float = 0.0
    noise: float = 0.0

    def __post_init__(self):
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.name == "rotate_axes":
                if value is not None:
                    object.__setattr__(self, "rotate_axes", tuple(tuple(int(a) for a in pair) for pair in value))
                    if any(len(pair) != 2 or pair[0] == pair[1] for pair in self.rotate_axes):
                        raise ValueError(f"rotate_axes takes pairs of two different axes, got {value}")
                continue
            if not (np.isfinite(value) and value >= 0):
                raise ValueError(f"augmentation {field.name} must be a finite number >= 0, got {value!r}")
        if self.scale >= 1 or self.gamma >= 1:
            raise ValueError("augmentation scale and gamma must be below 1")
        if self.elastic_mm and not self.elastic_grid_mm > 0:
            raise ValueError("elastic_grid_mm must be positive")

    @classmethod
    def from_dict(cls, settings: dict[str, Any] | None) -> Augmentation:
        """Build from a config dict; unknown keys are refused (a typo must not pass silently)."""
        settings = dict(settings or {})
        known = {f.name for f in dataclasses.fields(cls)}
        extra = set(settings) - known
        if extra:
            raise ValueError(f"unknown augmentation settings {', '.join(sorted(extra))}; known: {', '.join(sorted(known))}")
        return cls(**settings)

    def to_dict(self) -> dict[str, Any]:
        """The settings as JSON-serialisable data (for a model card)."""
        out = dataclasses.asdict(self)
        if self.rotate_axes is not None:
            out["rotate_axes"] = [list(pair) for pair in self.rotate_axes]
        return out

    @property
    def spatial(self) -> bool:
        """True when patches are resampled (rotation, scaling or elastic deformation)."""
        return bool(self.rotate_deg or self.scale or self.elastic_mm)

    def _matrix(self, ndim: int, rng: np.random.Generator) -> np.ndarray:
        """A random rotation-and-zoom matrix acting on physical offsets (mm)."""
        matrix = np.eye(ndim)
        axes = self.rotate_axes if self.rotate_axes is not None else ((ndim - 2, ndim - 1),)
        for a, b in axes:
            if not (0 <= a < ndim and 0 <= b < ndim):
                raise ValueError(f"rotation plane {(a, b)} outside the {ndim} spatial axes")
            angle = np.deg2rad(rng.uniform(-self.rotate_deg, self.rotate_deg)) if self.rotate_deg else 0.0
            rot = np.eye(ndim)
            rot[a, a] = rot[b, b] = np.cos(angle)
            rot[a, b], rot[b, a] = -np.sin(angle), np.sin(angle)
            matrix = rot @ matrix
        if self.scale:
            matrix = matrix / rng.uniform(1.0 - self.scale, 1.0 + self.scale)  # sampling coords shrink = zoom in
        return matrix

    def _displacement(self, patch_size: Sequence[int], spacing: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A smooth random displacement per patch voxel, in voxels of the image, ``(ndim, *patch)``."""
        extent = np.asarray(patch_size) * spacing
        coarse = np.maximum(2, np.ceil(extent / self.elastic_grid_mm).astype(int) + 1)
        out = np.empty((len(patch_size), *patch_size), np.float32)
        for axis in range(len(patch_size)):
            control = rng.normal(0.0, self.elastic_mm, size=tuple(coarse)).astype(np.float32)
            field = ndimage.zoom(control, [p / c for p, c in zip(patch_size, coarse)], order=3, mode="nearest",
                                 grid_mode=True)
            out[axis] = field[tuple(slice(0, p) for p in patch_size)] / spacing[axis]
        return out

    def sample(self, image: np.ndarray, labels: np.ndarray, centre: Sequence[int], patch_size: Sequence[int],
               spacing: Sequence[float], rng: np.random.Generator, *, ignore_label: int) -> tuple[np.ndarray, np.ndarray]:
        """Sample one randomly transformed patch centred on ``centre``.

        Parameters
        ----------
        image : numpy.ndarray
            Channel-first ``(C, *spatial)`` float32.
        labels : numpy.ndarray
            ``(*spatial)`` integer labels.
        centre : sequence of int
            Voxel the patch is centred on.
        patch_size : sequence of int
            Patch size in voxels.
        spacing : sequence of float
            The image's spacing in mm (array order).
        rng : numpy.random.Generator
            Source of randomness.
        ignore_label : int
            Label of voxels sampled from outside the image.

        Returns
        -------
        (numpy.ndarray, numpy.ndarray)
            float32 ``(C, *patch)`` (linear interpolation; outside the image: the channel's
            minimum) and int64 ``(*patch)`` (nearest label).
        """
        ndim = labels.ndim
        spacing = np.asarray(spacing, float)
        half = (np.asarray(patch_size) // 2).astype(float)  # as a plain crop: centre at index size // 2
        # patch voxel p -> image voxel: centre + diag(1/sp) A diag(sp) (p - half)
        matrix = (self._matrix(ndim, rng) * spacing[None, :]) / spacing[:, None]
        offset = np.asarray(centre, float) - matrix @ half
        if not self.elastic_mm:
            out_img = np.stack([ndimage.affine_transform(c, matrix, offset, output_shape=tuple(patch_size), order=1,
                                                         mode="constant", cval=float(c.min()), output=np.float32)
                                for c in image])
            out_lab = ndimage.affine_transform(labels, matrix, offset, output_shape=tuple(patch_size), order=0,
                                               mode="constant", cval=ignore_label)
            return out_img, out_lab.astype(np.int64, copy=False)
        grid = np.indices(tuple(patch_size), dtype=np.float32).reshape(ndim, -1)
        coords = (matrix.astype(np.float32) @ grid + offset[:, None].astype(np.float32)).reshape(ndim, *patch_size)
        coords += self._displacement(patch_size, spacing, rng)
        out_img = np.stack([ndimage.map_coordinates(c, coords, order=1, mode="constant", cval=float(c.min()),
                                                    output=np.float32) for c in image])
        out_lab = ndimage.map_coordinates(labels, coords, order=0, mode="constant", cval=ignore_label)
        return out_img, out_lab.astype(np.int64, copy=False)

    def intensity(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Apply the random gain, offset, gamma and noise to a patch ``(C, *patch)`` in place."""
        if self.gamma:
            low, high = float(image.min()), float(image.max())
            if high > low:
                exponent = rng.uniform(1.0 - self.gamma, 1.0 + self.gamma)
                image -= low
                image /= high - low
                np.power(image, exponent, out=image)
                image *= high - low
                image += low
        if self.intensity_scale:
            image *= rng.uniform(1.0 - self.intensity_scale, 1.0 + self.intensity_scale)
        if self.intensity_shift:
            image += rng.uniform(-self.intensity_shift, self.intensity_shift)
        if self.noise:
            image += rng.normal(0.0, rng.uniform(0.0, self.noise), size=image.shape).astype(np.float32)
        return image
