"""De-identify a DICOM file or a folder of them into a new copy with the same layout."""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydicom.dataset import Dataset

from ... import __version__
from ...progress import CancelCheck, ProgressCallback, check_cancel, report
from ..atomic import atomic_write, refuse_existing
from ..dicom._files import _walk, is_dicom_file, is_dicomdir, read_dataset
from ..errors import ImageReadError, ImageWriteError
from ._burned_in import burned_in_risk, mask_pixel_regions
from ._dataset import deidentify_dataset
from ._options import DeidentifyOptions
from ._table import profile_table
from ._uids import UidMap

__all__ = ["FileRecord", "DeidentificationReport", "deidentify", "report_path_for"]


@dataclass
class FileRecord:
    """What happened to one input file (paths relative to the input; no attribute values)."""

    source: str
    output: str | None
    status: str  # "written", "skipped" or "failed"
    message: str = ""
    changes: dict[str, int] = field(default_factory=dict)
    burned_in: str = "no"
    renamed: bool = False
    #: the input file itself (kept in memory for the caller, never written to the report)
    path: Path | None = field(default=None, repr=False, compare=False)


@dataclass
class DeidentificationReport:
    """The run: options, the profile's edition, one record per file, and totals."""

    input: str
    output: str
    options: dict[str, Any]
    files: list[FileRecord] = field(default_factory=list)

    @property
    def written(self) -> list[FileRecord]:
        return [f for f in self.files if f.status == "written"]

    @property
    def needs_review(self) -> list[FileRecord]:
        """Written files whose pixels may show identity (burned-in text) and were not masked."""
        return [f for f in self.written if f.burned_in != "no" and "pixels blanked" not in f.changes]

    def summary(self) -> str:
        counts = Counter(f.status for f in self.files)
        changes: Counter[str] = Counter()
        for f in self.files:
            changes.update(f.changes)
        text = ", ".join(f"{n} {k}" for k, n in sorted(changes.items()))
        line = (f"{counts['written']} file(s) de-identified, {counts['skipped']} skipped, {counts['failed']} failed"
                + (f" ({text})" if text else ""))
        if self.needs_review:
            line += (f"; {len(self.needs_review)} image(s) may show burned-in text: look at them, and blank "
                     "the text with --mask-region if needed")
        return line

    def to_json(self) -> dict[str, Any]:
        return {
            "software": f"napari-medimg {__version__}",
            "profile": profile_table().standard,
            "input": self.input,
            "output": self.output,
            "options": self.options,
            "summary": self.summary(),
            "files": [{k: v for k, v in vars(f).items() if k != "path"} for f in self.files],
        }


def report_path_for(output: str | os.PathLike) -> Path:
    """Where the report of a run goes: beside the output, never inside it."""
    output = Path(output)
    return output.with_name(output.name + ".deidentification.json")


_NAMED_UIDS = ("SOPInstanceUID", "SeriesInstanceUID", "StudyInstanceUID", "MediaStorageSOPInstanceUID")


def _identifiers(ds: Dataset, uid_map: UidMap | None) -> dict[str, str]:
    """What must not survive in file names -> its replacement.

    Name parts, patient ID and accession number become ``anon``; instance UIDs (scanners name
    files by them, and they often embed the acquisition date and the scanner's serial) become
    their replacements, so names stay unique and consistent with the files' contents.
    """
    found: dict[str, str] = {}
    if uid_map is not None:
        meta = getattr(ds, "file_meta", Dataset())
        for keyword in _NAMED_UIDS:
            value = str(ds.get(keyword) or meta.get(keyword) or "")
            if len(value) >= 8:
                found[value] = uid_map(value)
    names = []
    name = ds.get("PatientName")
    if name:
        names += [p for p in re.split(r"[\^=\s,]+", str(name)) if len(p) >= 3]
    for keyword in ("PatientID", "AccessionNumber", "OtherPatientIDs"):
        value = ds.get(keyword)
        if value:
            names += [str(v) for v in (value if isinstance(value, (list, tuple)) else [value]) if len(str(v)) >= 3]
    found.update({value: "anon" for value in names})
    return found


def _clean_relative(relative: Path, identifiers: dict[str, str]) -> tuple[Path, bool]:
    """``relative`` with identifiers in its folder and file names replaced.

    UIDs are replaced wherever they occur; names and IDs where they stand as a word of the
    name (between separators such as ``_``, ``-``, ``.``), so "Ann" is cleaned from
    ``Ann_Smith`` but not from ``scanner``.
    """
    parts, renamed = [], False
    for part in relative.parts:
        cleaned = part
        for value in sorted(identifiers, key=len, reverse=True):
            word = re.escape(value)
            pattern = word if identifiers[value] != "anon" else rf"(?<![A-Za-z0-9]){word}(?![A-Za-z0-9])"
            cleaned = re.sub(pattern, identifiers[value], cleaned, flags=re.IGNORECASE)
        renamed |= cleaned != part
        parts.append(cleaned)
    return Path(*parts), renamed


def _clean_records(records: list[FileRecord], identifiers: dict[str, str]) -> None:
    """Input names and messages in the report cleaned of every identifier met in the run.

    A damaged file named after the patient cannot be read, but the other files of the run
    tell who the patient is; the report names it as ``anon_damaged.dcm`` then.
    """
    for record in records:
        record.source = _clean_relative(Path(record.source), identifiers)[0].as_posix()
        for value in sorted(identifiers, key=len, reverse=True):
            record.message = re.sub(re.escape(value), identifiers[value], record.message, flags=re.IGNORECASE)


def _unique(target: Path, taken: set[Path]) -> Path:
    """``target``, or ``name_2.ext``, ``name_3.ext`` ... when cleaning names made two the same."""
    candidate, n = target, 1
    while candidate in taken:
        n += 1
        candidate = target.with_name(f"{target.stem}_{n}{target.suffix}")
    return candidate


def _inputs(source: Path) -> list[tuple[Path, Path]]:
    if source.is_file():
        return [(source, Path(source.name))]
    if not source.is_dir():
        raise ImageReadError(f"{source} does not exist: give a DICOM file or a folder of them")
    return [(p, p.relative_to(source)) for p in sorted(_walk(source)) if not p.name.startswith(".")]


def _check_places(source: Path, output: Path) -> None:
    src, out = source.resolve(), output.resolve()
    if src == out or out.is_relative_to(src) or (source.is_dir() and src.is_relative_to(out)):
        raise ImageWriteError(
            f"{output}: the de-identified copy must go outside the input {source} (and not contain it); "
            "choose another folder"
        )


def _one(path: Path, options: DeidentifyOptions, uid_map: UidMap) -> tuple[Dataset | None, FileRecord, dict[str, str]]:
    record = FileRecord(source="", output=None, status="skipped")
    if not is_dicom_file(path):
        record.message = "not a DICOM file: not copied (it may hold identifiers)"
        return None, record, {}
    try:
        ds = read_dataset(path, header_only=False)
    except ImageReadError as exc:
        record.status, record.message = "failed", str(exc).replace(str(path), path.name)
        return None, record, {}
    if is_dicomdir(ds):
        record.message = "DICOMDIR index: not copied (it lists patient names); make a new one from the copy"
        return None, record, {}
    identifiers = _identifiers(ds, None if options.keep_uids else uid_map)
    record.burned_in = burned_in_risk(ds)
    blanked = 0
    if options.mask_regions and "PixelData" in ds:
        blanked = mask_pixel_regions(ds, options.mask_regions)
    changes = deidentify_dataset(ds, options, uid_map, pixels_cleaned=blanked > 0)
    if blanked:
        changes["pixels blanked"] = blanked
    record.changes = dict(sorted(changes.items()))
    record.status = "written"
    return ds, record, identifiers


def deidentify(
    source: str | os.PathLike,
    output: str | os.PathLike,
    options: DeidentifyOptions | None = None,
    *,
    key: bytes | None = None,
    overwrite: bool = False,
    progress: ProgressCallback | None = None,
    cancel: CancelCheck | None = None,
) -> DeidentificationReport:
    """Write a de-identified copy of a DICOM file or folder (PS3.15 basic profile + options).

    Parameters
    ----------
    source : path
        A DICOM file, or a folder searched recursively (hidden entries skipped).
    output : path
        The copy: a file for a file, a folder (same layout) for a folder. It must lie outside
        ``source``. Folder and file names that contain the patient's name or ID are cleaned.
    options : DeidentifyOptions, optional
        The profile's options (default: basic profile, safe private attributes kept).
    key : bytes, optional
        Secret for the UID map; the same key gives the same new UIDs in every run.
    overwrite : bool
        Replace existing files of the copy; otherwise they are an error before anything is written.
    progress, cancel : callable, optional
        Fraction done; a check that raises to stop (files written so far stay complete).

    Returns
    -------
    DeidentificationReport
        One record per input file (written / skipped / failed, counts of changes, burned-in
        risk); also written as JSON beside ``output`` (:func:`report_path_for`).

    Raises
    ------
    ImageReadError
        ``source`` missing, or holding no DICOM file.
    ImageWriteError
        ``output`` inside ``source``, existing files without ``overwrite``, or a failed write.
    """
    options = options or DeidentifyOptions()
    source, output = Path(source), Path(output)
    _check_places(source, output)
    inputs = _inputs(source)
    single = source.is_file()
    uid_map = UidMap(key)
    run = DeidentificationReport(str(source), str(output), _options_json(options))
    planned: list[tuple[Dataset, FileRecord, Path]] = []
    seen: dict[str, str] = {}  # every identifier met in the run: cleaned from the report too
    for i, (path, relative) in enumerate(inputs):
        check_cancel(cancel)
        ds, record, identifiers = _one(path, options, uid_map)
        record.source, record.path = relative.as_posix(), path
        seen.update(identifiers)
        if ds is not None:
            target_relative, record.renamed = _clean_relative(relative, identifiers)
            target = output if single else _unique(output / target_relative, {t for _, _, t in planned})
            record.output = target.name if single else target.relative_to(output).as_posix()
            planned.append((ds, record, target))
        run.files.append(record)
        report(progress, 0.5 * (i + 1) / len(inputs))
    if not planned:
        raise ImageReadError(f"No DICOM file to de-identify in {source}")
    _clean_records(run.files, seen)
    if not overwrite:  # before anything is written
        refuse_existing([t for _, _, t in planned] + [report_path_for(output)])
    for i, (ds, record, target) in enumerate(planned):
        check_cancel(cancel)
        atomic_write(target, lambda p, ds=ds: ds.save_as(p, enforce_file_format=False), overwrite=overwrite)
        report(progress, 0.5 + 0.5 * (i + 1) / len(planned))
    atomic_write(
        report_path_for(output),
        lambda p: p.write_text(json.dumps(run.to_json(), indent=1)),
        overwrite=overwrite,
    )
    return run


def _options_json(options: DeidentifyOptions) -> dict[str, Any]:
    values = vars(options).copy()
    values["mask_regions"] = [list(r) for r in options.mask_regions]
    values["option_codes"] = sorted(options.codes)
    return values
