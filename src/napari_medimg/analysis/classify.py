"""Classical machine learning on feature tables: classifiers, clustering, evaluation.

Rows are samples (objects of a label image, or whole images), columns are features
(see :mod:`.descriptors`, :mod:`.radiomics`, :mod:`.selection`). Every model is a
scikit-learn :class:`~sklearn.pipeline.Pipeline` of a :class:`StandardScaler` and
one estimator, so that features in different units weigh alike; pipelines are saved
and loaded safely with :mod:`.model_io`.

* :func:`make_classifier`, :func:`train_classifier`, :func:`predict`: RBF SVM,
  random forest, logistic regression (balanced class weights by default).
* :func:`cross_validate`: stratified k-fold accuracy, balanced accuracy and the
  confusion matrix of the out-of-fold predictions; :func:`evaluate` on a held-out set.
* :func:`fit_predict_partial`: the object classifier of an interactive session: some
  rows are tagged, the rest are predicted, with the CV score on the tagged rows.
* :func:`cluster`: k-means or a gaussian mixture.
* :func:`fit_image_classifier`: descriptors + SVM for 2D images (e.g. PneumoniaMNIST)
  with a small C / gamma grid chosen by CV on the training set only.

Everything is seeded (``random_state``) and reproducible.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Sequence

import numpy as np

from ..dtypes import smallest_label_dtype
from ..progress import CancelCheck, ProgressCallback, check_cancel, report
from ._util import feature_matrix

__all__ = [
    "CLASSIFIERS",
    "CLUSTERINGS",
    "make_classifier",
    "train_classifier",
    "predict",
    "confusion_matrix",
    "Scores",
    "evaluate",
    "cross_validate",
    "PartialFit",
    "fit_predict_partial",
    "Clustering",
    "cluster",
    "ImageClassifier",
    "fit_image_classifier",
]

CLASSIFIERS = ("svm", "random_forest", "logistic")
CLUSTERINGS = ("kmeans", "gmm")


def make_classifier(
    kind: str = "svm",
    *,
    C: float = 1.0,
    gamma: float | str = "scale",
    n_estimators: int = 200,
    max_depth: int | None = None,
    class_weight: str | None = "balanced",
    random_state: int = 0,
):
    """An unfitted pipeline: standardisation, then the classifier.

    Parameters
    ----------
    kind : {"svm", "random_forest", "logistic"}
        RBF support vector machine, random forest, or L2 logistic regression.
    C : float
        Inverse regularisation (SVM, logistic regression).
    gamma : float or {"scale", "auto"}
        RBF width of the SVM (on standardised features; ``"scale"`` = 1 / n_features).
    n_estimators, max_depth : int
        Forest size and tree depth.
    class_weight : {"balanced", None}
        ``"balanced"`` weighs classes inversely to their frequency.
    random_state : int
        Seed.

    Returns
    -------
    sklearn.pipeline.Pipeline
        Steps ``"scale"`` and ``"model"``.
    """
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    if class_weight not in ("balanced", None):
        raise ValueError(f"class_weight must be 'balanced' or None, got {class_weight!r}")
    if kind == "svm":
        model = SVC(kernel="rbf", C=C, gamma=gamma, class_weight=class_weight, random_state=random_state)
    elif kind == "random_forest":
        model = RandomForestClassifier(n_estimators=n_estimators, max_depth=max_depth, class_weight=class_weight,
                                       random_state=random_state, n_jobs=1)
    elif kind == "logistic":
        model = LogisticRegression(C=C, class_weight=class_weight, max_iter=5000)
    else:
        raise ValueError(f"kind must be one of {', '.join(CLASSIFIERS)}, got {kind!r}")
    return Pipeline([("scale", StandardScaler()), ("model", model)])


def _labels(y, n: int, name: str = "y") -> np.ndarray:
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1 or len(y) != n:
        raise ValueError(f"{name} must hold one label per row ({n}), got shape {y.shape}")
    if y.dtype.kind == "O" and all(isinstance(v, str) for v in y):
        y = y.astype(str)  # plain string arrays save and load without pickling
    return y


def train_classifier(X, y, *, kind: str = "svm", names: Sequence[str] | None = None, **options: Any):
    """Fit :func:`make_classifier` on ``X`` (array or DataFrame) and class labels ``y``.

    Parameters
    ----------
    X : array (n_samples, n_features) or DataFrame
        Features.
    y : array (n_samples,)
        Class labels (integers or strings), at least two classes.
    kind : {"svm", "random_forest", "logistic"}
        The classifier.
    names : sequence of str, optional
        Feature names, stored on the pipeline as ``feature_names`` for checks later.
    **options
        Keyword arguments of :func:`make_classifier`.

    Returns
    -------
    sklearn.pipeline.Pipeline
        Fitted.
    """
    X, names = feature_matrix(X, names)
    y = _labels(y, len(X))
    if len(np.unique(y)) < 2:
        raise ValueError("y must hold at least two classes to train a classifier")
    model = make_classifier(kind, **options)
    model.fit(X, y)
    return model


def predict(model, X) -> np.ndarray:
    """Class labels for the rows of ``X`` (array or DataFrame)."""
    X, _ = feature_matrix(X)
    expected = getattr(model, "n_features_in_", X.shape[1])
    if X.shape[1] != expected:
        raise ValueError(f"X has {X.shape[1]} features; the model was trained on {expected}")
    return model.predict(X)


def confusion_matrix(y_true, y_pred, *, labels: Sequence | None = None) -> np.ndarray:
    """Counts: row = true class, column = predicted class, in the order of ``labels``.

    Parameters
    ----------
    y_true, y_pred : array (n,)
        True and predicted labels.
    labels : sequence, optional
        Class order; by default the sorted union of both.

    Returns
    -------
    numpy.ndarray
        int64 ``(n_classes, n_classes)``.

    Examples
    --------
    >>> confusion_matrix([0, 0, 1, 1], [0, 1, 1, 1]).tolist()
    [[1, 1], [0, 2]]
    """
    from sklearn.metrics import confusion_matrix as sk_confusion

    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true {y_true.shape} and y_pred {y_pred.shape} differ in shape")
    if labels is None:
        labels = np.unique(np.concatenate([y_true, y_pred]))
    return sk_confusion(y_true, y_pred, labels=list(labels)).astype(np.int64)


@dataclasses.dataclass
class Scores:
    """Classification scores.

    Attributes
    ----------
    accuracy, balanced_accuracy : float
        Mean over folds for cross-validation, or on the evaluated set.
    accuracy_std, balanced_accuracy_std : float
        Standard deviation over folds (0 for a single evaluation).
    confusion : numpy.ndarray
        Counts, rows = true class, columns = predicted, order ``classes``
        (out-of-fold predictions for cross-validation).
    classes : numpy.ndarray
        Class labels in the confusion matrix order.
    predictions : numpy.ndarray
        The (out-of-fold) predicted labels.
    folds : int
        Number of folds (1 for a single evaluation).
    """

    accuracy: float
    balanced_accuracy: float
    accuracy_std: float
    balanced_accuracy_std: float
    confusion: np.ndarray
    classes: np.ndarray
    predictions: np.ndarray
    folds: int = 1


def evaluate(model, X, y) -> Scores:
    """Accuracy, balanced accuracy and confusion matrix of a fitted model on ``(X, y)``."""
    from sklearn.metrics import accuracy_score, balanced_accuracy_score

    predictions = predict(model, X)
    y = _labels(y, len(predictions))
    classes = np.unique(np.concatenate([np.asarray(model.classes_), y]))
    return Scores(
        float(accuracy_score(y, predictions)),
        float(balanced_accuracy_score(y, predictions)),
        0.0,
        0.0,
        confusion_matrix(y, predictions, labels=classes),
        classes,
        predictions,
    )


def _folds(y: np.ndarray, cv: int) -> int:
    _, counts = np.unique(y, return_counts=True)
    return int(min(int(cv), counts.min()))


def cross_validate(
    X,
    y,
    *,
    kind: str = "svm",
    cv: int = 5,
    random_state: int = 0,
    names: Sequence[str] | None = None,
    n_jobs: int | None = None,
    **options: Any,
) -> Scores:
    """Stratified k-fold cross-validation of :func:`make_classifier`.

    Parameters
    ----------
    X : array (n_samples, n_features) or DataFrame
        Features.
    y : array (n_samples,)
        Class labels.
    kind : {"svm", "random_forest", "logistic"}
        The classifier.
    cv : int
        Folds (reduced to the size of the smallest class; at least 2), shuffled with
        ``random_state``.
    random_state : int
        Seed of the folds and the model.
    names : sequence of str, optional
        Feature names (unused except for checks).
    n_jobs : int, optional
        Parallel folds.
    **options
        Keyword arguments of :func:`make_classifier`.

    Returns
    -------
    Scores
        Mean and standard deviation over folds; the confusion matrix of the
        out-of-fold predictions (every sample predicted once, by a model that did not
        see it).
    """
    from sklearn.metrics import accuracy_score, balanced_accuracy_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    X, _ = feature_matrix(X, names)
    y = _labels(y, len(X))
    folds = _folds(y, cv)
    if len(np.unique(y)) < 2 or folds < 2:
        raise ValueError("cross-validation needs at least two classes with at least two samples each")
    splitter = StratifiedKFold(folds, shuffle=True, random_state=random_state)
    model = make_classifier(kind, random_state=random_state, **options)
    predictions = cross_val_predict(model, X, y, cv=splitter, n_jobs=n_jobs)
    accuracy, balanced = [], []
    for _, test in splitter.split(X, y):
        accuracy.append(accuracy_score(y[test], predictions[test]))
        balanced.append(balanced_accuracy_score(y[test], predictions[test]))
    classes = np.unique(y)
    return Scores(
        float(np.mean(accuracy)),
        float(np.mean(balanced)),
        float(np.std(accuracy)),
        float(np.std(balanced)),
        confusion_matrix(y, predictions, labels=classes),
        classes,
        predictions,
        folds,
    )


# ----------------------------------------------------------------------------- partial tagging


@dataclasses.dataclass
class PartialFit:
    """Result of :func:`fit_predict_partial`.

    Attributes
    ----------
    predictions : numpy.ndarray
        A label for every row: the given tag where tagged, the prediction elsewhere.
    predicted : numpy.ndarray
        The model's prediction for every row (tagged rows too, fitted in-sample).
    probabilities : numpy.ndarray or None
        ``(n_rows, n_classes)`` class probabilities (random forest, logistic); None for
        the SVM.
    tagged : numpy.ndarray
        bool per row: True where a tag was given.
    classes : numpy.ndarray
        Class labels (column order of ``probabilities``).
    scores : Scores or None
        Cross-validation on the tagged rows; None when a class has fewer than two tags.
    model : Pipeline
        Fitted on all tagged rows.
    """

    predictions: np.ndarray
    predicted: np.ndarray
    probabilities: np.ndarray | None
    tagged: np.ndarray
    classes: np.ndarray
    scores: Scores | None
    model: Any

    @property
    def accuracy(self) -> float:
        """Cross-validated accuracy on the tagged rows (NaN when not computable)."""
        return math.nan if self.scores is None else self.scores.accuracy

    @property
    def balanced_accuracy(self) -> float:
        """Cross-validated balanced accuracy on the tagged rows (NaN when not computable)."""
        return math.nan if self.scores is None else self.scores.balanced_accuracy


def _untagged(y: np.ndarray, missing: Any) -> np.ndarray:
    if y.dtype.kind == "f":
        out = np.isnan(y)
        if missing is not None and not (isinstance(missing, float) and math.isnan(missing)):
            out |= y == missing
        return out
    if y.dtype.kind == "O":
        return np.array(
            [v is None or (isinstance(v, float) and math.isnan(v)) or (missing is not None and v == missing) for v in y],
            bool,
        )
    if missing is None:
        return np.zeros(len(y), bool)
    return y == np.asarray(missing).astype(y.dtype) if y.dtype.kind in "iu" else y == missing


def fit_predict_partial(
    X,
    y,
    *,
    missing: Any = -1,
    kind: str = "random_forest",
    cv: int = 5,
    random_state: int = 0,
    names: Sequence[str] | None = None,
    **options: Any,
):
    """Train on the tagged rows, predict every row, and cross-validate on the tagged ones.

    The object classifier of an interactive session: the user tags a few objects of
    each class in a table of object features; the others get the predicted class.

    Parameters
    ----------
    X : array (n_rows, n_features) or DataFrame
        Features of every row (object).
    y : array (n_rows,)
        Tags: a class label, or "untagged": NaN, None, or the value ``missing``.
    missing : object
        The value that marks an untagged row (-1 by default; e.g. 0 or ``""``), in
        addition to NaN / None.
    kind : {"random_forest", "svm", "logistic"}
        The classifier (a random forest by default: robust with few tags and features in
        any units).
    cv : int
        Folds for the CV score on the tagged rows (reduced to the smallest class size).
    random_state : int
        Seed.
    names : sequence of str, optional
        Feature names.
    **options
        Keyword arguments of :func:`make_classifier`.

    Returns
    -------
    PartialFit
        Predictions for all rows and the CV scores on the tagged ones.
    """
    X, _ = feature_matrix(X, names)
    y = _labels(y, len(X))
    untagged = _untagged(y, missing)
    tagged = ~untagged
    y_tagged = y[tagged]
    if y_tagged.dtype.kind == "O":
        kinds = {type(v) for v in y_tagged}
        y_tagged = y_tagged.astype(str) if kinds <= {str} else y_tagged.astype(np.float64)
    if y_tagged.dtype.kind == "f" and np.all(y_tagged == np.round(y_tagged)):
        y_tagged = y_tagged.astype(np.int64)
    classes = np.unique(y_tagged)
    if len(classes) < 2:
        raise ValueError(
            f"tag at least one row of two different classes (found {len(classes)} class(es) among "
            f"{int(tagged.sum())} tagged rows)"
        )
    model = make_classifier(kind, random_state=random_state, **options)
    model.fit(X[tagged], y_tagged)
    predicted = model.predict(X)
    predictions = predicted.copy()
    predictions[tagged] = y_tagged
    probabilities = model.predict_proba(X) if kind != "svm" else None
    scores = None
    if _folds(y_tagged, cv) >= 2:
        scores = cross_validate(X[tagged], y_tagged, kind=kind, cv=cv, random_state=random_state, **options)
    return PartialFit(predictions, predicted, probabilities, tagged, np.asarray(model.classes_), scores, model)


# ----------------------------------------------------------------------------- clustering


@dataclasses.dataclass
class Clustering:
    """Result of :func:`cluster`.

    Attributes
    ----------
    labels : numpy.ndarray
        Cluster per row, ``1..n_clusters`` (0 is kept free for "background" in label
        images), smallest unsigned dtype; clusters numbered by decreasing size.
    model : Pipeline
        Fitted standardisation + KMeans / GaussianMixture (its own cluster numbering
        is ``model.predict``, 0-based, unordered).
    probabilities : numpy.ndarray or None
        GMM membership probabilities ``(n_rows, n_clusters)`` in the ``labels`` order.
    order : numpy.ndarray
        ``labels = order_inverse[model.predict(X)] + 1``: ``order[k]`` is the model's
        cluster that became label ``k + 1``.
    """

    labels: np.ndarray
    model: Any
    probabilities: np.ndarray | None
    order: np.ndarray


def cluster(
    X,
    *,
    method: str = "kmeans",
    n_clusters: int = 2,
    standardize: bool = True,
    random_state: int = 0,
    names: Sequence[str] | None = None,
) -> Clustering:
    """k-means or gaussian-mixture clustering of the rows of a feature table.

    Parameters
    ----------
    X : array (n_rows, n_features) or DataFrame
        Features.
    method : {"kmeans", "gmm"}
        k-means (10 initialisations) or a full-covariance gaussian mixture (5).
    n_clusters : int
        Number of clusters (2..n_rows).
    standardize : bool
        Standardise features first (recommended for features in different units).
    random_state : int
        Seed.
    names : sequence of str, optional
        Feature names.

    Returns
    -------
    Clustering
        Labels 1..n_clusters ordered by decreasing cluster size.
    """
    from sklearn.cluster import KMeans
    from sklearn.mixture import GaussianMixture
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    X, _ = feature_matrix(X, names)
    n_clusters = int(n_clusters)
    if not 2 <= n_clusters <= len(X):
        raise ValueError(f"n_clusters must be between 2 and the number of rows ({len(X)}), got {n_clusters}")
    if method == "kmeans":
        estimator = KMeans(n_clusters=n_clusters, n_init=10, random_state=random_state)
    elif method == "gmm":
        estimator = GaussianMixture(n_components=n_clusters, n_init=5, random_state=random_state)
    else:
        raise ValueError(f"method must be one of {', '.join(CLUSTERINGS)}, got {method!r}")
    steps = ([("scale", StandardScaler())] if standardize else []) + [("model", estimator)]
    model = Pipeline(steps).fit(X)
    raw = model.predict(X)
    sizes = np.bincount(raw, minlength=n_clusters)
    order = np.argsort(-sizes, kind="stable")
    inverse = np.empty(n_clusters, np.int64)
    inverse[order] = np.arange(n_clusters)
    labels = (inverse[raw] + 1).astype(smallest_label_dtype(n_clusters))
    probabilities = model.predict_proba(X)[:, order] if method == "gmm" else None
    return Clustering(labels, model, probabilities, order)


# ----------------------------------------------------------------------------- image classifier


@dataclasses.dataclass
class ImageClassifier:
    """Descriptors + classifier for 2D images of one size.

    Attributes
    ----------
    descriptor_options : dict
        Keyword arguments of
        :func:`napari_medimg.analysis.descriptors.image_descriptor_matrix` (with the
        training ``value_range`` fixed, so that new images are described identically).
    model : Pipeline
        Fitted standardisation + classifier.
    image_shape : tuple of int
        Shape of the training images (new images must match).
    cv_scores : dict
        ``{"params": best parameters, "best_score": CV balanced accuracy, "grid": [...]}``.
    """

    descriptor_options: dict[str, Any]
    model: Any
    image_shape: tuple[int, int]
    cv_scores: dict[str, Any] = dataclasses.field(default_factory=dict)

    def describe(self, images, *, progress=None, cancel=None) -> np.ndarray:
        """Descriptor matrix of ``images`` (n, y, x)."""
        from .descriptors import image_descriptor_matrix

        images = np.asarray(images)
        if images.ndim == 2:
            images = images[np.newaxis]
        if tuple(images.shape[1:]) != tuple(self.image_shape):
            raise ValueError(f"images are {images.shape[1:]}; this classifier was trained on {self.image_shape} images")
        return image_descriptor_matrix(images, **self.descriptor_options, progress=progress, cancel=cancel)[0]

    def predict(self, images, *, progress=None, cancel=None) -> np.ndarray:
        """Predicted class of each image."""
        return self.model.predict(self.describe(images, progress=progress, cancel=cancel))

    def evaluate(self, images, labels) -> Scores:
        """Accuracy, balanced accuracy and confusion matrix on labelled images."""
        return evaluate(self.model, self.describe(images), labels)


def fit_image_classifier(
    images,
    labels,
    *,
    kind: str = "svm",
    C_grid: Sequence[float] = (1.0, 3.0, 10.0),
    gamma_grid: Sequence[float | str] = ("scale",),
    cv: int = 3,
    descriptor_options: dict[str, Any] | None = None,
    spacing: Sequence[float] | None = None,
    random_state: int = 0,
    progress: ProgressCallback | None = None,
    cancel: CancelCheck | None = None,
) -> ImageClassifier:
    """Train a descriptor + classifier pipeline on labelled 2D images.

    Descriptors (:func:`~napari_medimg.analysis.descriptors.image_descriptor_matrix`:
    HOG, tiled LBP histograms, intensity histogram, thumbnail), standardised, then an
    RBF SVM with balanced class weights whose ``C`` and ``gamma`` are chosen by
    stratified ``cv``-fold cross-validation (balanced accuracy) on the training images
    only; the best setting is refitted on all of them.

    Parameters
    ----------
    images : array (n, y, x)
        Training images of one shape.
    labels : array (n,) or (n, 1)
        Class labels.
    kind : {"svm", "random_forest", "logistic"}
        The classifier (the grid is over C and gamma for the SVM, C for logistic
        regression, nothing for the forest).
    C_grid, gamma_grid : sequence
        Grid of the SVM's C and gamma (gamma on standardised features; ``"scale"`` is
        1 / n_features).
    cv : int
        Folds of the grid search (at least 2; a one-point grid skips it).
    descriptor_options : dict, optional
        Overrides of :data:`~napari_medimg.analysis.descriptors.DEFAULT_IMAGE_DESCRIPTORS`.
    spacing : sequence of float, optional
        Pixel spacing (y, x) in mm of every image.
    random_state : int
        Seed of the folds and the model.
    progress, cancel : callable, optional
        Progress (descriptors to 0.5, then per grid point) and cancel check.

    Returns
    -------
    ImageClassifier
    """
    from sklearn.base import clone
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.model_selection import StratifiedKFold

    from .descriptors import DEFAULT_IMAGE_DESCRIPTORS, image_descriptor_matrix

    images = np.asarray(images)
    if images.ndim != 3:
        raise ValueError(f"images must be a stack (n, y, x), got shape {images.shape}")
    labels = _labels(labels, len(images), "labels")
    options = {**DEFAULT_IMAGE_DESCRIPTORS, **(descriptor_options or {})}
    unknown = set(options) - set(DEFAULT_IMAGE_DESCRIPTORS)
    if unknown:
        raise ValueError(f"unknown descriptor option(s) {sorted(unknown)}; known: {sorted(DEFAULT_IMAGE_DESCRIPTORS)}")
    if options["value_range"] is None:
        options["value_range"] = (float(images.min()), float(images.max()))
    options["value_range"] = tuple(float(v) for v in options["value_range"])
    if spacing is not None:
        options["spacing"] = tuple(float(s) for s in spacing)
    X, _ = image_descriptor_matrix(
        images, **options,
        progress=None if progress is None else (lambda f: report(progress, 0.5 * f)),
        cancel=cancel,
    )
    if kind == "svm":
        grid = [{"C": float(c), "gamma": g} for c in C_grid for g in gamma_grid]
    elif kind == "logistic":
        grid = [{"C": float(c)} for c in C_grid]
    else:
        grid = [{}]
    results = []
    if len(grid) > 1:
        folds = _folds(labels, cv)
        if folds < 2:
            raise ValueError("the grid search needs at least two images of every class")
        splits = list(StratifiedKFold(folds, shuffle=True, random_state=random_state).split(X, labels))
        for n, params in enumerate(grid):
            check_cancel(cancel)
            fold_scores = []
            for train, test in splits:
                model = clone(make_classifier(kind, random_state=random_state, **params))
                model.fit(X[train], labels[train])
                fold_scores.append(balanced_accuracy_score(labels[test], model.predict(X[test])))
            results.append({"params": params, "mean": float(np.mean(fold_scores)), "std": float(np.std(fold_scores))})
            report(progress, 0.5 + 0.45 * (n + 1) / len(grid))
        best = max(results, key=lambda r: r["mean"])  # first of equal means: the smaller C
        params = best["params"]
    else:
        params = grid[0]
        best = {"mean": math.nan}
    check_cancel(cancel)
    model = make_classifier(kind, random_state=random_state, **params).fit(X, labels)
    report(progress, 1.0)
    return ImageClassifier(
        options, model, tuple(images.shape[1:]),
        {"params": params, "best_score": best["mean"], "scoring": "balanced_accuracy", "grid": results},
    )
