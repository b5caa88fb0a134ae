"""Burned-in annotation: flag images that may show identity in their pixels, and blank regions."""

from __future__ import annotations

import numpy as np
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian

__all__ = ["burned_in_risk", "mask_pixel_regions"]

_SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"  # and its multi-frame variants .7.1 - .7.4
# modalities whose images commonly carry text in the pixels (scanner overlays, captured screens)
_TEXT_MODALITIES = {"US", "IVUS", "ES", "XC", "OT", "SC", "DOC", "GM", "SM", "OP", "XA", "RF"}


def burned_in_risk(ds: Dataset) -> str:
    """``"declared"``, ``"possible"`` or ``"no"``: may the pixels show text that identifies?

    ``declared`` when BurnedInAnnotation or RecognizableVisualFeatures is YES; ``possible`` for
    ultrasound, endoscopy, captured screens (secondary capture, ImageType SECONDARY) and other
    modalities that commonly burn text in, unless BurnedInAnnotation says NO; else ``no``.
    """
    if str(ds.get("BurnedInAnnotation", "")).upper() == "YES":
        return "declared"
    if str(ds.get("RecognizableVisualFeatures", "")).upper() == "YES":
        return "declared"
    if str(ds.get("BurnedInAnnotation", "")).upper() == "NO":
        return "no"
    sop = str(ds.get("SOPClassUID", ""))
    image_type = [str(v).upper() for v in (ds.get("ImageType") or [])]
    if (
        sop.startswith(_SECONDARY_CAPTURE)
        or str(ds.get("Modality", "")).upper() in _TEXT_MODALITIES
        or "SECONDARY" in image_type
        or "ConversionType" in ds
    ):
        return "possible"
    return "no"


def mask_pixel_regions(ds: Dataset, regions: tuple[tuple[int, int, int, int], ...]) -> int:
    """Blank ``regions`` (row0, col0, row1, col1) in every frame of ``ds``; return pixels blanked.

    The pixels get the frame's smallest stored value (black for MONOCHROME2 and colour, the
    background for MONOCHROME1 after inversion is applied by the viewer). Compressed pixel
    data is decoded and written back uncompressed (Explicit VR Little Endian).

    Raises
    ------
    ValueError
        When a region lies wholly outside the image.
    """
    if "PixelData" not in ds:
        return 0
    pixels = ds.pixel_array  # decoded with the installed pylibjpeg / openjpeg handlers
    rows, cols = int(ds.Rows), int(ds.Columns)
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    frames = pixels.reshape((-1, rows, cols) + ((samples,) if samples > 1 else ()))
    low = pixels.min()
    if str(ds.get("PhotometricInterpretation", "")).upper() == "MONOCHROME1":
        low = pixels.max()
    blanked = 0
    for row0, col0, row1, col1 in regions:
        r0, c0, r1, c1 = min(row0, rows), min(col0, cols), min(row1, rows), min(col1, cols)
        if r0 >= r1 or c0 >= c1:
            raise ValueError(f"mask region {(row0, col0, row1, col1)} lies outside the {rows}x{cols} image")
        frames[:, r0:r1, c0:c1] = low
        blanked += (r1 - r0) * (c1 - c0) * frames.shape[0]
    if "PhotometricInterpretation" in ds and str(ds.PhotometricInterpretation).startswith("YBR"):
        ds.PhotometricInterpretation = "RGB"  # pixel_array converted YBR to RGB
    ds.PixelData = np.ascontiguousarray(frames.reshape(pixels.shape)).tobytes()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds["PixelData"].VR = "OW" if int(ds.BitsAllocated) > 8 else "OB"
    if "PlanarConfiguration" in ds:
        ds.PlanarConfiguration = 0
    ds.LossyImageCompression = ds.get("LossyImageCompression", "00")
    return blanked
