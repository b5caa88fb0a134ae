"""read_dicom: pick a series, decode it, stack it, and build the Volume."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.dataset import Dataset

from ...volume import Volume
from ..errors import ImageReadError
from ..warnings_codes import LOSSY, MOSAIC, MULTIPLE_SERIES, NO_META_HEADER, NO_SPACING, UNREADABLE_FILES, make_warning
from ._files import collect_dicom_files, read_dataset
from ._frames import Frame, frames_from_dataset, number
from ._metadata import plane_spacing, safe_metadata
from ._mosaic import images_in_mosaic, is_mosaic
from ._pixels import apply_rescale, decode_frames
from ._series import SeriesInfo, discover, find_series_of_file
from ._stack import stack_frames

__all__ = ["read_dicom"]


_LOSSY_SYNTAXES = {
    "1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51", "1.2.840.10008.1.2.4.81",
    "1.2.840.10008.1.2.4.91", "1.2.840.10008.1.2.4.203",
}


# ------------------------------------------------------------ series choice
def _choose(
    infos: list[SeriesInfo], series_uid: str | None, anchor: Path | None
) -> tuple[SeriesInfo, list[str]]:
    """The series to read, and warnings about the ones left aside."""
    notes: list[str] = []
    if anchor is not None:
        chosen = find_series_of_file(anchor, infos)
    elif series_uid is not None:
        exact = [s for s in infos if s.uid == series_uid]
        parts = [s for s in infos if s.series_instance_uid == series_uid]
        if not exact and not parts:
            listing = "; ".join(f"{s.uid} ({s.modality} {s.description!r}, {s.n_files} files)" for s in infos)
            raise ImageReadError(f"No series with UID {series_uid} here. Available: {listing}")
        chosen = (exact or parts)[0]
    else:
        chosen = infos[0]
    if not chosen.has_pixels:
        what = f"{chosen.modality or 'unknown modality'}, {chosen.sop_class or 'unknown SOP class'}"
        if "Image" in chosen.sop_class or chosen.rows:
            raise ImageReadError(
                f"The series {chosen.uid} ({what}) is an image type but its file(s) hold no pixel "
                "data: they are probably truncated or corrupt. Copy them again from the source."
            )
        raise ImageReadError(
            f"The series {chosen.uid} ({what}) holds no pixel data; it is not an image "
            "(e.g. a structure set or report). Open the image series it refers to instead."
        )
    others = [s for s in infos if s is not chosen]
    if others and anchor is None:
        if chosen.split_reason and any(s.series_instance_uid == chosen.series_instance_uid for s in others):
            notes.append(
                make_warning(
                    MULTIPLE_SERIES,
                    f"series {chosen.series_instance_uid} mixes {chosen.split_reason}s; "
                    f"the largest part ({chosen.n_files} files) was read.",
                )
            )
        notes.append(
            make_warning(
                MULTIPLE_SERIES,
                f"{len(others) + 1} series found; read {chosen.uid} ({chosen.modality} "
                f"{chosen.description!r}, {chosen.n_files} files); the others are listed in "
                "metadata['other_series']: pass series_uid= to read one of them.",
            )
        )
    return chosen, notes


# ---------------------------------------------------------------- decoding
def _decode_series(info: SeriesInfo, parsed: dict[str, Dataset]) -> tuple[list[Dataset], list[Frame], bool]:
    datasets, frames, rgb = [], [], False
    for name in info.files:
        ds = parsed.get(name) or read_dataset(name, header_only=False)
        pixels, _ = decode_frames(ds, name)
        rgb = rgb or pixels.ndim == 4
        datasets.append(ds)
        frames.extend(frames_from_dataset(ds, pixels))
    return datasets, frames, rgb


def _read_2d(ds: Dataset, frame: Frame, rgb: bool) -> tuple[Volume, list[str]]:
    """A single image: 2D Volume with in-plane spacing; its 3D placement goes to metadata."""
    array = frame.pixels if rgb else apply_rescale(frame.pixels, np.array(frame.slope), np.array(frame.intercept))
    spacing, source = plane_spacing(ds)
    warnings_ = []
    if spacing is None:
        spacing, source = (1.0, 1.0), "none (default 1 mm)"
        warnings_.append(
            make_warning(
                NO_SPACING,
                "no valid PixelSpacing, ImagerPixelSpacing or ultrasound region spacing: "
                "1 mm per pixel is assumed; measurements are in pixels, not mm.",
            )
        )
    meta: dict[str, Any] = {"spacing_source": source}
    if frame.position is not None and frame.orientation is not None:
        meta["plane_geometry"] = {
            "image_position_patient": frame.position.tolist(),
            "image_orientation_patient": frame.orientation.ravel().tolist(),
        }
    volume = Volume(array, spacing, (0.0, 0.0), np.eye(2), meta, rgb=rgb)
    return volume, warnings_


def _mosaic_note(ds: Dataset) -> str:
    n = images_in_mosaic(ds)
    return make_warning(
        MOSAIC,
        f"Siemens mosaic unpacked into {n} slices per file; the first slice's position was "
        "corrected from the mosaic's ImagePositionPatient (dcm2niix / nibabel rule) and "
        "slices follow the CSA SliceNormalVector.",
    )


def _file_notes(datasets: list[Dataset], skipped: list[str]) -> list[str]:
    first = datasets[0]
    notes = []
    if is_mosaic(first):
        notes.append(_mosaic_note(first))
    if getattr(first, "stray_leading_bytes", None) is not None or "MediaStorageSOPClassUID" not in first.file_meta:
        notes.append(
            make_warning(
                NO_META_HEADER,
                f"read without a DICOM file meta header (no preamble, transfer syntax guessed as "
                f"{first.file_meta.TransferSyntaxUID.name})"
                + (
                    f"; {first.stray_leading_bytes} stray byte(s) before the first element were skipped"
                    if getattr(first, "stray_leading_bytes", None)
                    else ""
                )
                + ".",
            )
        )
    syntax = str(first.file_meta.TransferSyntaxUID)
    if syntax in _LOSSY_SYNTAXES or str(first.get("LossyImageCompression", "00")) == "01":
        notes.append(make_warning(LOSSY, "the pixel data were lossy-compressed; values are approximate."))
    if skipped:
        notes.append(
            make_warning(UNREADABLE_FILES, f"{len(skipped)} file(s) could not be parsed and were skipped: {skipped[:3]}")
        )
    return notes


def _axis_labels(volume: Volume) -> list[str]:
    spatial = ["z", "y", "x"][-volume.spatial_ndim :]
    return ["t"] * len(volume.leading_shape) + spatial + (["c"] if volume.rgb else [])


# -------------------------------------------------------------------- main
def read_dicom(
    path: str | os.PathLike,
    *,
    series_uid: str | None = None,
    resample_tilt: bool = False,
    resample_nonuniform: bool = False,
) -> Volume:
    """Read a DICOM series (or a single DICOM image) into a :class:`Volume`.

    Parameters
    ----------
    path : str or os.PathLike
        A folder (searched recursively), or any one file of a series: then the
        files in that file's folder with the same series (UID, orientation, size).
    series_uid : str, optional
        Which series of a folder to read (``SeriesInfo.uid`` from :func:`list_series`,
        or a SeriesInstanceUID). By default the series with the most files.
    resample_tilt : bool
        Shift gantry-tilted (sheared) slices onto a regular grid.
    resample_nonuniform : bool
        Interpolate non-uniformly spaced slices linearly onto a uniform grid whose
        spacing is the smallest gap.

    Returns
    -------
    Volume
        ``(z, y, x)``, ``(t, z, y, x)`` for several images per position, ``(y, x)`` for
        a single image, with a trailing colour axis for RGB. Geometry in numpy order;
        safe metadata only, with ``metadata["warnings"]``.

    Raises
    ------
    ImageReadError
        For anything that cannot be read, with the reason and what to do.

    Examples
    --------
    >>> vol = read_dicom("series_folder")  # doctest: +SKIP
    >>> vol.array.shape, vol.spacing        # doctest: +SKIP
    ((35, 256, 256), (4.8, 1.015625, 1.015625))
    """
    path = Path(path)
    if not path.exists():
        raise ImageReadError(f"{path} does not exist.")
    anchor = None
    if path.is_dir():
        files = collect_dicom_files(path)
    else:
        read_dataset(path, header_only=True)  # a clear error for this very file
        files, anchor = collect_dicom_files(path.parent, recursive=False), path
    infos, skipped, parsed = discover(files, prefer=anchor)
    info, notes = _choose(infos, series_uid, anchor)
    datasets, frames, rgb = _decode_series(info, parsed)
    first = datasets[0]
    metadata = safe_metadata(first)
    metadata["n_files"] = info.n_files
    if len(frames) == 1:
        volume, warnings_ = _read_2d(first, frames[0], rgb)
        metadata.update(volume.metadata)
    else:
        tilt_tag = number(first.get("GantryDetectorTilt"))
        result = stack_frames(
            frames,
            resample_tilt=resample_tilt,
            resample_nonuniform=resample_nonuniform,
            gantry_tilt_tag=tilt_tag if tilt_tag else None,
            rgb=rgb,
        )
        volume = Volume(result.array, result.spacing, result.origin, result.direction, rgb=rgb)
        warnings_ = result.warnings
        metadata.setdefault("spacing_source", "PixelSpacing; slice spacing from ImagePositionPatient along the normal")
        metadata.update(result.metadata)
    if is_mosaic(first):
        metadata["mosaic"] = {"images_in_mosaic": images_in_mosaic(first), "tile_shape": list(frames[0].pixels.shape[:2])}
    metadata["warnings"] = notes + _file_notes(datasets, skipped) + warnings_
    metadata["other_series"] = [] if anchor else [s.summary() for s in infos if s is not info]
    volume.metadata = metadata
    volume.metadata["axis_labels"] = _axis_labels(volume)
    return volume
