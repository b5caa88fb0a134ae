"""read_dicom: pick a series, decode it, stack it, and build the Volume."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.dataset import Dataset

from ...volume import Volume
from ..errors import ImageReadError
from ..warnings_codes import (
    INVALID_RESCALE,
    LOSSY,
    MOSAIC,
    MULTIPLE_SERIES,
    NO_META_HEADER,
    NO_SPACING,
    UNREADABLE_FILES,
    make_warning,
)
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
def _name(info: SeriesInfo, identifiers: bool) -> str:
    """How messages and warnings name a series: its opaque key, or its UID when asked."""
    return info.uid if identifiers else info.key


def _choose(
    infos: list[SeriesInfo], series_uid: str | None, anchor: Path | None, source: Path, identifiers: bool
) -> tuple[SeriesInfo, list[str]]:
    """The series to read, and warnings about the ones left aside."""
    notes: list[str] = []
    if anchor is not None:
        chosen = find_series_of_file(anchor, infos)
    elif series_uid is not None:
        exact = [s for s in infos if series_uid in (s.uid, s.key)]
        parts = [s for s in infos if s.series_instance_uid == series_uid]
        if not exact and not parts:
            listing = "; ".join(
                f"{_name(s, identifiers)} ({s.modality} {s.description!r}, {s.n_files} files)" for s in infos
            )
            raise ImageReadError(f"No series {series_uid} in {source}. Available: {listing}")
        chosen = (exact or parts)[0]
    else:
        chosen = infos[0]
    if not chosen.has_pixels:
        what = f"{chosen.modality or 'unknown modality'}, {chosen.sop_class or 'unknown SOP class'}"
        where = anchor or (Path(chosen.files[0]) if chosen.n_files == 1 else source)
        if "Image" in chosen.sop_class or chosen.rows:
            raise ImageReadError(
                f"{where}: the series ({what}) is an image type but its file(s) hold no pixel "
                "data: they are probably truncated or corrupt. Copy them again from the source."
            )
        raise ImageReadError(
            f"{where}: the series ({what}) holds no pixel data; it is not an image "
            "(e.g. a structure set or report). Open the image series it refers to instead."
        )
    others = [s for s in infos if s is not chosen]
    if others and anchor is None:
        if chosen.split_reason and any(s.series_instance_uid == chosen.series_instance_uid for s in others):
            notes.append(
                make_warning(
                    MULTIPLE_SERIES,
                    f"series {_name(chosen, identifiers)} mixes {chosen.split_reason}s; "
                    f"the largest part ({chosen.n_files} files) was read.",
                )
            )
        notes.append(
            make_warning(
                MULTIPLE_SERIES,
                f"{len(others) + 1} series found; read {_name(chosen, identifiers)} ({chosen.modality} "
                f"{chosen.description!r}, {chosen.n_files} files); the others are listed in "
                "metadata['other_series']: pass series_uid= (their key) to read one of them.",
            )
        )
    return chosen, notes


# ---------------------------------------------------------------- decoding
def _check_series_memory(path: Path, info: SeriesInfo, parsed: dict[str, Dataset]) -> None:
    """Refuse a series whose decoding would not fit in memory, from its tags alone.

    Decoded size: Rows x Columns x frames (NumberOfFrames summed over the files) x
    SamplesPerPixel x BitsAllocated / 8. Reading keeps three arrays alive at its peak: the
    decoded frames, their stack, and the rescaled result (float32 when RescaleSlope or
    RescaleIntercept is fractional). Same rule and message as the other readers
    (:func:`napari_medimg.io.validate.refuse_if_too_large`).
    """
    from ..validate import refuse_if_too_large
    from ._series import _as_int

    first = parsed.get(info.files[0]) if info.files else None
    if first is None or not info.rows or not info.columns:
        return
    bits = _as_int(first.get("BitsAllocated"), 16) or 16
    stored = max(1, min(8, -(-bits // 8)))
    samples = max(1, min(4, _as_int(first.get("SamplesPerPixel"), 1) or 1))
    fractional = any(
        (value := number(first.get(tag))) is not None and np.isfinite(value) and value != int(value)
        for tag in ("RescaleSlope", "RescaleIntercept")
    )
    out = 4 if fractional else max(stored, 2)
    pixels = int(info.rows) * int(info.columns) * int(info.n_frames) * samples
    refuse_if_too_large(
        path,
        f"the series declares {info.rows} x {info.columns} pixels x {info.n_frames} frame(s) in "
        f"{info.n_files} file(s), {samples * stored} byte(s) per pixel",
        pixels * stored,
        pixels * (2 * stored + out),
        "Close other programs or use a machine with more memory, or read fewer files (one "
        "series, or a subset of its files). If the size is not what the series should be, "
        "the Rows, Columns or NumberOfFrames tags are corrupt.",
    )


def _decode_file(name: str, parsed: dict[str, Dataset]) -> tuple[Dataset, list[Frame], bool]:
    """One file's dataset, frames and colour flag; any failure is an ImageReadError naming it."""
    try:
        ds = parsed.get(name) or read_dataset(name, header_only=False)
        pixels, _ = decode_frames(ds, name)
        frames = frames_from_dataset(ds, pixels)
    except ImageReadError:
        raise
    except Exception as exc:  # noqa: BLE001 - pydicom parses lazily: a damaged tag raises late
        raise ImageReadError(
            f"{name} could not be decoded ({type(exc).__name__}: {str(exc)[:200]}). The file is "
            "probably corrupt or its image description tags are wrong; copy it again from its source."
        ) from None
    return ds, frames, pixels.ndim == 4


def _decode_series(
    info: SeriesInfo, parsed: dict[str, Dataset], anchor: Path | None
) -> tuple[list[Dataset], list[Frame], bool, int]:
    """Decode every file of a series, skipping damaged ones when others remain.

    The file a user picked (``anchor``) is never skipped: its error is raised.

    Returns
    -------
    datasets, frames, rgb, n_skipped
    """
    datasets, frames, rgb = [], [], False
    errors: list[ImageReadError] = []
    for name in info.files:
        try:
            ds, file_frames, colour = _decode_file(name, parsed)
        except ImageReadError as exc:
            if anchor is not None and Path(name) == anchor:
                raise
            errors.append(exc)
            continue
        if frames and (file_frames[0].pixels.shape != frames[0].pixels.shape):
            errors.append(ImageReadError(f"{name}: its image size differs from the rest of its series"))
            continue
        rgb = rgb or colour
        datasets.append(ds)
        frames.extend(file_frames)
    if not datasets:
        raise errors[0]
    return datasets, frames, rgb, len(errors)


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


def _file_notes(datasets: list[Dataset], skipped: int, frames: list[Frame]) -> list[str]:
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
        # how many, never which: file names can identify a patient
        notes.append(
            make_warning(
                UNREADABLE_FILES,
                f"{skipped} damaged or unreadable file(s) in the folder were skipped; read the "
                "files one by one to see which and why.",
            )
        )
    ignored = sum(f.rescale_ignored for f in frames)
    if ignored:
        notes.append(
            make_warning(
                INVALID_RESCALE,
                f"the RescaleSlope / RescaleIntercept of {ignored} image(s) are NaN, infinite, zero or "
                "absurd; they were ignored (stored values shown), so units such as HU may be wrong.",
            )
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
    identifiers: bool = False,
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
    identifiers : bool
        Put the SeriesInstanceUID into ``metadata["series_uid"]``, warnings and
        ``other_series``. By default only an opaque ``series_key`` is given: the UID
        often encodes the acquisition date and the scanner's serial number.

    Returns
    -------
    Volume
        ``(z, y, x)``, ``(t, z, y, x)`` for several images per position, ``(y, x)`` for
        a single image, with a trailing colour axis for RGB. Geometry in numpy order;
        safe metadata only, with ``metadata["warnings"]``.

    Raises
    ------
    ImageReadError
        For anything that cannot be read, with the file's name, the reason and what to
        do. A damaged file beside a readable series is skipped (warning
        ``unreadable_files``, which counts them but does not name them).

    Examples
    --------
    >>> vol = read_dicom("series_folder")  # doctest: +SKIP
    >>> vol.array.shape, vol.spacing        # doctest: +SKIP
    ((35, 256, 256), (4.8, 1.015625, 1.015625))
    """
    path = Path(path)
    if not path.exists():
        raise ImageReadError(f"{path} does not exist.")
    try:
        return _read_dicom(path, series_uid, resample_tilt, resample_nonuniform, identifiers)
    except ImageReadError:
        raise
    except MemoryError:
        raise ImageReadError(
            f"{path}: not enough memory to decode this series; close other programs, or read "
            "fewer files (one series, or a subset of its files)."
        ) from None
    except (KeyboardInterrupt, SystemExit, GeneratorExit):
        raise
    except BaseException as exc:  # noqa: BLE001 - the last guard (Rust decoders panic with a BaseException)
        raise ImageReadError(
            f"{path} could not be read as DICOM ({type(exc).__name__}: {str(exc)[:200]}). A file is "
            "probably corrupt or has inconsistent tags; copy the files again from their source."
        ) from None


def _read_dicom(
    path: Path, series_uid: str | None, resample_tilt: bool, resample_nonuniform: bool, identifiers: bool
) -> Volume:
    """:func:`read_dicom` without its last guard."""
    anchor = None
    if path.is_dir():
        files = collect_dicom_files(path)
    else:
        read_dataset(path, header_only=True)  # a clear error for this very file
        files, anchor = collect_dicom_files(path.parent, recursive=False), path
    infos, skipped, parsed = discover(files, prefer=anchor)
    if anchor is not None and not any(str(anchor) in s.files for s in infos):
        raise ImageReadError(next((s.split(": ", 1)[1] for s in skipped if s.startswith(anchor.name + ": ")), f"{anchor} could not be parsed as DICOM."))
    info, notes = _choose(infos, series_uid, anchor, path, identifiers)
    _check_series_memory(path, info, parsed)  # before any pixel is decoded
    datasets, frames, rgb, n_bad = _decode_series(info, parsed, anchor)
    first = datasets[0]
    metadata = safe_metadata(first, identifiers=identifiers)
    metadata["n_files"] = len(datasets)
    if len(frames) == 1:
        volume, warnings_ = _read_2d(first, frames[0], rgb)
        metadata.update(volume.metadata)
    else:
        tilt_tag = number(first.get("GantryDetectorTilt"))
        result = stack_frames(
            frames,
            resample_tilt=resample_tilt,
            resample_nonuniform=resample_nonuniform,
            gantry_tilt_tag=tilt_tag if tilt_tag and np.isfinite(tilt_tag) else None,
            rgb=rgb,
        )
        volume = Volume(result.array, result.spacing, result.origin, result.direction, rgb=rgb)
        warnings_ = result.warnings
        metadata.setdefault("spacing_source", "PixelSpacing; slice spacing from ImagePositionPatient along the normal")
        metadata.update(result.metadata)
    if is_mosaic(first):
        metadata["mosaic"] = {"images_in_mosaic": images_in_mosaic(first), "tile_shape": list(frames[0].pixels.shape[:2])}
    metadata["warnings"] = notes + _file_notes(datasets, len(skipped) + n_bad, frames) + warnings_
    metadata["other_series"] = [] if anchor else [s.summary(identifiers) for s in infos if s is not info]
    volume.metadata = metadata
    volume.metadata["axis_labels"] = _axis_labels(volume)
    return volume
