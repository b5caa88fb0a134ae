"""Provenance sidecars: what made a written image (operations, parameters, versions, input hash).

``lungs.nii.gz`` gets ``lungs.provenance.json`` beside it when its Volume carries a history
(every registered operation, model prediction and workflow step appends to
``metadata["history"]``). NRRD and MetaImage files also carry the same document in their
own key-value header field ``napari_medimg_provenance`` (one line of JSON), so it travels
with the file when the sidecar is left behind. Reading the image reads the sidecar (else
the header field) back into ``metadata``, so a result can be traced and made again. No
patient identifier is in it: inputs are named by file name and content hash only.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

__all__ = [
    "PROVENANCE_KEY",
    "provenance_path",
    "provenance_document",
    "header_fields",
    "write_provenance",
    "read_provenance",
    "software_versions",
]

PROVENANCE_KEY = "napari_medimg_provenance"
"""Name of the header field (NRRD key-value pair, MetaImage field) holding the document."""

_EXTENSIONS = (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd", ".png", ".tif", ".tiff")


def provenance_path(path: str | os.PathLike) -> Path:
    """``case_lungs.nii.gz`` -> ``case_lungs.provenance.json`` (same folder)."""
    path = Path(path)
    name = path.name
    stem = next((name[: -len(ext)] for ext in _EXTENSIONS if name.lower().endswith(ext)), path.stem)
    return path.with_name(f"{stem}.provenance.json")


_PACKAGES = ("napari-medimg", "numpy", "scipy", "SimpleITK", "scikit-image", "pydicom", "torch", "monai")


def software_versions(extra: tuple[str, ...] = ()) -> dict[str, str]:
    """Python's version and those of the installed packages that make results (``extra`` too)."""
    import importlib.metadata as metadata
    import platform

    out = {"python": platform.python_version()}
    for package in _PACKAGES + extra:
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    return out


def provenance_document(metadata: dict[str, Any], path: str | os.PathLike) -> dict[str, Any] | None:
    """The provenance of the image about to be written at ``path``; None without a history."""
    history = metadata.get("history")
    if not history:
        return None
    return {
        "file": Path(path).name,
        "written": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "software": software_versions(),
        "source": {k: metadata[k] for k in ("source_name", "source_format", "source_sha256") if metadata.get(k)},
        "history": history,
    }


def header_fields(document: dict[str, Any] | None) -> dict[str, str]:
    """The header key-value fields that carry ``document`` (one line of JSON); empty for None."""
    if document is None:
        return {}
    return {PROVENANCE_KEY: json.dumps(document, separators=(",", ":"), default=str)}


def write_provenance(document: dict[str, Any] | None, path: str | os.PathLike) -> Path | None:
    """Write the sidecar of the image written at ``path``; None when there is no document."""
    from .atomic import atomic_write

    if document is None:
        return None
    text = json.dumps(document, indent=1, default=str)
    return atomic_write(provenance_path(path), lambda p: p.write_text(text, encoding="utf-8"), overwrite=True)


def _valid(document: Any) -> dict[str, Any] | None:
    return document if isinstance(document, dict) and isinstance(document.get("history"), list) else None


def read_provenance(path: str | os.PathLike, embedded: str | None = None) -> dict[str, Any] | None:
    """The provenance of ``path``: its sidecar, else the ``embedded`` header text, else None.

    A missing, unreadable or malformed document is None: the image still reads.
    """
    sidecar = provenance_path(path)
    texts = []
    if sidecar.is_file():
        try:
            texts.append(sidecar.read_text(encoding="utf-8"))
        except OSError:
            pass
    if embedded:
        texts.append(embedded)
    for text in texts:
        try:
            document = _valid(json.loads(text))
        except (ValueError, RecursionError):  # malformed or hostile (deeply nested) text
            continue
        if document is not None:
            return document
    return None
