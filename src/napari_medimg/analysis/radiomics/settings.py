"""Extraction settings with pyradiomics' names and defaults, and parameter-file loading.

Settings are a plain ``dict`` keyed by pyradiomics' setting names (``binWidth``,
``resampledPixelSpacing``, ``force2D`` ...). :func:`resolve_settings` fills in the
defaults that ``RadiomicsFeatureExtractor`` and the feature classes of pyradiomics 3.1.0
use and checks every value; :func:`load_settings` reads a pyradiomics-style YAML / JSON
parameter file (``setting:``, ``featureClass:``, ``imageType:`` sections).
"""

from __future__ import annotations

import json
import numbers
import os
from pathlib import Path
from typing import Any

__all__ = [
    "DEFAULT_SETTINGS",
    "FEATURE_CLASSES",
    "INTERPOLATORS",
    "ParameterSet",
    "load_settings",
    "resolve_settings",
]

#: Feature classes in extraction order. ``shape2D`` is computed only when asked for.
FEATURE_CLASSES: tuple[str, ...] = (
    "shape",
    "shape2D",
    "firstorder",
    "glcm",
    "glrlm",
    "glszm",
    "gldm",
    "ngtdm",
)

#: Interpolators accepted for ``interpolator`` (SimpleITK names).
INTERPOLATORS: tuple[str, ...] = (
    "sitkNearestNeighbor",
    "sitkLinear",
    "sitkBSpline",
    "sitkGaussian",
    "sitkLabelGaussian",
    "sitkHammingWindowedSinc",
    "sitkCosineWindowedSinc",
    "sitkWelchWindowedSinc",
    "sitkLanczosWindowedSinc",
    "sitkBlackmanWindowedSinc",
)

#: Defaults of pyradiomics 3.1.0 (extractor defaults plus the feature classes' own defaults).
DEFAULT_SETTINGS: dict[str, Any] = {
    # extractor
    "minimumROIDimensions": 2,
    "minimumROISize": None,
    "normalize": False,
    "normalizeScale": 1,
    "removeOutliers": None,
    "resampledPixelSpacing": None,
    "interpolator": "sitkBSpline",
    "preCrop": False,
    "padDistance": 5,
    "distances": [1],
    "force2D": False,
    "force2Ddimension": 0,
    "resegmentRange": None,
    "resegmentMode": "absolute",
    "resegmentShape": False,
    "label": 1,
    "additionalInfo": True,
    "geometryTolerance": None,
    "correctMask": False,
    # discretization
    "binWidth": 25,
    "binCount": None,
    # feature classes
    "voxelArrayShift": 0,
    "symmetricalGLCM": True,
    "weightingNorm": None,
    "gldm_a": 0,
}

_WEIGHTING_NORMS = (None, "manhattan", "euclidean", "infinity", "no_weighting")
_RESEGMENT_MODES = ("absolute", "relative", "sigma")
# Settings pyradiomics accepts that only matter for voxel-based extraction or filters; they
# are accepted (so that pyradiomics parameter files load) and ignored.
_IGNORED = {
    "label_channel", "kernelRadius", "maskedKernel", "initValue", "voxelBatch", "verbose",
    "sigma", "wavelet", "level", "start_level", "lbp2DRadius", "lbp2DSamples", "lbp2DMethod",
    "lbp3DLevels", "lbp3DIcosphereRadius", "lbp3DIcosphereSubdivision", "gradientUseSpacing",
    "enableCExtensions", "additionalInfo",
}


class ParameterSet(dict):
    """Parsed parameter file: ``setting``, ``featureClass`` and ``imageType`` sections.

    A ``dict`` of settings (what :func:`~napari_medimg.analysis.radiomics.extract` takes)
    with the two other sections as attributes.

    Attributes
    ----------
    feature_classes : dict of str to list of str or None
        Enabled classes and, per class, the enabled feature names (None or empty: all).
    image_types : dict of str to dict
        Enabled image types and their custom settings (only ``Original`` is computed).
    """

    def __init__(self, settings: dict[str, Any], feature_classes: dict[str, Any], image_types: dict[str, Any]):
        super().__init__(settings)
        self.feature_classes = feature_classes
        self.image_types = image_types


def load_settings(source: str | os.PathLike | dict[str, Any]) -> ParameterSet:
    """Read a pyradiomics parameter file (YAML or JSON) or dictionary.

    Parameters
    ----------
    source : str, PathLike or dict
        Path to a ``.yaml``/``.yml``/``.json`` parameter file, or a dictionary. A dictionary
        with any of the keys ``setting``, ``featureClass``, ``imageType`` (or
        ``voxelSetting``) is read as a parameter file; any other dictionary is taken as
        the ``setting`` section itself.

    Returns
    -------
    ParameterSet
        The settings (a dict) with ``feature_classes`` and ``image_types`` attributes.

    Raises
    ------
    ValueError
        For an unknown section, setting, feature class or image type, or a bad value.

    Examples
    --------
    >>> params = load_settings({"setting": {"binWidth": 10}, "featureClass": {"glcm": None}})
    >>> params["binWidth"], list(params.feature_classes)
    (10, ['glcm'])
    """
    if isinstance(source, dict):
        data: Any = source
        origin = "the parameter dictionary"
    else:
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"parameter file {path} does not exist")
        text = path.read_text()
        origin = str(path)
        if path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ValueError(f"{origin}: expected a mapping with setting / featureClass / imageType sections")
    sections = {"setting", "featureClass", "imageType", "voxelSetting"}
    if not (set(data) & sections):
        data = {"setting": data}
    unknown = set(data) - sections
    if unknown:
        raise ValueError(
            f"{origin}: unknown section(s) {', '.join(sorted(unknown))}; "
            "expected setting, featureClass, imageType (or voxelSetting)"
        )
    settings = dict(data.get("setting") or {})
    settings.update(data.get("voxelSetting") or {})
    resolve_settings(settings)  # validate now, so a bad file fails when read
    feature_classes = dict(data.get("featureClass") or {})
    bad = [name for name in feature_classes if name not in FEATURE_CLASSES]
    if bad:
        raise ValueError(
            f"{origin}: unknown feature class(es) {', '.join(bad)}; known: {', '.join(FEATURE_CLASSES)}"
        )
    image_types = {name: dict(value or {}) for name, value in (data.get("imageType") or {}).items()}
    return ParameterSet(settings, feature_classes, image_types)


def resolve_settings(settings: dict[str, Any] | None) -> dict[str, Any]:
    """Defaults updated with ``settings``, every value checked.

    Parameters
    ----------
    settings : dict or None
        pyradiomics-named settings; unknown names raise.

    Returns
    -------
    dict
        A new dictionary with all settings.

    Raises
    ------
    ValueError
        For an unknown setting or an invalid value (the message names both).
    """
    out = dict(DEFAULT_SETTINGS)
    for key, value in (settings or {}).items():
        if key not in DEFAULT_SETTINGS and key not in _IGNORED:
            known = ", ".join(sorted(DEFAULT_SETTINGS))
            raise ValueError(f"unknown radiomics setting {key!r}; known settings: {known}")
        out[key] = value
    _check(out)
    return out


def _check(s: dict[str, Any]) -> None:
    def fail(name: str, expected: str) -> None:
        raise ValueError(f"setting {name} must be {expected}, got {s[name]!r}")

    if s["binCount"] is not None and (not _is_int(s["binCount"]) or s["binCount"] < 1):
        fail("binCount", "a positive integer or None")
    if not _is_number(s["binWidth"]) or s["binWidth"] <= 0:
        fail("binWidth", "a positive number")
    if s["resampledPixelSpacing"] is not None:
        rps = s["resampledPixelSpacing"]
        if not isinstance(rps, (list, tuple)) or not all(_is_number(v) and v >= 0 for v in rps):
            fail("resampledPixelSpacing", "a list of non-negative numbers (x, y, z; 0 keeps the original) or None")
    interp = s["interpolator"]
    if interp is not None and not (_is_int(interp) or interp in INTERPOLATORS):
        fail("interpolator", f"one of {', '.join(INTERPOLATORS)} or None")
    if not _is_int(s["padDistance"]) or s["padDistance"] < 0:
        fail("padDistance", "a non-negative integer")
    if not isinstance(s["normalize"], bool):
        fail("normalize", "True or False")
    if not _is_number(s["normalizeScale"]) or s["normalizeScale"] <= 0:
        fail("normalizeScale", "a positive number")
    if s["removeOutliers"] is not None and (not _is_number(s["removeOutliers"]) or s["removeOutliers"] <= 0):
        fail("removeOutliers", "a positive number or None")
    rr = s["resegmentRange"]
    if rr is not None and (not isinstance(rr, (list, tuple)) or not 1 <= len(rr) <= 2
                           or not all(_is_number(v) for v in rr)):
        fail("resegmentRange", "a list of 1 or 2 numbers or None")
    if s["resegmentMode"] not in _RESEGMENT_MODES:
        fail("resegmentMode", f"one of {', '.join(_RESEGMENT_MODES)}")
    if not isinstance(s["force2D"], bool):
        fail("force2D", "True or False")
    if s["force2Ddimension"] not in (0, 1, 2):
        fail("force2Ddimension", "0, 1 or 2 (numpy axis: 0 = z / slices)")
    if not _is_int(s["label"]) or s["label"] < 1:
        fail("label", "a positive integer")
    if s["minimumROIDimensions"] not in (1, 2, 3):
        fail("minimumROIDimensions", "1, 2 or 3")
    if s["minimumROISize"] is not None and (not _is_int(s["minimumROISize"]) or s["minimumROISize"] < 1):
        fail("minimumROISize", "a positive integer or None")
    if not _is_number(s["voxelArrayShift"]):
        fail("voxelArrayShift", "a number")
    d = s["distances"]
    if not isinstance(d, (list, tuple)) or not d or not all(_is_int(v) and v >= 1 for v in d):
        fail("distances", "a non-empty list of positive integers")
    if not isinstance(s["symmetricalGLCM"], bool):
        fail("symmetricalGLCM", "True or False")
    if s["weightingNorm"] not in _WEIGHTING_NORMS:
        fail("weightingNorm", "one of manhattan, euclidean, infinity, no_weighting or None")
    if not _is_int(s["gldm_a"]) or s["gldm_a"] < 0:
        fail("gldm_a", "a non-negative integer")
    if s["geometryTolerance"] is not None and (not _is_number(s["geometryTolerance"]) or s["geometryTolerance"] <= 0):
        fail("geometryTolerance", "a positive number or None")
    for name in ("preCrop", "correctMask", "resegmentShape"):
        if not isinstance(s[name], bool):
            fail(name, "True or False")


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)
