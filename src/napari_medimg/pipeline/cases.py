"""The cases of a batch: one per DICOM series or image file, from a folder, a glob or a CSV."""

from __future__ import annotations

import csv
import glob
import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Case", "file_sha256", "find_cases", "input_digest"]

_IMAGE_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd", ".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")


@dataclass
class Case:
    """One study of a batch.

    Attributes
    ----------
    id : str
        Folder name of its outputs (unique in the batch; from its path).
    path : str
        The image file or DICOM folder.
    series : str, optional
        Which series of a DICOM folder (its opaque key) when the folder holds several.
    files : list of str
        The files that make the case (hashed to recognise it on a re-run).
    extras : dict
        Further inputs by name (CSV columns: masks, seed-point CSVs ...).
    """

    id: str
    path: str
    series: str | None = None
    files: list[str] = field(default_factory=list)
    extras: dict[str, str] = field(default_factory=dict)


def _is_image_file(path: Path) -> bool:
    return path.name.lower().endswith(_IMAGE_SUFFIXES) and not path.name.lower().endswith(".raw")


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "case"


def _cases_in_folder(root: Path) -> list[Case]:
    from ..io.dicom import list_series
    from ..io.dicom._files import _walk, is_dicom_file

    cases: list[Case] = []
    dicom_folders: dict[Path, list[Path]] = {}
    for path in sorted(_walk(root)):
        if path.name.startswith("."):
            continue
        if _is_image_file(path):
            cases.append(Case(_slug(str(path.relative_to(root))), str(path), files=[str(path)]))
        elif path.suffix.lower() in (".dcm", ".dicom", ".ima") or (not path.suffix and is_dicom_file(path)):
            dicom_folders.setdefault(path.parent, []).append(path)
    for folder, files in sorted(dicom_folders.items()):
        base = _slug(str(folder.relative_to(root))) if folder != root else _slug(root.name)
        try:
            infos = list_series(folder)
        except Exception:  # noqa: BLE001 - unreadable files: the case fails with the reader's message
            infos = []
        readable = {str(f) for info in infos for f in info.files}
        if not infos:
            cases.append(Case(base, str(folder), files=[str(f) for f in files]))
        for info in infos:
            many = len(infos) > 1
            cases.append(Case(f"{base}__{info.key[:8]}" if many else base, str(folder),
                              series=info.key if many else None, files=list(info.files)))
        for bad in sorted(set(map(str, files)) - readable):  # damaged files: their own failing case
            if infos:
                cases.append(Case(_slug(str(Path(bad).relative_to(root))), bad, files=[bad]))
    return cases


def _cases_in_csv(path: Path) -> list[Case]:
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    if not rows or "image" not in rows[0]:
        raise ValueError(f"{path}: a case list needs an 'image' column (and optional input columns)")
    cases = []
    for row in rows:
        image = (path.parent / row["image"]).resolve() if not os.path.isabs(row["image"]) else Path(row["image"])
        extras = {
            k: str((path.parent / v).resolve() if v and not os.path.isabs(v) else v)
            for k, v in row.items() if k not in ("image", "id") and v
        }
        files = sorted(str(p) for p in image.rglob("*") if p.is_file()) if image.is_dir() else [str(image)]
        cases.append(Case(_slug(row.get("id") or image.name), str(image), files=files + list(extras.values()), extras=extras))
    return cases


def find_cases(inputs: str | os.PathLike) -> list[Case]:
    """The cases of ``inputs``: a folder (searched recursively), a glob pattern, or a CSV listing.

    A folder gives one case per DICOM series (several series in one folder become several
    cases) and one per image file; a damaged DICOM file beside a good series becomes a case of
    its own (which then fails with the reader's message). A CSV lists one case per row: an
    ``image`` column (file or DICOM folder, relative to the CSV), an optional ``id``, and
    further columns as the case's extra inputs (masks, seed CSVs) named by their header.

    Raises
    ------
    ValueError
        When nothing is found; the message says where it looked.
    """
    text = str(inputs)
    path = Path(text)
    if path.is_file() and path.suffix.lower() == ".csv":
        cases = _cases_in_csv(path)
    elif path.is_dir():
        cases = _cases_in_folder(path)
    elif any(c in text for c in "*?["):
        cases = [Case(_slug(Path(p).name), p, files=[p]) for p in sorted(glob.glob(text, recursive=True)) if Path(p).is_file()]
    elif path.is_file():
        cases = [Case(_slug(path.name), str(path), files=[str(path)])]
    else:
        raise ValueError(f"{inputs} is neither a folder, a CSV of cases, a glob pattern nor a file")
    if not cases:
        raise ValueError(f"no case found in {inputs} (DICOM series, .nii.gz, .nrrd, .mha, pictures)")
    seen: dict[str, int] = {}
    for case in cases:  # unique output folders
        n = seen.get(case.id, 0)
        seen[case.id] = n + 1
        if n:
            case.id = f"{case.id}_{n + 1}"
    return cases


def _update(digest: Any, path: str | os.PathLike) -> None:
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    _update(digest, path)
    return digest.hexdigest()


def input_digest(case: Case) -> str:
    """SHA-256 over the case's files (names and bytes) and extra inputs: recognises it on a re-run."""
    digest = hashlib.sha256()
    for name in sorted(case.files):
        digest.update(Path(name).name.encode())
        try:
            _update(digest, name)
        except OSError:
            digest.update(b"<unreadable>")
    digest.update(repr(sorted(case.extras.items())).encode())
    digest.update((case.series or "").encode())
    return digest.hexdigest()
