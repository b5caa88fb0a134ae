"""Provenance sidecars: what made a written image (operations, parameters, versions, input hash).

``lungs.nii.gz`` gets ``lungs.provenance.json`` beside it when its Volume carries a history
(every registered operation, model prediction and workflow step appends to
``metadata["history"]``). Reading the image reads the sidecar back into ``metadata``, so a
result can be traced and made again. No patient identifier is in it: inputs are named by
file name and content hash only.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

__all__ = ["provenance_path", "write_provenance", "read_provenance", "software_versions"]

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


def write_provenance(metadata: dict[str, Any], path: str | os.PathLike) -> Path | None:
    """Write the sidecar of the image written at ``path``; None when there is no history."""
    from .atomic import atomic_write

    history = metadata.get("history")
    if not history:
        return None
    document = {
        "file": Path(path).name,
        "written": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "software": software_versions(),
        "source": {k: metadata[k] for k in ("source_name", "source_format", "source_sha256") if metadata.get(k)},
        "history": history,
    }
    text = json.dumps(document, indent=1, default=str)
    return atomic_write(provenance_path(path), lambda p: p.write_text(text, encoding="utf-8"), overwrite=True)


def read_provenance(path: str | os.PathLike) -> dict[str, Any] | None:
    """The sidecar of ``path`` as a dict, or None (missing or unreadable: the image still reads)."""
    sidecar = provenance_path(path)
    if not sidecar.is_file():
        return None
    try:
        document = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return document if isinstance(document, dict) and isinstance(document.get("history"), list) else None
