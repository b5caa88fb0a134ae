"""Geometry of a decoded SimpleITK image: finite, invertible, and spacing that means mm.

Header checks catch most bad geometry before decoding; this is the last guard on what
SimpleITK made of it, and the place where invalid spacing becomes 1 mm with a
``no_spacing`` warning (as DICOM does).

Directions that are not orthonormal (NRRD ``space directions`` or a MetaImage
``TransformMatrix`` whose axes are scaled or not perpendicular) keep the header's voxel
positions exactly: a column's length is moved into the spacing (so spacing is the true
step in mm), and axes that stay non-perpendicular are kept as they are, with a
``skewed_direction`` warning giving the angles and by how much spacing-based volumes are
off. Forcing them orthogonal would move every voxel; refusing would lose the file.
"""

from __future__ import annotations

import os

import numpy as np
import SimpleITK as sitk

from ..warnings_codes import NO_SPACING, SKEWED_DIRECTION, make_warning
from ._facts import HeaderFacts, refuse
from ._numbers import MAX_COORDINATE, SPACING_RANGE

__all__ = ["settle_geometry"]

#: Largest deviation of a column length from 1, or of a cosine between axes from 0,
#: accepted as orthonormal (the writers' tolerance, napari_medimg.io.write_check).
_ORTHONORMAL_TOLERANCE = 1e-4


def settle_geometry(path: str | os.PathLike, image: sitk.Image, facts: HeaderFacts) -> list[str]:
    """Refuse non-finite or singular geometry; replace invalid spacing by 1 mm; settle skew.

    A direction whose columns are not unit vectors has their lengths moved into the
    spacing (the voxel positions do not change); one whose axes are not perpendicular is
    kept, with a ``skewed_direction`` warning.

    Parameters
    ----------
    path : str or PathLike
        The file, for messages.
    image : SimpleITK.Image
        The decoded image; its spacing is changed in place where invalid.
    facts : HeaderFacts
        From the header check: axes whose header spacing was invalid.

    Returns
    -------
    list of str
        Warnings to add to ``metadata["warnings"]`` (``no_spacing``, ``skewed_direction``).

    Raises
    ------
    ImageReadError
        For NaN / infinite / absurd origin or direction, or a direction that is not
        invertible.
    """
    dim = image.GetDimension()
    spatial = min(dim, 3)
    spacing = list(image.GetSpacing())
    origin = np.asarray(image.GetOrigin(), dtype=np.float64)
    direction = np.asarray(image.GetDirection(), dtype=np.float64).reshape(dim, dim)
    advice = "Fix the geometry in the header (e.g. with SimpleITK or nibabel) or export the image again."
    if not (np.all(np.isfinite(origin)) and np.all(np.abs(origin) <= MAX_COORDINATE)):
        raise refuse(path, f"its origin {origin.tolist()} is not finite or is absurd", advice)
    if not np.all(np.isfinite(direction)):
        raise refuse(path, "its direction matrix holds NaN or infinite numbers", advice)
    block = direction[:spatial, :spatial]
    if abs(np.linalg.det(block)) < 1e-6:
        raise refuse(path, f"its direction matrix {block.round(4).tolist()} is singular (axes collapse)", advice)
    low, high = SPACING_RANGE
    bad = {i for i in facts.invalid_spacing_axes if i < spatial}
    bad |= {i for i in range(spatial) if not (np.isfinite(spacing[i]) and low <= spacing[i] <= high)}
    warnings_: list[str] = []
    if bad:
        for i in bad:
            spacing[i] = 1.0
        image.SetSpacing(spacing)
        axes = ", ".join("xyz"[i] for i in sorted(bad))
        warnings_.append(
            make_warning(
                NO_SPACING,
                f"the header's spacing along {axes} is zero, negative, not a number or absurd: "
                "1 mm is assumed there; measurements along it are in voxels, not mm.",
            )
        )
    warnings_ += _settle_skew(image, spacing, direction, spatial)
    return warnings_


def _settle_skew(image: sitk.Image, spacing: list[float], direction: np.ndarray, spatial: int) -> list[str]:
    """Fold column lengths into the spacing; warn about non-perpendicular axes."""
    block = direction[:spatial, :spatial]
    lengths = np.linalg.norm(block, axis=0)
    notes: list[str] = []
    if np.any(np.abs(lengths - 1.0) > _ORTHONORMAL_TOLERANCE):
        old = [round(float(s), 6) for s in spacing[:spatial]]
        direction = direction.copy()
        for i in range(spatial):
            spacing[i] = float(spacing[i] * lengths[i])
            direction[:spatial, i] = block[:, i] / lengths[i]
        image.SetSpacing(spacing)
        image.SetDirection([float(v) for v in direction.ravel()])
        block = direction[:spatial, :spatial]
        notes.append(
            f"the direction's axes are not unit vectors (lengths {np.round(lengths, 6).tolist()}, x y z): "
            f"their lengths were moved into the spacing, {old} -> "
            f"{[round(float(s), 6) for s in spacing[:spatial]]} mm; voxel positions are unchanged"
        )
    cosines = block.T @ block
    off = np.abs(cosines - np.diag(np.diag(cosines)))
    if off.max() > _ORTHONORMAL_TOLERANCE:
        angles = ", ".join(
            f"{'xyz'[i]}-{'xyz'[j]} {np.degrees(np.arccos(np.clip(cosines[i, j], -1, 1))):.2f} deg"
            for i in range(spatial)
            for j in range(i + 1, spatial)
            if off[i, j] > _ORTHONORMAL_TOLERANCE
        )
        factor = abs(float(np.linalg.det(block)))
        notes.append(
            f"the image axes are not perpendicular ({angles} instead of 90): the direction is kept as "
            "the header gives it, so every voxel is where the header puts it (napari shows the volume "
            f"sheared), but a voxel's true volume is {factor:.4f} x the product of the spacings, so "
            f"volumes and areas computed from the spacing are {(1 / factor - 1) * 100:.2f} % too large; "
            "resample onto an orthogonal grid (operation resample_axis_aligned) before measuring. "
            "NIfTI cannot store this direction: write .nrrd or .mha"
        )
    if not notes:
        return []
    return [make_warning(SKEWED_DIRECTION, "; ".join(notes) + ".")]
