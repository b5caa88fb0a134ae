"""Conversion between :class:`~napari_medimg.volume.Volume` and ``SimpleITK.Image``.

This is where ITK's ``(x, y, z)`` order meets numpy's ``(z, y, x)``: spacing, origin
and direction are reversed here and nowhere else.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import SimpleITK as sitk

from ..volume import Volume
from .errors import ImageReadError, ImageWriteError

__all__ = ["volume_from_sitk", "volume_to_sitk", "is_labels_header", "LABELS_NOTE"]

# How a labels file says what it holds: the NIfTI ``descrip`` field (ITK's file notes;
# SimpleITK cannot write a NIfTI intent code) and a key of NRRD / MetaImage headers.
LABELS_NOTE = "napari-medimg labels"
_CONTENT_KEY = "medimg_content"
_NIFTI_INTENT_LABEL = "1002"


def is_labels_header(header: dict[str, str]) -> bool:
    """True when a file's header says it holds labels.

    Recognised: files written by this package, a NIfTI intent code of 1002
    (``NIFTI_INTENT_LABEL``, e.g. from nibabel or FreeSurfer), and 3D Slicer
    segmentations (``.seg.nrrd``: ``Segment0_ID`` and the segmentation keys).

    Parameters
    ----------
    header : dict of str to str
        The header's key-value pairs as SimpleITK reads them.
    """
    return (
        header.get("descrip", "").strip() == LABELS_NOTE
        or header.get("ITK_FileNotes", "").strip() == LABELS_NOTE
        or header.get(_CONTENT_KEY, "").strip() == "labels"
        or header.get("intent_code", "").strip() == _NIFTI_INTENT_LABEL
        or "Segment0_ID" in header
        or "Segmentation_MasterRepresentation" in header
    )

# numpy dtypes SimpleITK cannot hold, and what to store them as instead.
_STORAGE_DTYPE = {np.dtype(bool): np.dtype(np.uint8), np.dtype(np.float16): np.dtype(np.float32)}


def _header_of(image: sitk.Image) -> dict[str, str]:
    """The image's header key-value pairs; values that are not valid text are skipped."""
    header = {}
    for key in image.GetMetaDataKeys():
        try:
            header[key] = image.GetMetaData(key)
        except (TypeError, UnicodeDecodeError):
            continue
    return header


def volume_from_sitk(image: sitk.Image, metadata: dict[str, Any] | None = None) -> Volume:
    """Make a Volume from a SimpleITK image, keeping its geometry.

    A 4D image becomes ``(t, z, y, x)`` with the fourth ITK axis as time (its spacing
    goes to ``metadata["time_spacing"]``). Images with 3 or 4 components of type
    uint8 become colour (``rgb=True``).

    Parameters
    ----------
    image : SimpleITK.Image
        The image to convert.
    metadata : dict, optional
        Safe metadata to attach.

    Returns
    -------
    Volume
    """
    dim = image.GetDimension()
    components = image.GetNumberOfComponentsPerPixel()
    array = sitk.GetArrayFromImage(image)
    meta = dict(metadata or {})
    if is_labels_header(_header_of(image)):
        meta["kind"] = "labels"
    rgb = False
    if components > 1:
        if components in (3, 4) and array.dtype == np.uint8:
            rgb = True
        else:
            raise ImageReadError(
                f"the image has {components} components of type {array.dtype} per pixel; "
                "only grey-level images and 8-bit RGB/RGBA colour images are supported. "
                "Split the components into separate files first."
            )
    spatial = min(dim, 3)
    spacing = np.asarray(image.GetSpacing())
    origin = np.asarray(image.GetOrigin())
    direction = np.asarray(image.GetDirection()).reshape(dim, dim)
    if dim == 4:
        meta.setdefault("time_spacing", float(spacing[3]))
        meta.setdefault("time_origin", float(origin[3]))
    elif dim not in (2, 3):
        raise ImageReadError(f"{dim}D images are not supported; expected 2D, 3D or 4D")
    direction = direction[:spatial, :spatial]
    return Volume(
        array=array,
        spacing=tuple(spacing[:spatial][::-1]),
        origin=tuple(origin[:spatial][::-1]),
        direction=direction[::-1, ::-1],
        metadata=meta,
        rgb=rgb,
    )


def volume_to_sitk(volume: Volume) -> sitk.Image:
    """Make a SimpleITK image with the Volume's geometry.

    Booleans are stored as uint8. A ``(t, z, y, x)`` volume becomes a 4D image.

    Parameters
    ----------
    volume : Volume
        The volume to convert.

    Returns
    -------
    SimpleITK.Image
    """
    array = volume.array
    storage = _STORAGE_DTYPE.get(array.dtype)
    if storage is not None:
        array = array.astype(storage)
    leading = volume.leading_shape
    if len(leading) > 1 or (leading and volume.spatial_ndim != 3):
        raise ImageWriteError(
            f"cannot store an array of shape {array.shape} with {volume.spatial_ndim} spatial "
            "axes: only (t, z, y, x) is supported beyond 3D"
        )
    if array.dtype.byteorder == ">":
        array = array.astype(array.dtype.newbyteorder("="))
    image = sitk.GetImageFromArray(array, isVector=volume.rgb)
    n = volume.spatial_ndim
    spacing = list(volume.spacing[::-1])
    origin = list(volume.origin[::-1])
    direction = np.asarray(volume.direction)[::-1, ::-1]
    if leading:
        spacing.append(float(volume.metadata.get("time_spacing", 1.0)))
        origin.append(float(volume.metadata.get("time_origin", 0.0)))
        full = np.eye(n + 1)
        full[:n, :n] = direction
        direction = full
    image.SetSpacing(spacing)
    image.SetOrigin(origin)
    image.SetDirection([float(v) for v in direction.ravel()])
    if volume.metadata.get("kind") == "labels":
        image.SetMetaData("ITK_FileNotes", LABELS_NOTE)
        image.SetMetaData(_CONTENT_KEY, "labels")
    return image
