"""Structure checks of loaded scikit-learn estimators, before anything predicts with them.

scikit-learn's compiled code trusts its arrays: a decision tree whose child index points
past its node array, or an SVM whose support counts do not add up, reads outside
memory and can kill the process at ``predict``. A model file is only data, so every
estimator built from one is checked here first: array shapes against
``n_features_in_`` and the classes, index ranges, finiteness, and that each tree is a
tree (every node below the root reached exactly once).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

__all__ = ["check_estimator_structure"]


class _Bad(Exception):
    """Internal: what is wrong, turned into the caller's error with the file named."""


def _shape(value: Any, expected: tuple, what: str) -> np.ndarray:
    array = np.asarray(value)
    if array.shape != expected:
        raise _Bad(f"{what} has shape {array.shape}, expected {expected}")
    return array


def _finite(value: Any, what: str) -> np.ndarray:
    array = np.asarray(value)
    if array.dtype.kind in "fc" and not np.all(np.isfinite(array)):
        raise _Bad(f"{what} holds NaN or infinite values")
    if array.dtype.kind not in "fciub":
        raise _Bad(f"{what} is not numeric ({array.dtype})")
    return array


def _n_features(model: Any) -> int:
    n = getattr(model, "n_features_in_", None)
    if not isinstance(n, (int, np.integer)) or not 0 < int(n) < 10**7:
        raise _Bad(f"{type(model).__name__} has no valid n_features_in_ ({n!r})")
    return int(n)


def _classes(model: Any) -> int:
    classes = np.asarray(getattr(model, "classes_", None))
    if classes.ndim != 1 or len(classes) < 2 or len(np.unique(classes)) != len(classes):
        raise _Bad(f"{type(model).__name__} classes_ must be two or more distinct values, got {classes!r}")
    return len(classes)


def _tree(tree: Any, n_features: int, n_outputs: int, n_classes: int, which: str) -> None:
    n = int(tree.node_count)
    if n < 1:
        raise _Bad(f"{which} has no nodes")
    left = _shape(tree.children_left, (n,), f"{which} children_left").astype(np.int64)
    right = _shape(tree.children_right, (n,), f"{which} children_right").astype(np.int64)
    feature = _shape(tree.feature, (n,), f"{which} feature").astype(np.int64)
    threshold = _shape(tree.threshold, (n,), f"{which} threshold")
    value = _finite(_shape(tree.value, (n, n_outputs, n_classes), f"{which} value"), f"{which} value")
    if int(tree.n_features) != n_features:
        raise _Bad(f"{which} splits {tree.n_features} features, the model has {n_features}")
    leaf = left == -1
    if np.any(leaf != (right == -1)):
        raise _Bad(f"{which}: a node has one child only")
    inner = ~leaf
    children = np.concatenate([left[inner], right[inner]])
    if np.any((children < 1) | (children >= n)):
        raise _Bad(f"{which}: child indices out of range 1..{n - 1}")
    if np.any(np.bincount(children, minlength=n)[1:] != 1):
        raise _Bad(f"{which}: nodes are not a tree (a node is reached twice or never: a cycle or a shared child)")
    if np.any((feature[inner] < 0) | (feature[inner] >= n_features)):
        raise _Bad(f"{which}: split feature index out of range 0..{n_features - 1}")
    if not np.all(np.isfinite(threshold[inner])):
        raise _Bad(f"{which}: a split threshold is NaN or infinite")
    if np.any(value < 0):
        raise _Bad(f"{which}: negative class values")


def _forest(model: Any) -> None:
    n_features, n_classes = _n_features(model), _classes(model)
    n_outputs = int(getattr(model, "n_outputs_", 1))
    if n_outputs != 1:
        raise _Bad(f"{n_outputs} outputs: only single-output forests are supported")
    trees = list(getattr(model, "estimators_", []))
    if not trees:
        raise _Bad("the forest has no trees")
    for number, estimator in enumerate(trees):
        if type(estimator).__name__ != "DecisionTreeClassifier":
            raise _Bad(f"tree {number} is a {type(estimator).__name__}")
        if _n_features(estimator) != n_features or int(estimator.n_classes_) != n_classes:
            raise _Bad(f"tree {number} has {estimator.n_features_in_} features / {estimator.n_classes_} classes, "
                       f"the forest {n_features} / {n_classes}")
        _tree(estimator.tree_, n_features, n_outputs, n_classes, f"tree {number}")


def _svc(model: Any) -> None:
    n_features, n_classes = _n_features(model), _classes(model)
    vectors = _finite(model.support_vectors_, "support_vectors_")
    if vectors.ndim != 2 or vectors.shape[1] != n_features:
        raise _Bad(f"support_vectors_ has shape {vectors.shape}, expected (n, {n_features})")
    n_sv = vectors.shape[0]
    counts = _shape(model._n_support, (n_classes,), "n_support").astype(np.int64)
    if np.any(counts < 0) or counts.sum() != n_sv:
        raise _Bad(f"support counts {counts.tolist()} do not add up to the {n_sv} support vectors")
    support = _shape(model.support_, (n_sv,), "support_")
    if np.any(support < 0):
        raise _Bad("negative support indices")
    pairs = n_classes * (n_classes - 1) // 2
    _finite(_shape(model._dual_coef_, (n_classes - 1, n_sv), "dual_coef_"), "dual_coef_")
    _finite(_shape(model._intercept_, (pairs,), "intercept_"), "intercept_")
    for name in ("_probA", "_probB"):
        probability = _finite(getattr(model, name, np.zeros(0)), name)
        if probability.shape not in ((0,), (pairs,)):
            raise _Bad(f"{name} has shape {probability.shape}, expected (0,) or ({pairs},)")
    if not np.isfinite(float(model._gamma)):
        raise _Bad("gamma is not finite")


def _logistic(model: Any) -> None:
    n_features, n_classes = _n_features(model), _classes(model)
    rows = 1 if n_classes == 2 else n_classes
    coef = _finite(model.coef_, "coef_")
    if coef.shape not in ((rows, n_features), (n_classes, n_features)):
        raise _Bad(f"coef_ has shape {coef.shape}, expected ({rows}, {n_features})")
    _finite(_shape(model.intercept_, (coef.shape[0],), "intercept_"), "intercept_")


def _scaler(model: Any) -> None:
    n_features = _n_features(model)
    for name in ("mean_", "scale_", "var_"):
        value = getattr(model, name, None)
        if value is not None:
            _finite(_shape(value, (n_features,), name), name)
    if getattr(model, "scale_", None) is not None and np.any(np.asarray(model.scale_) <= 0):
        raise _Bad("scale_ must be positive")


def _kmeans(model: Any) -> None:
    n_features = _n_features(model)
    centres = _finite(model.cluster_centers_, "cluster_centers_")
    if centres.ndim != 2 or centres.shape != (int(model.n_clusters), n_features):
        raise _Bad(f"cluster_centers_ has shape {centres.shape}, expected ({model.n_clusters}, {n_features})")


def _mixture(model: Any) -> None:
    n_features, k = _n_features(model), int(model.n_components)
    _finite(_shape(model.weights_, (k,), "weights_"), "weights_")
    _finite(_shape(model.means_, (k, n_features), "means_"), "means_")
    expected = {
        "full": (k, n_features, n_features),
        "tied": (n_features, n_features),
        "diag": (k, n_features),
        "spherical": (k,),
    }.get(model.covariance_type)
    if expected is None:
        raise _Bad(f"unknown covariance_type {model.covariance_type!r}")
    for name in ("covariances_", "precisions_cholesky_", "precisions_"):
        if getattr(model, name, None) is not None:
            _finite(_shape(getattr(model, name), expected, name), name)


_CHECKS: dict[str, Callable[[Any], None]] = {
    "RandomForestClassifier": _forest,
    "SVC": _svc,
    "LogisticRegression": _logistic,
    "StandardScaler": _scaler,
    "KMeans": _kmeans,
    "GaussianMixture": _mixture,
}


def check_estimator_structure(model: Any, name: str, error: type[Exception]) -> None:
    """Check a loaded estimator or pipeline so that predicting cannot read outside its arrays.

    Parameters
    ----------
    model : Pipeline or estimator
        As rebuilt from a model file.
    name : str
        The file name for messages.
    error : type
        Exception class to raise (e.g. ``ModelFileError``).

    Raises
    ------
    error
        Naming the file, the step and what is inconsistent.
    """
    steps = [s for _, s in model.steps] if type(model).__name__ == "Pipeline" else [model]
    previous = None
    for number, step in enumerate(steps):
        kind = type(step).__name__
        check = _CHECKS.get(kind)
        try:
            if check is None:
                raise _Bad(f"{kind} is not a supported estimator")
            check(step)
            if previous is not None and _n_features(step) != previous:
                raise _Bad(f"it takes {step.n_features_in_} features but the step before gives {previous}")
        except _Bad as exc:
            raise error(f"{name} holds a damaged or edited model ({kind}, step {number + 1}): {exc}. It was not loaded") from None
        except (AttributeError, TypeError, ValueError) as exc:
            raise error(f"{name} holds an incomplete model ({kind}, step {number + 1}): {exc}. It was not loaded") from None
        previous = _n_features(step) if kind == "StandardScaler" else None
