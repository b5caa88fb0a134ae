"""Series discovery: group DICOM files by series, orientation and image size.

Only headers are read (``stop_before_pixels``). A SeriesInfo never carries patient
identifiers: only UIDs of the series, descriptions, modality and sizes. The
SeriesInstanceUID itself often encodes the acquisition date and the scanner's serial
number, so what reaches metadata, warnings and messages is an opaque :func:`series_key`
(a short hash); the UID is shown only when a caller asks for identifiers.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import os
from collections import defaultdict
from pathlib import Path

from pydicom.dataset import Dataset

from ..errors import ImageReadError
from ._files import collect_dicom_files, is_dicomdir, read_dataset
from ._frames import enhanced_item, number, orientation_of
from ._mosaic import is_mosaic

__all__ = ["SeriesInfo", "list_series", "discover", "find_series_of_file", "series_key", "series_key_of_file"]


def series_key(series_instance_uid: str, series_number: object = None) -> str:
    """An opaque, stable name for a series: a short hash of its UID and number.

    Files of one series give the same key; the key reveals neither the acquisition date
    nor the scanner serial that a SeriesInstanceUID often holds.

    Parameters
    ----------
    series_instance_uid : str
        The SeriesInstanceUID ("" when absent).
    series_number : object, optional
        SeriesNumber (several series may share a UID and differ by number).

    Returns
    -------
    str
        ``"series-"`` and 12 hexadecimal digits.

    Examples
    --------
    >>> series_key("1.2.3", 4) == series_key("1.2.3", "4")
    True
    """
    number = _as_int(series_number, None)
    digest = hashlib.sha256(f"{series_instance_uid}|{number}".encode()).hexdigest()
    return f"series-{digest[:12]}"


def series_key_of_file(path: str | os.PathLike) -> str | None:
    """:func:`series_key` of a DICOM file from its header alone (None when not readable).

    This is what ``metadata["series_key"]`` of a Volume read from that file's series
    holds, so a caller given many files can read each series once.
    """
    try:
        ds = read_dataset(path, header_only=True)
    except ImageReadError:
        return None
    uid = str(ds.get("SeriesInstanceUID", "") or "")
    return series_key(uid, ds.get("SeriesNumber")) if uid else None


def _as_int(value: object, default: int | None = 0) -> int | None:
    """An integer tag value, or ``default`` when absent, NaN or not a number."""
    number_ = number(value)
    if number_ is None or not math.isfinite(number_) or abs(number_) > 1 << 62:
        return default
    return int(number_)


@dataclasses.dataclass(frozen=True)
class SeriesInfo:
    """One series (or one part of a series split by orientation / size / number).

    Attributes
    ----------
    uid : str
        Key to pass as ``read_dicom(..., series_uid=uid)``: the SeriesInstanceUID, with
        ``"#2"``, ``"#3"`` ... appended to the smaller parts of a split series.
        An identifier: it never goes into metadata unless identifiers are asked for.
    key : str
        Opaque key of the same part (:func:`series_key` plus the ``"#n"`` suffix); also
        accepted as ``series_uid=``, and what ``metadata["other_series"]`` lists.
    series_instance_uid : str
        The SeriesInstanceUID tag (empty when the files have none).
    description : str
        SeriesDescription.
    modality : str
        Modality (CT, MR, CR, US, SEG, RTSTRUCT ...).
    n_files : int
        Number of files.
    n_frames : int
        Number of 2D images (frames, or mosaic files counted once).
    rows, columns : int
        Image size (0 when the objects hold no image).
    files : tuple of str
        The files, sorted.
    orientation : tuple of float or None
        ImageOrientationPatient (rounded to 4 decimals).
    series_number : int or None
        SeriesNumber.
    sop_class : str
        Name of the SOP class.
    has_pixels : bool
        Whether the objects are images.
    is_mosaic : bool
        Siemens mosaic images.
    split_reason : str
        Why a SeriesInstanceUID was split ("" when not split).
    """

    uid: str
    series_instance_uid: str
    description: str
    modality: str
    n_files: int
    n_frames: int
    rows: int
    columns: int
    files: tuple[str, ...]
    orientation: tuple[float, ...] | None
    series_number: int | None
    sop_class: str
    has_pixels: bool
    is_mosaic: bool
    split_reason: str = ""
    key: str = ""

    def summary(self, identifiers: bool = False) -> dict:
        """A short plain-dict description (for metadata['other_series']).

        Parameters
        ----------
        identifiers : bool
            Add the ``uid`` (SeriesInstanceUID-based); by default only the opaque ``key``.
        """
        out = {
            "key": self.key,
            "description": self.description,
            "modality": self.modality,
            "n_files": self.n_files,
            "size": [self.rows, self.columns],
        }
        if identifiers:
            out["uid"] = self.uid
        return out


def _orientation_key(ds: Dataset) -> tuple[float, ...] | None:
    iop = ds.get("ImageOrientationPatient")
    if iop is None:
        item = enhanced_item(ds, "PlaneOrientationSequence")
        iop = item.get("ImageOrientationPatient") if item is not None else None
    orientation = orientation_of(iop)
    return None if orientation is None else tuple(round(float(v), 4) + 0.0 for v in orientation.ravel())


def _group_key(ds: Dataset, path: Path) -> tuple:
    uid = str(ds.get("SeriesInstanceUID", "")) or f"no-series-uid:{path.parent}"
    return (
        uid,
        _orientation_key(ds),
        _as_int(ds.get("Rows")),
        _as_int(ds.get("Columns")),
        _as_int(ds.get("SeriesNumber"), None),
    )


def _sop_class_name(ds: Dataset) -> str:
    uid = ds.get("SOPClassUID")
    return str(getattr(uid, "name", uid or ""))


def _info(key: tuple, uid: str, members: list[tuple[Path, Dataset]], split_reason: str, opaque: str) -> SeriesInfo:
    first = members[0][1]
    n_frames = sum(max(_as_int(ds.get("NumberOfFrames"), 1) or 1, 1) for _, ds in members)
    series_number = _as_int(first.get("SeriesNumber"), None)
    return SeriesInfo(
        uid=uid,
        series_instance_uid=str(first.get("SeriesInstanceUID", "")),
        description=str(first.get("SeriesDescription", "")),
        modality=str(first.get("Modality", "")),
        n_files=len(members),
        n_frames=n_frames,
        rows=key[2],
        columns=key[3],
        files=tuple(str(p) for p, _ in members),
        orientation=key[1],
        series_number=series_number,
        sop_class=_sop_class_name(first),
        has_pixels="PixelData" in first or "FloatPixelData" in first,
        is_mosaic=is_mosaic(first),
        split_reason=split_reason,
        key=opaque,
    )


def _dedupe(members: list[tuple[Path, Dataset]], prefer: Path | None) -> list[tuple[Path, Dataset]]:
    """Drop files that repeat a SOPInstanceUID (copies), keeping ``prefer`` if it is one."""
    seen: set[str] = set()
    out = []
    members = sorted(members, key=lambda m: m[0] != prefer)
    for path, ds in members:
        sop = str(ds.get("SOPInstanceUID", "")) or str(path)
        if sop not in seen:
            seen.add(sop)
            out.append((path, ds))
    return sorted(out, key=lambda m: m[0])


def _build_infos(headers: list[tuple[Path, Dataset]], prefer: Path | None) -> list[SeriesInfo]:
    groups: dict[tuple, list[tuple[Path, Dataset]]] = defaultdict(list)
    for path, ds in headers:
        groups[_group_key(ds, path)].append((path, ds))
    by_uid: dict[str, list[tuple]] = defaultdict(list)
    for key in groups:
        by_uid[key[0]].append(key)
    infos = []
    for uid, keys in by_uid.items():
        keys.sort(key=lambda k: -len(groups[k]))
        reason = ""
        if len(keys) > 1:
            if len({k[1] for k in keys}) > 1:
                reason = "orientation"
            elif len({k[2:4] for k in keys}) > 1:
                reason = "image size"
            else:
                reason = "series number"
        tag_uid = "" if uid.startswith("no-series-uid:") else uid
        for i, key in enumerate(keys):
            label = uid if i == 0 else f"{uid}#{i + 1}"
            opaque = series_key(tag_uid or uid, key[4])
            parts = [k for k in keys[:i] if k[4] == key[4]]
            opaque += f"#{len(parts) + 1}" if parts else ""
            infos.append(_info(key, label, _dedupe(groups[key], prefer), reason, opaque))
    infos.sort(key=lambda s: (not s.has_pixels, -s.n_files, -s.n_frames, s.uid))
    return infos


def discover(
    files: list[Path], prefer: Path | None = None
) -> tuple[list[SeriesInfo], list[str], dict[str, Dataset]]:
    """Read the headers of ``files`` and group them.

    Parameters
    ----------
    files : list of Path
        DICOM files.
    prefer : Path, optional
        The file a user picked: among copies with the same SOPInstanceUID, keep it.

    Returns
    -------
    infos : list of SeriesInfo
        Image series first, largest first.
    skipped : list of str
        "file: reason" for files that could not be parsed (for messages to the caller;
        never copied into metadata, which only counts them).
    datasets : dict
        The parsed datasets by file name (pixel data deferred), for reuse.

    Raises
    ------
    ImageReadError
        When no file could be parsed.
    """
    headers, skipped, first_error = [], [], None
    for path in files:
        try:
            ds = read_dataset(path, header_only=True)
            if is_dicomdir(ds):
                continue
            _group_key(ds, path)  # touches the tags grouping needs: a damaged one raises here
        except ImageReadError as exc:
            skipped.append(f"{path.name}: {exc}")
            first_error = first_error or exc
            continue
        except Exception as exc:  # noqa: BLE001 - pydicom parses lazily; bad values raise late
            error = ImageReadError(
                f"{path} could not be parsed as DICOM ({type(exc).__name__}: {str(exc)[:200]}). "
                "The file is probably corrupt; copy it again from its source."
            )
            skipped.append(f"{path.name}: {error}")
            first_error = first_error or error
            continue
        headers.append((path, ds))
    if not headers:
        if first_error is not None and len(files) == 1:
            raise first_error
        raise ImageReadError(
            f"None of the {len(files)} DICOM file(s) could be read"
            + (f"; the first problem: {first_error}" if first_error else " (only a DICOMDIR index)")
        )
    return _build_infos(headers, prefer), skipped, {str(p): ds for p, ds in headers}


def find_series_of_file(path: Path, infos: list[SeriesInfo]) -> SeriesInfo:
    """The SeriesInfo that contains ``path``."""
    for info in infos:
        if str(path) in info.files:
            return info
    raise ImageReadError(f"{path} could not be read as part of a DICOM series.")  # pragma: no cover


def list_series(path: str | os.PathLike) -> list[SeriesInfo]:
    """List the DICOM series in a folder (recursively) or the series of one file.

    Files are grouped by SeriesInstanceUID, and a series is split further when its
    files differ in ImageOrientationPatient, image size or SeriesNumber (edited copies
    of a series sometimes keep the UID but change the number). Only headers are read.

    Parameters
    ----------
    path : str or os.PathLike
        A folder, or one DICOM file (then its folder's files of the same series).

    Returns
    -------
    list of SeriesInfo
        Image series first, the one with the most files first.

    Raises
    ------
    ImageReadError
        For a missing path, a folder without DICOM files, or unreadable files.
    """
    path = Path(path)
    if path.is_dir():
        return discover(collect_dicom_files(path))[0]
    if not path.exists():
        raise ImageReadError(f"{path} does not exist.")
    read_dataset(path, header_only=True)  # clear error for this very file
    infos = discover(collect_dicom_files(path.parent, recursive=False), prefer=path)[0]
    return [find_series_of_file(path, infos)]
