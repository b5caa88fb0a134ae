"""Real sample images bundled with the package (see ``data/README.md`` for sources)."""

from __future__ import annotations

import dataclasses
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from .volume import Volume

__all__ = ["Sample", "SAMPLES", "sample_path", "load_sample"]


@dataclasses.dataclass(frozen=True)
class Sample:
    """A bundled sample: an image, an optional label file, and what the files do not say."""

    title: str
    image: str
    labels: str | None
    metadata: dict[str, Any]
    labels_name: str = "labels"


# Same form as DICOM window presets: a list of {name, center, width} in HU.
_CT_WINDOWS = [
    {"name": "mediastinum", "center": 40.0, "width": 400.0},
    {"name": "lung", "center": -600.0, "width": 1500.0},
    {"name": "bone", "center": 400.0, "width": 1800.0},
]

SAMPLES: dict[str, Sample] = {
    "chest_ct": Sample(
        "Chest CT with a lung nodule",
        "chest_ct.nii.gz",
        "chest_ct_nodule.nii.gz",
        {"modality": "CT", "units": "HU", "window_presets": _CT_WINDOWS},
        "nodule",
    ),
    "brain_mr": Sample(
        "Brain MR (T1 post-contrast) with a tumour",
        "brain_mr.nrrd",
        "brain_mr_tumour.nrrd",
        {"modality": "MR"},
        "tumour",
    ),
    "chest_xray": Sample(
        "Chest radiograph with lung fields",
        "chest_xray.jpg",
        "chest_xray_lungs.png",
        {"modality": "DX"},
        "lungs",
    ),
    "ultrasound": Sample(
        "Ultrasound (curvilinear B-mode)", "ultrasound_curvilinear.mha", None, {"modality": "US"}
    ),
}


def sample_path(filename: str) -> Path:
    """Path of a file in the package's data folder."""
    path = Path(str(resources.files("napari_medimg") / "data" / filename))
    if not path.is_file():
        raise FileNotFoundError(f"sample file {filename} is missing from the installed package")
    return path


def load_sample(name: str) -> tuple[Volume, Volume | None]:
    """Read a bundled sample.

    Parameters
    ----------
    name : str
        One of ``SAMPLES``: ``"chest_ct"``, ``"brain_mr"``, ``"chest_xray"``, ``"ultrasound"``.

    Returns
    -------
    image : Volume
    labels : Volume or None
        Labels in the smallest unsigned dtype (1 = object), or None.
    """
    from .dtypes import as_labels
    from .io import read

    if name not in SAMPLES:
        raise KeyError(f"no sample {name!r}; choose from {', '.join(SAMPLES)}")
    sample = SAMPLES[name]
    image = read(sample_path(sample.image))
    image.metadata.update(sample.metadata)
    image.metadata["sample"] = name
    labels = None
    if sample.labels is not None:
        labels = read(sample_path(sample.labels))
        labels.metadata.pop("warnings", None)
        labels = labels.with_array(as_labels(np.asarray(labels.array) > 0))
    return image, labels
