"""Class maps: the name and colour of each label value of a segmentation.

A class map is a ``dict`` of label value to :class:`LabelClass` (``value``, ``name``,
``color``). It is read from

- a JSON sidecar, in one of three forms:

  - flat, TotalSegmentator style: ``{"1": "spleen", "2": "kidney_right", ...}``;
  - one flat map per task, as TotalSegmentator's class-map file holds them:
    ``{"total": {"1": "spleen", ...}, "total_mr": {...}}`` (pick one with ``task``;
    by default the first);
  - a list with colours: ``{"labels": [{"value": 1, "name": "liver", "color": [r, g, b]},
    ...]}``, colours as 0-255 integers or 0-1 floats, RGB or RGBA (a ``"#rrggbb"``
    string also works);

- a DICOM Segmentation (SEG) object: each item of ``SegmentSequence`` gives
  ``SegmentNumber`` (the value), ``SegmentLabel`` (the name) and
  ``RecommendedDisplayCIELabValue`` (the colour, converted to sRGB as DCMTK does:
  DICOM-scaled CIELab, D65 white point).

A sidecar sits next to the labels file with the same stem: ``case_seg.nii.gz`` ->
``case_seg.json`` (:func:`sidecar_of`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from .errors import ImageReadError

__all__ = ["LabelClass", "parse_label_map", "read_label_map", "read_dicom_seg_classes", "sidecar_of", "sidecar_path", "dicom_lab_to_rgb"]

_IMAGE_EXTENSIONS = (".nii.gz", ".seg.nrrd", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd", ".dcm")


@dataclass(frozen=True)
class LabelClass:
    """One class of a segmentation.

    Parameters
    ----------
    value : int
        The label value in the image (> 0).
    name : str
        What the object is (``"liver"``).
    color : tuple of float, optional
        RGB in 0-1, or None when the map gives no colour.
    """

    value: int
    name: str
    color: tuple[float, float, float] | None = None


def _value(key: Any, where: str) -> int:
    try:
        value = int(str(key).strip())
    except ValueError:
        raise ValueError(f"{where}: label value {key!r} is not an integer") from None
    if value <= 0:
        raise ValueError(f"{where}: label value {value} must be positive (0 is the background)")
    return value


def _color(color: Any, where: str) -> tuple[float, float, float] | None:
    """RGB in 0-1 from 0-255 integers, 0-1 floats or a ``#rrggbb`` string."""
    if color is None:
        return None
    if isinstance(color, str):
        text = color.lstrip("#")
        if len(text) not in (6, 8):
            raise ValueError(f"{where}: colour {color!r} is not #rrggbb")
        return tuple(int(text[k : k + 2], 16) / 255.0 for k in (0, 2, 4))  # type: ignore[return-value]
    rgb = np.asarray(color, dtype=np.float64).ravel()
    if rgb.size not in (3, 4) or not np.all(np.isfinite(rgb)) or np.any(rgb < 0):
        raise ValueError(f"{where}: colour {color!r} must be 3 or 4 non-negative numbers")
    rgb = rgb[:3]
    integers = all(isinstance(c, int) for c in list(color)[:3])
    if integers or np.any(rgb > 1):
        if np.any(rgb > 255):
            raise ValueError(f"{where}: colour {color!r} has a component above 255")
        rgb = rgb / 255.0
    return (float(rgb[0]), float(rgb[1]), float(rgb[2]))


def _is_flat(mapping: Mapping[str, Any]) -> bool:
    return all(isinstance(v, str) for v in mapping.values())


def parse_label_map(data: Any, *, task: str | None = None, source: str = "class map") -> dict[int, LabelClass]:
    """A class map from decoded JSON (see the module docstring for the forms).

    Parameters
    ----------
    data : dict
        The decoded JSON.
    task : str, optional
        For a map with one class list per task (``{"total": {...}, "total_mr": {...}}``):
        which one; by default the first.
    source : str
        Named in error messages.

    Returns
    -------
    dict of int to LabelClass
        Sorted by value.

    Raises
    ------
    ValueError
        An unknown form, a non-integer or non-positive value, a bad colour, an unknown task.

    Examples
    --------
    >>> parse_label_map({"1": "spleen", "5": "liver"})[5].name
    'liver'
    >>> parse_label_map({"labels": [{"value": 2, "name": "tumour", "color": [255, 0, 0]}]})[2].color
    (1.0, 0.0, 0.0)
    """
    if not isinstance(data, dict):
        raise ValueError(f"{source}: expected a JSON object, got {type(data).__name__}")
    classes: dict[int, LabelClass] = {}
    if "labels" in data and isinstance(data["labels"], list):
        for k, item in enumerate(data["labels"]):
            where = f"{source}, labels[{k}]"
            if not isinstance(item, dict) or "value" not in item or "name" not in item:
                raise ValueError(f"{where}: each entry needs 'value' and 'name'")
            value = _value(item["value"], where)
            classes[value] = LabelClass(value, str(item["name"]), _color(item.get("color"), where))
    elif data and _is_flat(data):
        for key, name in data.items():
            value = _value(key, source)
            classes[value] = LabelClass(value, name)
    elif data and all(isinstance(v, dict) and _is_flat(v) for v in data.values()):
        if task is None:
            task = next(iter(data))
        if task not in data:
            raise ValueError(f"{source}: no task {task!r}; it has {', '.join(map(str, data))}")
        return parse_label_map(data[task], source=f"{source} [{task}]")
    else:
        raise ValueError(
            f"{source}: not a class map; expected {{\"1\": \"name\", ...}}, one such map per task, "
            "or {\"labels\": [{\"value\": 1, \"name\": ..., \"color\": [r, g, b]}]}"
        )
    return dict(sorted(classes.items()))


def dicom_lab_to_rgb(lab: Any) -> tuple[float, float, float]:
    """sRGB (0-1) of a DICOM ``RecommendedDisplayCIELabValue`` (three 0-65535 integers).

    L* = v0 * 100 / 65535, a* and b* = v * 255 / 65535 - 128; CIELab to XYZ with the D65
    white point, then XYZ to linear sRGB and the sRGB gamma, clipped to 0-1 (as DCMTK's
    ``IODCIELabUtil`` and dcmjs do).

    Examples
    --------
    >>> [round(c, 3) for c in dicom_lab_to_rgb([65535, 32896, 32896])]  # L=100, a=b=0: white
    [1.0, 1.0, 1.0]
    """
    v = np.asarray(lab, dtype=np.float64)
    if v.shape != (3,):
        raise ValueError(f"a CIELab value has 3 numbers, got {lab!r}")
    L, a, b = v[0] * 100.0 / 65535.0, v[1] * 255.0 / 65535.0 - 128.0, v[2] * 255.0 / 65535.0 - 128.0
    fy = (L + 16.0) / 116.0
    f = np.array([fy + a / 500.0, fy, fy - b / 200.0])
    xyz = np.where(f**3 > 0.008856, f**3, (f - 16.0 / 116.0) / 7.787) * np.array([0.950456, 1.0, 1.088754])
    matrix = np.array([[3.2406, -1.5372, -0.4986], [-0.9689, 1.8758, 0.0415], [0.0557, -0.2040, 1.0570]])
    linear = matrix @ xyz
    rgb = np.where(linear > 0.0031308, 1.055 * np.abs(linear) ** (1 / 2.4) - 0.055, 12.92 * linear)
    rgb = np.clip(rgb, 0.0, 1.0)
    return (float(rgb[0]), float(rgb[1]), float(rgb[2]))


def read_dicom_seg_classes(path: str | os.PathLike) -> dict[int, LabelClass]:
    """The segments of a DICOM SEG file: number, label and recommended display colour.

    Parameters
    ----------
    path : str or PathLike
        A DICOM Segmentation object (Modality SEG).

    Returns
    -------
    dict of int to LabelClass

    Raises
    ------
    ImageReadError
        The file is not DICOM, or not a segmentation.
    """
    import pydicom

    try:
        ds = pydicom.dcmread(os.fspath(path), stop_before_pixels=True)
    except (pydicom.errors.InvalidDicomError, OSError, ValueError) as exc:
        raise ImageReadError(f"{Path(path).name}: cannot read it as DICOM ({exc})") from exc
    if "SegmentSequence" not in ds:
        raise ImageReadError(
            f"{Path(path).name}: not a DICOM Segmentation (no SegmentSequence; Modality "
            f"{ds.get('Modality', '?')}); give a SEG object or a JSON class map"
        )
    classes: dict[int, LabelClass] = {}
    for k, item in enumerate(ds.SegmentSequence):
        where = f"{Path(path).name}, segment {k + 1}"
        value = _value(item.get("SegmentNumber", k + 1), where)
        name = str(item.get("SegmentLabel", "") or f"segment {value}")
        lab = item.get("RecommendedDisplayCIELabValue")
        classes[value] = LabelClass(value, name, dicom_lab_to_rgb(list(lab)) if lab is not None else None)
    return dict(sorted(classes.items()))


def read_label_map(path: str | os.PathLike, *, task: str | None = None) -> dict[int, LabelClass]:
    """Read a class map from a JSON file or a DICOM SEG file.

    Parameters
    ----------
    path : str or PathLike
        ``.json`` (any form of :func:`parse_label_map`) or a DICOM SEG file.
    task : str, optional
        Which task of a multi-task JSON map (TotalSegmentator's ``"total"``, ...).

    Returns
    -------
    dict of int to LabelClass

    Raises
    ------
    ImageReadError
        Unreadable or malformed file; the message names it and says what was expected.
    """
    path = Path(path)
    if path.suffix.lower() != ".json":
        return read_dicom_seg_classes(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ImageReadError(f"{path.name}: cannot read the class map ({exc})") from exc
    try:
        return parse_label_map(data, task=task, source=path.name)
    except ValueError as exc:
        raise ImageReadError(str(exc)) from exc


def sidecar_of(path: str | os.PathLike) -> Path | None:
    """The JSON sidecar of a labels file (same folder, same stem, ``.json``), if it exists.

    ``liver_seg.nii.gz`` -> ``liver_seg.json``; ``x.seg.nrrd`` -> ``x.seg.json``, then
    ``x.json``.

    Examples
    --------
    >>> sidecar_of("/no/such/folder/case.nii.gz") is None
    True
    """
    for candidate in _sidecar_candidates(path):
        if candidate.is_file():
            return candidate
    return None


def _sidecar_candidates(path: str | os.PathLike) -> list[Path]:
    """Where a labels file's sidecar may be, the preferred place first."""
    path = Path(path)
    name = path.name
    stems = []
    for ext in _IMAGE_EXTENSIONS:
        if name.lower().endswith(ext):
            stems.append(name[: -len(ext)])
    if name.lower().endswith(".seg.nrrd"):
        stems.insert(0, name[: -len(".nrrd")])
    if not stems:
        stems.append(path.stem)
    return [path.with_name(stem + ".json") for stem in dict.fromkeys(stems)]


def sidecar_path(path: str | os.PathLike) -> Path:
    """Where to write the sidecar of a labels file (the first place :func:`sidecar_of` looks).

    Examples
    --------
    >>> sidecar_path("/data/case_seg.nii.gz").name
    'case_seg.json'
    """
    return _sidecar_candidates(path)[0]
