"""Turn datasets into :class:`Frame` objects: one 2D image with its own geometry.

Three sources of frames share one representation, so that sorting, 4D detection,
gap and tilt analysis happen once (in :mod:`._stack`):

* a classic single-frame file (CT/MR Image Storage, CR, US ...),
* each frame of an enhanced multi-frame file, with geometry from the Per-frame and
  Shared Functional Groups,
* each tile of a Siemens mosaic (see :mod:`._mosaic`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
from pydicom.dataset import Dataset

__all__ = ["Frame", "frames_from_dataset", "number", "orientation_of", "window_presets"]


@dataclasses.dataclass
class Frame:
    """One 2D image and where it lies in the patient.

    Attributes
    ----------
    pixels : numpy.ndarray
        Stored values ``(rows, columns)`` or ``(rows, columns, 3)``; not rescaled.
    position : numpy.ndarray or None
        ImagePositionPatient (LPS mm) of the centre of the first pixel.
    orientation : numpy.ndarray or None
        ``(2, 3)``: row cosine (direction of increasing column index) then column
        cosine (direction of increasing row index), as ImageOrientationPatient.
    pixel_spacing : tuple of float or None
        PixelSpacing: (distance between rows, distance between columns) in mm.
    slope, intercept : float
        Modality rescale of this frame.
    order : tuple
        Sort key among frames at the same position (time / acquisition order).
    rescale_ignored : bool
        The header's slope / intercept were NaN, infinite, zero or absurd and were
        replaced by the identity (see :func:`._pixels.valid_rescale`).
    """

    pixels: np.ndarray
    position: np.ndarray | None
    orientation: np.ndarray | None
    pixel_spacing: tuple[float, float] | None
    slope: float = 1.0
    intercept: float = 0.0
    order: tuple = ()
    rescale_ignored: bool = False


def number(value: Any, default: float | None = None) -> float | None:
    """A DICOM numeric value (DS, IS, US, str) as float, or ``default`` when absent/bad."""
    if value is None or value == "":
        return default
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def _vector(value: Any, size: int) -> np.ndarray | None:
    if value is None:
        return None
    try:
        out = np.asarray([float(v) for v in value], dtype=np.float64)
    except (TypeError, ValueError):
        return None
    return out if out.shape == (size,) and np.all(np.isfinite(out)) else None


def _spacing(value: Any) -> tuple[float, float] | None:
    vec = _vector(value, 2)
    if vec is None or np.any(vec <= 0):
        return None
    return float(vec[0]), float(vec[1])


def orientation_of(iop: Any) -> np.ndarray | None:
    """ImageOrientationPatient as a normalised ``(2, 3)`` array, or None if invalid."""
    vec = _vector(iop, 6)
    if vec is None:
        return None
    rows = vec.reshape(2, 3)
    norms = np.linalg.norm(rows, axis=1)
    if np.any(norms < 1e-6):
        return None
    return rows / norms[:, np.newaxis]


def _time_order(ds: Dataset) -> tuple:
    """Key that orders instances at one slice position in time."""
    return (
        number(ds.get("TemporalPositionIdentifier"), 0.0),
        number(ds.get("AcquisitionNumber"), 0.0),
        str(ds.get("AcquisitionTime", "")),
        number(ds.get("TriggerTime"), 0.0),
        number(ds.get("InstanceNumber"), 0.0),
    )


def _rescale(item: Dataset) -> tuple[float, float, bool]:
    """Slope, intercept, and whether they had to be replaced (NaN, inf, zero, absurd)."""
    from ._pixels import valid_rescale

    return valid_rescale(number(item.get("RescaleSlope"), 1.0), number(item.get("RescaleIntercept"), 0.0))


def window_presets(item: Dataset) -> list[dict[str, Any]]:
    """Window presets from WindowCenter / WindowWidth (+ explanation names)."""
    centers, widths = item.get("WindowCenter"), item.get("WindowWidth")
    if centers is None or widths is None:
        return []

    def as_list(value: Any) -> list:
        if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
            return [value]
        return list(value)

    explanations = item.get("WindowCenterWidthExplanation")
    names = as_list(explanations) if explanations is not None else []
    presets = []
    for i, (c, w) in enumerate(zip(as_list(centers), as_list(widths))):
        c, w = number(c), number(w)
        if c is None or w is None or not (np.isfinite(c) and np.isfinite(w)) or w <= 0:
            continue
        name = str(names[i]) if i < len(names) and str(names[i]) else f"preset {i + 1}"
        presets.append({"name": name, "center": c, "width": w})
    return presets


# ------------------------------------------------------------------- classic
def _classic_frames(ds: Dataset, pixels: np.ndarray) -> list[Frame]:
    slope, intercept, valid = _rescale(ds)
    base = dict(
        position=_vector(ds.get("ImagePositionPatient"), 3),
        orientation=orientation_of(ds.get("ImageOrientationPatient")),
        pixel_spacing=_spacing(ds.get("PixelSpacing")),
        slope=slope,
        intercept=intercept,
        rescale_ignored=not valid,
    )
    order = _time_order(ds)
    return [Frame(pixels=frame, order=order + (i,), **base) for i, frame in enumerate(pixels)]


# ------------------------------------------------------------ enhanced / SEG
def _group_item(ds: Dataset, index: int, sequence: str) -> Dataset | None:
    """The first item of a functional group for frame ``index`` (per-frame, else shared)."""
    for groups, i in (("PerFrameFunctionalGroupsSequence", index), ("SharedFunctionalGroupsSequence", 0)):
        container = ds.get(groups)
        items = container[i].get(sequence) if container is not None and len(container) > i else None
        if items:
            return items[0]
    return None


def is_enhanced(ds: Dataset) -> bool:
    """True for a multi-frame dataset that describes its frames in functional groups."""
    return "PerFrameFunctionalGroupsSequence" in ds or "SharedFunctionalGroupsSequence" in ds


def _enhanced_frame(ds: Dataset, index: int, pixels: np.ndarray) -> Frame:
    position = _group_item(ds, index, "PlanePositionSequence")
    orient = _group_item(ds, index, "PlaneOrientationSequence")
    measures = _group_item(ds, index, "PixelMeasuresSequence")
    transform = _group_item(ds, index, "PixelValueTransformationSequence")
    content = _group_item(ds, index, "FrameContentSequence")
    segment = _group_item(ds, index, "SegmentIdentificationSequence")
    slope, intercept, valid = _rescale(transform) if transform is not None else _rescale(ds)
    content = content if content is not None else Dataset()
    order = (
        number(segment.get("ReferencedSegmentNumber"), 0.0) if segment is not None else 0.0,
        number(content.get("TemporalPositionIndex"), 0.0),
        number(content.get("FrameAcquisitionNumber"), 0.0),
        index,
    )
    return Frame(
        pixels=pixels,
        position=_vector(position.get("ImagePositionPatient"), 3) if position is not None else None,
        orientation=orientation_of(orient.get("ImageOrientationPatient")) if orient is not None else None,
        pixel_spacing=_spacing(measures.get("PixelSpacing")) if measures is not None else None,
        slope=slope,
        intercept=intercept,
        order=order,
        rescale_ignored=not valid,
    )


def enhanced_item(ds: Dataset, sequence: str) -> Dataset | None:
    """The functional group item of the first frame (for metadata such as windows)."""
    return _group_item(ds, 0, sequence)


def frames_from_dataset(ds: Dataset, pixels: np.ndarray) -> list[Frame]:
    """All frames of one decoded dataset.

    Parameters
    ----------
    ds : pydicom.dataset.Dataset
        The dataset (with its header).
    pixels : numpy.ndarray
        Its decoded frames, ``(n, rows, columns[, 3])`` (see :func:`._pixels.decode_frames`).

    Returns
    -------
    list of Frame
    """
    from ._mosaic import is_mosaic, mosaic_frames

    if is_mosaic(ds):
        return mosaic_frames(ds, pixels[0], order=_time_order(ds))
    if is_enhanced(ds):
        return [_enhanced_frame(ds, i, frame) for i, frame in enumerate(pixels)]
    return _classic_frames(ds, pixels)
