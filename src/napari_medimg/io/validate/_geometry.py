"""Geometry of a decoded SimpleITK image: finite, invertible, and spacing that means mm.

Header checks catch most bad geometry before decoding; this is the last guard on what
SimpleITK made of it, and the place where invalid spacing becomes 1 mm with a
``no_spacing`` warning (as DICOM does).
"""

from __future__ import annotations

import os

import numpy as np
import SimpleITK as sitk

from ..warnings_codes import NO_SPACING, make_warning
from ._facts import HeaderFacts, refuse
from ._numbers import MAX_COORDINATE, SPACING_RANGE

__all__ = ["settle_geometry"]


def settle_geometry(path: str | os.PathLike, image: sitk.Image, facts: HeaderFacts) -> list[str]:
    """Refuse non-finite or singular geometry; replace invalid spacing by 1 mm.

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
        Warnings to add to ``metadata["warnings"]``.

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
    return warnings_
