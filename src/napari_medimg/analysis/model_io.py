"""Save and load trained classical models safely (no unpickling).

Files are `skops <https://skops.readthedocs.io>`_ archives (a zip of a JSON schema and
``.npy`` arrays, conventionally ``*.skops``): loading never runs ``pickle``, and skops
builds only the types it is told to trust. On top of that this module checks the
*whole* schema against its own short allowlist **before** skops constructs anything:
every node's type must be one of the builtin containers, numpy arrays / scalars, or

    Pipeline, StandardScaler, SVC, RandomForestClassifier (and its DecisionTreeClassifier /
    Tree), LogisticRegression, KMeans, GaussianMixture

and every node's loader one of skops' data loaders (no function, method, operator or
``reduce`` calls beyond the tree's own). A file that names anything else (``os.system``,
``builtins.eval``, an unknown estimator), is not a skops archive, is not a
napari-medimg model, or fails to parse raises :class:`UnsafeModelError` or
:class:`ModelFileError` with what was found; nothing from it is imported or executed.

Supported objects: a fitted pipeline from :mod:`.classify` (``make_classifier``,
``train_classifier``, ``cluster().model``), one of the estimators above alone, and an
:class:`~.classify.ImageClassifier` (its descriptor settings travel as JSON). Metadata
(a JSON-serialisable dict: feature names, class names, notes) travels as a JSON string.

Loading a model saved with another scikit-learn version works when that version can
use it; scikit-learn may warn (``InconsistentVersionWarning``). The saving versions are
recorded in the metadata under ``"versions"``.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path
from typing import Any

__all__ = ["ModelFileError", "UnsafeModelError", "ALLOWED_TYPES", "save_model", "load_model", "read_metadata"]

FORMAT = "napari-medimg-model"
VERSION = 1

ALLOWED_TYPES = frozenset(
    {
        "builtins.dict",
        "builtins.list",
        "builtins.tuple",
        "builtins.str",
        "builtins.int",
        "builtins.float",
        "builtins.bool",
        "builtins.NoneType",
        "numpy.ndarray",
        "numpy.float64",
        "numpy.float32",
        "numpy.int64",
        "numpy.int32",
        "numpy.bool_",
        "numpy.bool",
        "sklearn.pipeline.Pipeline",
        "sklearn.preprocessing._data.StandardScaler",
        "sklearn.svm._classes.SVC",
        "sklearn.ensemble._forest.RandomForestClassifier",
        "sklearn.tree._classes.DecisionTreeClassifier",
        "sklearn.tree._tree.Tree",
        "sklearn.linear_model._logistic.LogisticRegression",
        "sklearn.cluster._kmeans.KMeans",
        "sklearn.mixture._gaussian_mixture.GaussianMixture",
    }
)
# skops node loaders that only rebuild data or one of the allowed objects
ALLOWED_LOADERS = frozenset(
    {"DictNode", "ListNode", "TupleNode", "JsonNode", "TypeNode", "NdArrayNode", "ObjectNode", "TreeNode"}
)
_ESTIMATORS = (
    "Pipeline", "StandardScaler", "SVC", "RandomForestClassifier", "LogisticRegression", "KMeans", "GaussianMixture",
)
_MAX_SCHEMA_BYTES = 64 << 20


class ModelFileError(ValueError):
    """The file is not a readable napari-medimg model file."""


class UnsafeModelError(ModelFileError):
    """The file names a type or loader outside the allowlist; nothing was loaded."""


def _skops():
    try:
        import skops.io as sio
    except ImportError as exc:  # pragma: no cover - dependency
        raise ImportError("saving and loading models needs the 'skops' package: pip install skops") from exc
    return sio


def _check_model(model: Any) -> None:
    from sklearn.pipeline import Pipeline

    steps = [s for _, s in model.steps] if isinstance(model, Pipeline) else [model]
    for step in steps:
        if type(step).__name__ not in _ESTIMATORS or not type(step).__module__.startswith("sklearn."):
            raise TypeError(
                f"cannot save a {type(step).__module__}.{type(step).__name__}: supported are pipelines of "
                f"StandardScaler and one of SVC, RandomForestClassifier, LogisticRegression, KMeans, GaussianMixture"
            )


def _versions() -> dict[str, str]:
    import numpy
    import sklearn

    import skops

    return {"scikit-learn": sklearn.__version__, "numpy": numpy.__version__, "skops": skops.__version__}


def save_model(model: Any, path: str | os.PathLike, *, metadata: dict[str, Any] | None = None) -> Path:
    """Save a fitted model (and JSON metadata) to a safe skops archive.

    Parameters
    ----------
    model : Pipeline, estimator or ImageClassifier
        See the module docstring for the supported types.
    path : str or path-like
        Output file (``.skops`` by convention); overwritten.
    metadata : dict, optional
        JSON-serialisable information to keep with the model (feature names, class
        names ...). ``"versions"`` is added.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    from .classify import ImageClassifier

    sio = _skops()
    extra: dict[str, Any] = {}
    if isinstance(model, ImageClassifier):
        payload_kind = "image_classifier"
        extra = {
            "descriptor_options": model.descriptor_options,
            "image_shape": list(model.image_shape),
            "cv_scores": model.cv_scores,
        }
        estimator = model.model
    else:
        payload_kind = "estimator"
        estimator = model
    _check_model(estimator)
    meta = dict(metadata or {})
    meta.setdefault("versions", _versions())
    try:
        meta_json = json.dumps(meta)
        extra_json = json.dumps(extra, default=_json_default)
    except TypeError as exc:
        raise TypeError(f"metadata must be JSON-serialisable: {exc}") from None
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "kind": payload_kind,
        "model": estimator,
        "metadata": meta_json,
        "extra": extra_json,
    }
    data = sio.dumps(payload)
    _check_schema(data)  # refuse to write what we would refuse to read
    path = Path(path)
    path.write_bytes(data)
    return path


def _json_default(value: Any):
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def _check_schema(data: bytes) -> set[str]:
    """All type names in the archive's schema; raises when one is not allowed."""
    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise ModelFileError("not a napari-medimg model file: it is not a skops (zip) archive")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            info = archive.getinfo("schema.json")
            if info.file_size > _MAX_SCHEMA_BYTES:
                raise ModelFileError(f"model schema is implausibly large ({info.file_size} bytes)")
            schema = json.loads(archive.read(info))
    except KeyError:
        raise ModelFileError("not a napari-medimg model file: the archive has no schema.json") from None
    except (zipfile.BadZipFile, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"damaged model file: {exc}") from None
    found: set[str] = set()
    bad: set[str] = set()

    def walk(node: Any, depth: int) -> None:
        if depth > 200:
            raise ModelFileError("model schema is nested implausibly deep")
        if isinstance(node, dict):
            if "__class__" in node or "__module__" in node or "__loader__" in node:
                name = f"{node.get('__module__')}.{node.get('__class__')}"
                loader = node.get("__loader__")
                found.add(name)
                if name not in ALLOWED_TYPES:
                    bad.add(name)
                if loader not in ALLOWED_LOADERS:
                    bad.add(f"loader {loader!r} (for {name})")
            for value in node.values():
                walk(value, depth + 1)
        elif isinstance(node, list):
            for value in node:
                walk(value, depth + 1)

    walk(schema, 0)
    if bad:
        raise UnsafeModelError(
            "refusing to load this model file: it names types outside the allowlist: "
            + ", ".join(sorted(bad))
            + ". Only models saved by napari_medimg.analysis.model_io.save_model can be loaded."
        )
    if not isinstance(schema, dict) or schema.get("__class__") != "dict":
        raise ModelFileError("not a napari-medimg model file (unexpected top-level object)")
    return found


def _load_payload(path: str | os.PathLike) -> dict[str, Any]:
    sio = _skops()
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no model file at {path}")
    data = path.read_bytes()
    from ._archive import check_archive_sizes

    found = _check_schema(data)  # reads only schema.json (capped)
    check_archive_sizes(data, path.name, ModelFileError)  # before skops unpacks any member
    try:
        payload = sio.loads(data, trusted=sorted(found - {"builtins.NoneType"}))
    except Exception as exc:  # skops' own refusals and damaged archives
        raise ModelFileError(f"cannot load model file {path.name}: {type(exc).__name__}: {exc}") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ModelFileError(f"{path.name} is not a napari-medimg model file (no '{FORMAT}' marker)")
    if payload.get("version") != VERSION:
        raise ModelFileError(f"{path.name} has model format version {payload.get('version')}; this version reads {VERSION}")
    return payload


def load_model(path: str | os.PathLike, *, with_metadata: bool = False):
    """Load a model saved by :func:`save_model`, refusing anything outside the allowlist.

    Parameters
    ----------
    path : str or path-like
        The ``.skops`` file.
    with_metadata : bool
        Also return the metadata dict.

    Returns
    -------
    model or (model, dict)
        The pipeline / estimator, or an :class:`~.classify.ImageClassifier`.

    Raises
    ------
    UnsafeModelError
        The file names types or loaders outside the allowlist (nothing was built).
    ModelFileError
        Not a skops archive, not a napari-medimg model, damaged, too large to unpack
        (see :mod:`._archive`), or an estimator whose arrays are inconsistent (tree
        indices out of range or cyclic, shapes that disagree with the features and
        classes; see :mod:`.model_check`). Nothing predicts with a model before that.
    """
    from .model_check import check_estimator_structure

    payload = _load_payload(path)
    model = payload["model"]
    _check_model(model)
    check_estimator_structure(model, Path(path).name, ModelFileError)
    try:
        metadata = json.loads(payload.get("metadata") or "{}")
        extra = json.loads(payload.get("extra") or "{}")
    except (TypeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"damaged metadata in {Path(path).name}: {exc}") from None
    if payload.get("kind") == "image_classifier":
        from .classify import ImageClassifier

        options = dict(extra["descriptor_options"])
        for key in ("value_range", "spacing"):
            if options.get(key) is not None:
                options[key] = tuple(options[key])
        model = ImageClassifier(options, model, tuple(extra["image_shape"]), extra.get("cv_scores", {}))
    elif payload.get("kind") != "estimator":
        raise ModelFileError(f"unknown model kind {payload.get('kind')!r}")
    return (model, metadata) if with_metadata else model


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The metadata dict of a model file (after the same safety checks as :func:`load_model`)."""
    return load_model(path, with_metadata=True)[1]
