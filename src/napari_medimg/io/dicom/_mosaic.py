"""Siemens mosaic: one DICOM image that tiles all slices of a volume.

Layout and geometry follow dcm2niix and nibabel.nicom (``MosaicWrapper``):

* ``n`` = NumberOfImagesInMosaic from the private tag (0019,100A), else from the CSA
  image header; the mosaic holds ``m = ceil(sqrt(n))`` tiles per side, so a tile is
  ``(Rows // m, Columns // m)``; tile ``k`` sits at tile row ``k // m``, column ``k % m``.
* ImagePositionPatient of a mosaic refers to the whole mosaic image; the first tile's
  position is ``IPP + row_cos * dc * (Columns - tile_cols) / 2
  + col_cos * dr * (Rows - tile_rows) / 2`` (``dr, dc`` = PixelSpacing).
* Tiles are stored in spatial order along the CSA ``SliceNormalVector`` (which may
  point against ``row_cos x col_cos``), one SpacingBetweenSlices apart (SliceThickness
  when absent).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from pydicom.dataset import Dataset

from ..errors import ImageReadError
from ._frames import Frame, _rescale, _spacing, _vector, number, orientation_of

__all__ = ["is_mosaic", "mosaic_frames", "images_in_mosaic"]

_N_IMAGES_TAG = (0x0019, 0x100A)


def is_mosaic(ds: Dataset) -> bool:
    """True for a Siemens mosaic (ImageType contains MOSAIC)."""
    image_type = ds.get("ImageType") or []
    return "MOSAIC" in [str(v).upper() for v in image_type]


def _csareader():
    """nibabel's CSA header reader (its package warns on import that it is experimental)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from nibabel.nicom import csareader
    return csareader


def _csa_image_header(ds: Dataset) -> dict | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _csareader().get_csa_header(ds, "image")
    except Exception:  # no CSA header, or one nibabel cannot parse
        return None


def images_in_mosaic(ds: Dataset) -> int:
    """NumberOfImagesInMosaic from (0019,100A) or the CSA header.

    Raises
    ------
    ImageReadError
        When neither gives the number.
    """
    element = ds.get(_N_IMAGES_TAG)
    value = None
    if element is not None:
        raw = element.value
        if isinstance(raw, bytes) and len(raw) >= 2:
            raw = int.from_bytes(raw[:2], "little")
        value = number(raw)
    if value is None:
        csa = _csa_image_header(ds)
        if csa is not None:
            value = number(_csareader().get_n_mosaic(csa))
    if value is None or not math.isfinite(value) or not 1 <= value <= 65536:
        raise ImageReadError(
            "This Siemens mosaic gives no NumberOfImagesInMosaic (private tag (0019,100A) "
            "or CSA header), so its tiles cannot be unpacked. Convert it with dcm2niix."
        )
    return int(value)


def _slice_normal(ds: Dataset, orientation: np.ndarray) -> np.ndarray:
    csa = _csa_image_header(ds)
    if csa is not None:
        normal = _csareader().get_slice_normal(csa)
        if normal is not None and np.linalg.norm(normal) > 0.5:
            normal = np.asarray(normal, dtype=np.float64)
            return normal / np.linalg.norm(normal)
    return np.cross(orientation[0], orientation[1])


def mosaic_frames(ds: Dataset, mosaic: np.ndarray, *, order: tuple) -> list[Frame]:
    """Unpack a decoded mosaic into one :class:`Frame` per slice.

    Parameters
    ----------
    ds : pydicom.dataset.Dataset
        The mosaic's header.
    mosaic : numpy.ndarray
        The decoded ``(Rows, Columns)`` image.
    order : tuple
        Time-order key of this mosaic (shared by all its tiles).

    Returns
    -------
    list of Frame
        ``n`` frames with corrected positions.
    """
    n = images_in_mosaic(ds)
    per_side = math.ceil(math.sqrt(n))
    rows, cols = mosaic.shape[:2]
    tile_r, tile_c = rows // per_side, cols // per_side
    if tile_r * per_side != rows or tile_c * per_side != cols:
        raise ImageReadError(
            f"A {rows}x{cols} mosaic cannot hold {n} tiles on a {per_side}x{per_side} grid; "
            "the NumberOfImagesInMosaic tag is inconsistent. Convert it with dcm2niix."
        )
    orientation = orientation_of(ds.get("ImageOrientationPatient"))
    spacing = _spacing(ds.get("PixelSpacing"))
    ipp = _vector(ds.get("ImagePositionPatient"), 3)
    slope, intercept, valid = _rescale(ds)
    tiles = [
        mosaic[(k // per_side) * tile_r : (k // per_side + 1) * tile_r,
               (k % per_side) * tile_c : (k % per_side + 1) * tile_c]
        for k in range(n)
    ]
    if orientation is None or spacing is None or ipp is None:
        positions = [None] * n
    else:
        first = ipp + (
            orientation[0] * spacing[1] * (cols - tile_c) / 2
            + orientation[1] * spacing[0] * (rows - tile_r) / 2
        )
        step = number(ds.get("SpacingBetweenSlices")) or number(ds.get("SliceThickness"), 1.0)
        normal = _slice_normal(ds, orientation)
        positions = [first + k * step * normal for k in range(n)]
    return [
        Frame(
            pixels=np.ascontiguousarray(tile),
            position=pos,
            orientation=orientation,
            pixel_spacing=spacing,
            slope=slope,
            intercept=intercept,
            order=order,
            rescale_ignored=not valid,
        )
        for tile, pos in zip(tiles, positions)
    ]
