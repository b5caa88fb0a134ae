"""Image and mask preparation as pyradiomics 3.1.0 does it, before any feature is computed.

The order is pyradiomics': check the label, normalize (whole image), resample image and
mask onto a grid aligned with the mask's origin (only the ROI bounding box plus
``padDistance`` voxels), check the ROI (grid match, dimensions, size), resegment, crop to
the ROI bounding box, and discretize the grey levels inside the ROI.

SimpleITK does the normalization and resampling (so that B-spline values match
pyradiomics bit for bit); everything else is numpy on ``(z, y, x)`` arrays.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import SimpleITK as sitk

from ...processing.crop import mask_extent
from ...volume import Volume

__all__ = [
    "RadiomicsInputError",
    "PreparedROI",
    "volume_to_image",
    "prepare",
    "normalize_image",
    "resample_image_and_mask",
    "resegment_mask",
    "bounding_box",
    "bin_edges",
    "discretize",
]


class RadiomicsInputError(ValueError):
    """Bad image / mask input for radiomics (empty mask, wrong label, grid mismatch, NaNs)."""


@dataclasses.dataclass
class PreparedROI:
    """Image and masks after preprocessing, cropped to the ROI bounding box.

    Attributes
    ----------
    image : numpy.ndarray
        Grey values (z, y, x) in the dtype pyradiomics would see (int16 stays int16).
    mask : numpy.ndarray
        bool ROI used by the intensity and texture classes (resegmented when enabled).
    shape_mask : numpy.ndarray
        bool ROI used by the shape classes (not resegmented unless ``resegmentShape``).
    spacing : tuple of float
        Voxel spacing in mm, numpy order.
    bounding_box : tuple of (start, stop) pairs
        The ROI box on the (possibly resampled) grid, numpy order.
    """

    image: np.ndarray
    mask: np.ndarray
    shape_mask: np.ndarray
    spacing: tuple[float, ...]
    bounding_box: tuple[tuple[int, int], ...]


def volume_to_image(volume: Volume) -> sitk.Image:
    """A SimpleITK image with the geometry of a 2D or 3D scalar Volume (via ``Volume.itk_geometry``)."""
    if volume.rgb or volume.leading_shape:
        raise RadiomicsInputError(
            f"radiomics needs a single-channel 2D or 3D volume, got {volume!r}; "
            "pick one channel or time point first"
        )
    array = np.asarray(volume.array)
    if array.dtype == bool:
        array = array.astype(np.uint8)
    if array.dtype.byteorder == ">":
        array = array.astype(array.dtype.newbyteorder("="))
    geometry = volume.itk_geometry()
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(geometry["spacing"])
    image.SetOrigin(geometry["origin"])
    image.SetDirection(geometry["direction"])
    return image


def _as3d(image: sitk.Image) -> sitk.Image:
    """2D images become one-slice 3D images (pyradiomics' C code always works in 3D)."""
    if image.GetDimension() == 3:
        return image
    return sitk.JoinSeries([image])


# --------------------------------------------------------------------------- checks
def check_label(mask: sitk.Image, label: int) -> sitk.Image:
    """Cast the mask to UInt32 (as pyradiomics' ``getMask``) and check that ``label`` is present."""
    mask = sitk.Cast(mask, sitk.sitkUInt32)
    array = sitk.GetArrayViewFromImage(mask)
    top = int(array.max()) if array.size else 0
    if top < 1 << 16:  # bincount is much faster than unique on a CT-sized label map
        labels = np.flatnonzero(np.bincount(array.ravel(), minlength=1))
    else:
        labels = np.unique(array)
    present = [int(v) for v in labels if v != 0]
    if not present:
        raise RadiomicsInputError("the mask is empty (no voxel is labelled); draw or load a segmentation first")
    if label not in present:
        raise RadiomicsInputError(
            f"label {label} not found in the mask; labels present: {', '.join(map(str, present))}"
        )
    return mask


def check_finite(image: sitk.Image) -> None:
    """Raise when the image holds NaN or infinite values."""
    check_finite_array(sitk.GetArrayViewFromImage(image))


def check_finite_array(array: np.ndarray) -> None:
    """:func:`check_finite` on a numpy array."""
    array = np.asarray(array)
    if np.issubdtype(array.dtype, np.floating) and not np.all(np.isfinite(array)):
        n = int(np.count_nonzero(~np.isfinite(array)))
        raise RadiomicsInputError(
            f"the image holds {n} NaN or infinite value(s); replace them (e.g. with the background value) first"
        )


def same_grid(image: sitk.Image, mask: sitk.Image, tolerance: float | None) -> str | None:
    """Why image and mask are not on the same grid (None when they are).

    Uses ITK's rule: origins and spacings may differ by ``tolerance * spacing[0]``,
    direction cosines by ``tolerance`` (default 1e-6, pyradiomics' ``geometryTolerance``).
    """
    return _grid_difference(*(
        {"size": list(i.GetSize()), "spacing": i.GetSpacing(), "origin": i.GetOrigin(), "direction": i.GetDirection()}
        for i in (image, mask)
    ), tolerance)


def _grid_difference(image: dict[str, Any], mask: dict[str, Any], tolerance: float | None) -> str | None:
    """:func:`same_grid` on ITK geometry dicts (``size``, ``spacing``, ``origin``, ``direction``)."""
    tol = 1e-6 if tolerance is None else float(tolerance)
    if list(image["size"]) != list(mask["size"]):
        return f"sizes differ (image {tuple(image['size'])}, mask {tuple(mask['size'])}, x/y/z)"
    coordinate_tol = tol * image["spacing"][0]
    if not np.allclose(image["spacing"], mask["spacing"], rtol=0, atol=coordinate_tol):
        return f"spacings differ (image {tuple(image['spacing'])}, mask {tuple(mask['spacing'])} mm, x/y/z)"
    if not np.allclose(image["origin"], mask["origin"], rtol=0, atol=coordinate_tol):
        return f"origins differ (image {tuple(image['origin'])}, mask {tuple(mask['origin'])} mm, x/y/z)"
    if not np.allclose(image["direction"], mask["direction"], rtol=0, atol=tol):
        return "directions differ"
    return None


def _crop_to_label(image: Volume, mask: Volume, settings: dict[str, Any]) -> tuple[Volume, Volume, tuple[int, ...]] | None:
    """Image and mask cut to the label's bounding box, and the box's start, when that gives
    the same ROI arrays as the whole images: no normalisation or resampling (which look at
    the whole image), an integer mask on the image's grid, the label present. None otherwise.

    Every later step reads only the ROI's box (resegmentation only shrinks it), so the
    features are identical; the whole-image work (UInt32 cast, label census, conversions to
    SimpleITK) then runs on the box: on lung1 0.02 s instead of 0.12 s.
    """
    if settings["normalize"] or (settings["interpolator"] is not None and settings["resampledPixelSpacing"] is not None):
        return None
    if image.rgb or mask.rgb or image.leading_shape or mask.leading_shape:
        return None
    labels = np.asarray(mask.array)
    if not (labels.dtype == bool or np.issubdtype(labels.dtype, np.integer)) or labels.shape != image.array.shape:
        return None
    if _grid_difference(image.itk_geometry(), mask.itk_geometry(), settings["geometryTolerance"]) is not None:
        return None
    roi = labels == settings["label"]
    if not roi.any():
        return None  # the full check names the labels present
    box = bounding_box(roi)
    crop = tuple(slice(a, b) for a, b in box)
    start = tuple(a for a, _ in box)
    origin = tuple(float(v) for v in image.index_to_world(np.asarray(start, float)))
    return (
        dataclasses.replace(image, array=np.asarray(image.array)[crop], origin=origin),
        dataclasses.replace(mask, array=labels[crop], origin=origin),
        start,
    )


def _roi_inside_image(image: sitk.Image, mask: sitk.Image, label: int) -> np.ndarray:
    """pyradiomics' ``_checkROI``: the label's box must lie inside the image; returns LabelShape bbox."""
    lssif = sitk.LabelShapeStatisticsImageFilter()
    lssif.Execute(mask)
    if label not in lssif.GetLabels():
        raise RadiomicsInputError(f"label {label} not found in the mask")
    bb = np.array(lssif.GetBoundingBox(label))
    nd = mask.GetDimension()
    low = image.TransformPhysicalPointToContinuousIndex(
        mask.TransformContinuousIndexToPhysicalPoint((bb[:nd] - 0.5).tolist()))
    high = image.TransformPhysicalPointToContinuousIndex(
        mask.TransformContinuousIndexToPhysicalPoint((bb[:nd] + bb[nd:] - 0.5).tolist()))
    bounds = np.array([low, high])
    tol = 1e-3
    if np.any(bounds.min(0) < -0.5 - tol) or np.any(bounds.max(0) > np.array(image.GetSize()) - 0.5 + tol):
        raise RadiomicsInputError(
            "the ROI's bounding box reaches outside the image; image and mask do not cover the same region"
        )
    return bb


def _resample_mask_to(image: sitk.Image, mask: sitk.Image) -> sitk.Image:
    rif = sitk.ResampleImageFilter()
    rif.SetReferenceImage(image)
    rif.SetInterpolator(sitk.sitkNearestNeighbor)
    return rif.Execute(mask)


def bounding_box(mask: np.ndarray) -> tuple[tuple[int, int], ...]:
    """(start, stop) of the True voxels along each axis (the mask must hold one)."""
    extent = mask_extent(mask)
    assert extent is not None, "bounding_box of an empty mask"
    return extent


def check_roi(mask: np.ndarray, settings: dict[str, Any], what: str = "mask") -> tuple[tuple[int, int], ...]:
    """pyradiomics' ``checkMask`` size rules on a bool ROI; returns its bounding box."""
    n = int(np.count_nonzero(mask))
    if n == 0:
        raise RadiomicsInputError(f"the {what} has no voxel with label {settings['label']}")
    box = bounding_box(mask)
    ndims = sum(stop - start > 1 for start, stop in box)
    if ndims == 0:
        raise RadiomicsInputError(
            f"the {what} holds a single voxel; features cannot be computed for one voxel"
        )
    if ndims < settings["minimumROIDimensions"]:
        raise RadiomicsInputError(
            f"the {what} spans {ndims} dimension(s) but minimumROIDimensions is {settings['minimumROIDimensions']}"
        )
    if settings["minimumROISize"] is not None and n <= settings["minimumROISize"]:
        raise RadiomicsInputError(
            f"the {what} has {n} voxels, not more than minimumROISize ({settings['minimumROISize']})"
        )
    return box


# --------------------------------------------------------------------------- steps
def normalize_image(image: sitk.Image, settings: dict[str, Any]) -> sitk.Image:
    """pyradiomics' ``normalizeImage``: z-score over the whole image, clip outliers, scale."""
    image = sitk.Normalize(image)
    outliers = settings.get("removeOutliers")
    if outliers is not None:
        array = sitk.GetArrayFromImage(image)
        array[array > outliers] = outliers
        array[array < -outliers] = -outliers
        clipped = sitk.GetImageFromArray(array)
        clipped.CopyInformation(image)
        image = clipped
    return image * settings.get("normalizeScale", 1)


def _interpolator(value: Any) -> int:
    if isinstance(value, str):
        return getattr(sitk, value)
    return int(value)


def resample_image_and_mask(image: sitk.Image, mask: sitk.Image, settings: dict[str, Any]) -> tuple[sitk.Image, sitk.Image]:
    """pyradiomics' ``resampleImage``: resample the ROI box (+ padDistance) onto the new spacing.

    The new grid keeps the mask's direction, is aligned with the mask's origin corner and
    covers only the ROI's bounding box plus ``padDistance`` new voxels, clipped to the
    image. Directions in which the ROI is one voxel thick keep their spacing, as do
    spacings given as 0.
    """
    label = settings["label"]
    pad = settings["padDistance"]
    mask_spacing = np.array(mask.GetSpacing())
    image_spacing = np.array(image.GetSpacing())
    new_spacing = np.array(settings["resampledPixelSpacing"], dtype=float)
    nd = mask.GetDimension()
    if len(new_spacing) != nd:
        raise RadiomicsInputError(
            f"resampledPixelSpacing has {len(new_spacing)} values but the image is {nd}D (give x, y[, z])"
        )
    new_spacing = np.where(new_spacing == 0, mask_spacing, new_spacing)
    bb = _roi_inside_image(image, mask, label)
    new_spacing = np.where(bb[nd:] != 1, new_spacing, mask_spacing)
    if np.allclose(image_spacing, new_spacing):
        mask = _resample_mask_to(image, mask)
        array = sitk.GetArrayViewFromImage(mask) == label
        box = bounding_box(array)  # numpy order
        size = np.array(array.shape)
        lower = [max(start - pad, 0) for start, _ in box]
        upper = [max(int(n) - stop - pad, 0) for (_, stop), n in zip(box, size)]
        return (sitk.Crop(image, lower[::-1], upper[::-1]), sitk.Crop(mask, lower[::-1], upper[::-1]))
    ratio = mask_spacing / new_spacing
    low = np.floor((bb[:nd] - 0.5) * ratio - pad)
    high = np.ceil((bb[:nd] + bb[nd:] - 0.5) * ratio + pad)
    max_high = np.ceil(np.array(mask.GetSize()) * ratio) - 1
    low = np.where(low < 0, 0, low)
    high = np.where(high > max_high, max_high, high)
    new_size = np.array(high - low + 1, dtype="int").tolist()
    origin_index = np.array(0.5 * (new_spacing - mask_spacing) / mask_spacing) + low / ratio
    new_origin = mask.TransformContinuousIndexToPhysicalPoint(origin_index.tolist())
    rif = sitk.ResampleImageFilter()
    rif.SetOutputSpacing(new_spacing.tolist())
    rif.SetOutputDirection(mask.GetDirection())
    rif.SetSize(new_size)
    rif.SetOutputOrigin(new_origin)
    rif.SetOutputPixelType(image.GetPixelID())
    rif.SetInterpolator(_interpolator(settings["interpolator"]))
    resampled_image = rif.Execute(image)
    rif.SetOutputPixelType(mask.GetPixelID())
    rif.SetInterpolator(sitk.sitkNearestNeighbor)
    resampled_mask = rif.Execute(mask)
    return resampled_image, resampled_mask


def resegment_mask(image: np.ndarray, mask: np.ndarray, settings: dict[str, Any]) -> np.ndarray:
    """pyradiomics' ``resegmentMask``: keep ROI voxels inside ``resegmentRange`` (closed range).

    Modes: ``absolute`` grey values, ``relative`` fractions of the ROI maximum, ``sigma``
    standard deviations (population, ``numpy.std``) around the ROI mean. One threshold
    keeps voxels at or above it.
    """
    rng = sorted(settings["resegmentRange"])
    mode = settings["resegmentMode"]
    values = image[mask]
    if mode == "absolute":
        thresholds = rng
    elif mode == "relative":
        thresholds = [np.max(values) * t for t in rng]
    else:
        mean, sd = np.mean(values), np.std(values)
        thresholds = [mean + sd * t for t in rng]
    out = mask.copy()
    out[out] = image[out] >= thresholds[0]
    if len(thresholds) == 2:
        out[out] = image[out] <= thresholds[1]
    kept = int(np.count_nonzero(out))
    if kept <= 1:
        raise RadiomicsInputError(
            f"resegmentation ({mode} range {list(settings['resegmentRange'])}) kept {kept} voxel(s) of label "
            f"{settings['label']}; widen resegmentRange"
        )
    return out


def prepare(image: Volume, mask: Volume, settings: dict[str, Any]) -> PreparedROI:
    """Run pyradiomics' preprocessing on a Volume pair (settings already resolved).

    Parameters
    ----------
    image, mask : Volume
        Grey values and integer labels (2D or 3D).
    settings : dict
        Output of :func:`~napari_medimg.analysis.radiomics.settings.resolve_settings`.

    Returns
    -------
    PreparedROI

    Raises
    ------
    RadiomicsInputError
        Empty mask, missing label, NaNs, grids that differ, ROI too small.
    """
    label = settings["label"]
    offset: tuple[int, ...] = (0,) * image.spatial_ndim
    if image.spatial_ndim == mask.spatial_ndim:
        check_finite_array(image.array)  # NaNs anywhere are refused, as without the crop
        cropped = _crop_to_label(image, mask, settings)
        if cropped is not None:
            image, mask, offset = cropped
    image_img = volume_to_image(image)
    mask_img = volume_to_image(mask)
    if image_img.GetDimension() != mask_img.GetDimension():
        raise RadiomicsInputError(
            f"image is {image_img.GetDimension()}D but mask is {mask_img.GetDimension()}D; give both on one grid"
        )
    check_finite(image_img)
    mask_img = check_label(mask_img, label)
    if settings["normalize"]:
        image_img = normalize_image(image_img, settings)
    if settings["interpolator"] is not None and settings["resampledPixelSpacing"] is not None:
        image_img, mask_img = resample_image_and_mask(image_img, mask_img, settings)
    # pyradiomics' checkMask: image and mask must share the grid (preCrop only changes memory use).
    why = same_grid(image_img, mask_img, settings["geometryTolerance"])
    if why is not None:
        if not settings["correctMask"]:
            raise RadiomicsInputError(
                f"image and mask are not on the same grid: {why}. Resample the mask onto the image, "
                "set correctMask=True, or raise geometryTolerance"
            )
        _roi_inside_image(image_img, mask_img, label)
        mask_img = _resample_mask_to(image_img, mask_img)
    image_img = _as3d(image_img)
    mask_img = _as3d(mask_img)
    spacing = tuple(float(s) for s in image_img.GetSpacing()[::-1])
    image_arr = sitk.GetArrayFromImage(image_img)
    roi = sitk.GetArrayViewFromImage(mask_img) == label
    box = check_roi(roi, settings)
    shape_box = box
    shape_roi = roi
    if settings["resegmentRange"] is not None:
        roi = resegment_mask(image_arr, roi, settings)
        box = check_roi(roi, settings, "resegmented mask")
        shape_box = box  # pyradiomics crops the shape mask with the resegmented box
        if settings["resegmentShape"]:
            shape_roi = roi
    crop = tuple(slice(a, b) for a, b in box)
    shape_crop = tuple(slice(a, b) for a, b in shape_box)
    shift = (0,) * (len(box) - len(offset)) + tuple(offset)  # 2D input became one-slice 3D
    return PreparedROI(
        image=np.ascontiguousarray(image_arr[crop]),
        mask=np.ascontiguousarray(roi[crop]),
        shape_mask=np.ascontiguousarray(shape_roi[shape_crop]),
        spacing=spacing,
        bounding_box=tuple((a + d, b + d) for (a, b), d in zip(box, shift)),
    )


# --------------------------------------------------------------------------- discretization
def _arith(values: np.ndarray) -> np.ndarray:
    # Integer grey values in int64 so that ``max + 2 * binWidth`` cannot overflow int16
    # (same numbers as pyradiomics whenever pyradiomics does not overflow).
    if np.issubdtype(values.dtype, np.integer) or values.dtype == bool:
        return values.astype(np.int64)
    return values


def bin_edges(values: np.ndarray, settings: dict[str, Any]) -> np.ndarray:
    """pyradiomics' ``getBinEdges``: fixed bin width from a multiple of it, or a fixed bin count.

    Fixed width W: edges ``arange(min - min % W, max + 2W, W)`` so that bins are equally
    spaced from 0 and every bin is half-open ``[lower, upper)``. Fixed count N: numpy's
    histogram edges with the top edge raised by 1 so that the maximum falls in bin N.
    """
    values = _arith(np.asarray(values))
    bin_count = settings.get("binCount")
    if bin_count is not None:
        edges = np.histogram(values, bin_count)[1]
        edges[-1] += 1
        return edges
    width = settings.get("binWidth", 25)
    minimum = values.min()
    maximum = values.max()
    low = minimum - (minimum % width)
    high = maximum + 2 * width
    edges = np.arange(low, high, width)
    if len(edges) == 1:  # flat region: one bin
        edges = np.array([edges[0] - 0.5, edges[0] + 0.5])
    return edges


def discretize(image: np.ndarray, mask: np.ndarray, settings: dict[str, Any]) -> np.ndarray:
    """Grey-level bin (1, 2, ...) of every ROI voxel, 0 outside the ROI (int32 array)."""
    out = np.zeros(image.shape, dtype=np.int32)
    values = image[mask]
    out[mask] = np.digitize(_arith(values), bin_edges(values, settings))
    return out
