"""The one entry point: :func:`extract` runs preprocessing and the enabled feature classes."""

from __future__ import annotations

import importlib
from typing import Any, Callable, Iterable

import numpy as np

from ...progress import check_cancel, report
from ...volume import Volume
from .preprocessing import PreparedROI, RadiomicsInputError, discretize, prepare
from .settings import FEATURE_CLASSES, ParameterSet, resolve_settings

__all__ = ["extract", "DEFAULT_CLASSES"]

#: Classes computed when none are named (pyradiomics' defaults: all but shape2D).
DEFAULT_CLASSES: tuple[str, ...] = tuple(c for c in FEATURE_CLASSES if c != "shape2D")

_TEXTURE = ("glcm", "glrlm", "glszm", "gldm", "ngtdm")
_MODULES = {"shape": "shape", "shape2D": "shape2d", "firstorder": "firstorder", **{c: c for c in _TEXTURE}}


def extract(
    image: Volume,
    mask: Volume,
    settings: dict[str, Any] | None = None,
    *,
    feature_classes: Iterable[str] | None = None,
    progress: Callable[[float], None] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> dict[str, float]:
    """Compute pyradiomics 3.1.0 features of the ``original`` image inside a labelled ROI.

    Parameters
    ----------
    image : Volume
        Grey values, 2D or 3D.
    mask : Volume
        Integer labels on the same grid (or, with ``correctMask=True``, any grid covering
        the ROI; with resampling, any grid).
    settings : dict, optional
        pyradiomics settings by name (``binWidth``, ``binCount``, ``resampledPixelSpacing``,
        ``interpolator``, ``padDistance``, ``normalize``, ``normalizeScale``,
        ``removeOutliers``, ``resegmentRange``, ``resegmentMode``, ``force2D``,
        ``force2Ddimension``, ``label``, ``minimumROIDimensions``, ``minimumROISize``,
        ``voxelArrayShift``, ``symmetricalGLCM``, ``distances``, ``weightingNorm``,
        ``gldm_a``, ``preCrop``, ``correctMask``, ``geometryTolerance`` ...), or the result
        of :func:`~napari_medimg.analysis.radiomics.load_settings` (whose ``featureClass``
        section then selects classes and features).
    feature_classes : iterable of str, optional
        Classes to compute among ``shape``, ``shape2D``, ``firstorder``, ``glcm``,
        ``glrlm``, ``glszm``, ``gldm``, ``ngtdm``. By default all but ``shape2D``.
    progress : callable, optional
        Called with the fraction done, after each class.
    cancel : callable, optional
        Checked between classes; raises :class:`~napari_medimg.progress.OperationCancelled`.

    Returns
    -------
    dict of str to float
        ``"original_<class>_<Feature>"`` keys, e.g. ``original_glcm_Contrast``.

    Raises
    ------
    RadiomicsInputError
        Empty mask, label not present, NaNs, image and mask on different grids, ROI too
        small for ``minimumROIDimensions`` / ``minimumROISize``.
    ValueError
        Unknown setting, bad setting value or unknown feature class.

    Examples
    --------
    >>> import numpy as np
    >>> from napari_medimg.volume import Volume
    >>> img = Volume.from_array(np.arange(64, dtype=np.int16).reshape(4, 4, 4))
    >>> roi = Volume.from_array(np.ones((4, 4, 4), dtype=np.uint8))
    >>> extract(img, roi, {"binWidth": 16}, feature_classes=["firstorder"])["original_firstorder_Mean"]
    31.5
    """
    selected_features: dict[str, Any] = {}
    if isinstance(settings, ParameterSet) and feature_classes is None and settings.feature_classes:
        selected_features = dict(settings.feature_classes)
        classes = [c for c in FEATURE_CLASSES if c in selected_features]
    elif feature_classes is None:
        classes = list(DEFAULT_CLASSES)
    else:
        classes = list(feature_classes)
        unknown = [c for c in classes if c not in FEATURE_CLASSES]
        if unknown:
            raise ValueError(
                f"unknown feature class(es) {', '.join(unknown)}; known: {', '.join(FEATURE_CLASSES)}"
            )
    s = resolve_settings(dict(settings or {}))
    is_2d_input = image.spatial_ndim == 2
    if is_2d_input:
        s["force2D"], s["force2Ddimension"] = True, 0
        if feature_classes is None and "shape" in classes:
            classes.remove("shape")
            if "shape2D" not in classes:
                classes.insert(0, "shape2D")
    check_cancel(cancel)
    roi = prepare(image, mask, s)
    report(progress, 0.1)
    out: dict[str, float] = {}
    levels: np.ndarray | None = None
    for n, cls in enumerate(classes):
        check_cancel(cancel)
        module = importlib.import_module(f"{__package__}.{_MODULES[cls]}")
        if cls in ("shape", "shape2D"):
            if cls == "shape" and is_2d_input:
                raise RadiomicsInputError("shape features need a 3D ROI; use shape2D for 2D input")
            values = module.compute(roi.shape_mask, roi.spacing, s)
        else:
            if levels is None:
                levels = discretize(roi.image, roi.mask, s)
            if cls == "firstorder":
                values = module.compute(roi.image, roi.mask, levels, s, roi.spacing)
            else:
                values = module.compute(levels, roi.mask, s, roi.spacing)
        wanted = selected_features.get(cls)
        for name, value in values.items():
            if wanted and name not in wanted:
                continue
            out[f"original_{cls}_{name}"] = value
        report(progress, 0.1 + 0.9 * (n + 1) / max(len(classes), 1))
    return out


def prepare_roi(image: Volume, mask: Volume, settings: dict[str, Any] | None = None) -> PreparedROI:
    """Only the preprocessing of :func:`extract` (for inspection and tests)."""
    return prepare(image, mask, resolve_settings(dict(settings or {})))
