"""Feature selection for tables of features (radiomics, descriptors, object measurements).

Input is a table ``X`` of shape ``(n_samples, n_features)``: a numpy array with
``names=``, or a pandas DataFrame (its columns are the names). NaN or infinite values
are rejected (impute or drop them first). Every function returns a
:class:`FeatureSelection` that keeps the names, which features are kept (``support``),
a score per feature and a ranking, and can reduce a table to the kept columns.

* :func:`variance_filter`: drop (near-)constant features.
* :func:`correlation_filter`: drop one of each pair of features correlated above a
  threshold; the one kept has the higher variance or the higher relevance to ``y``.
* :func:`mutual_information_ranking`: rank by mutual information with ``y``.
* :func:`rfe_cv`: recursive feature elimination with cross-validation (the ranking and
  the cross-validated score against the number of features).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import numpy as np

from ._util import feature_matrix

__all__ = [
    "FeatureSelection",
    "variance_filter",
    "correlation_filter",
    "mutual_information_ranking",
    "rfe_cv",
]


@dataclasses.dataclass
class FeatureSelection:
    """The outcome of a feature selection.

    Attributes
    ----------
    names : list of str
        All input feature names, in input order.
    support : numpy.ndarray
        bool per feature: True when kept.
    scores : numpy.ndarray
        float64 per feature (variance, mutual information, CV-based rank score ...; see
        ``method``); higher is better.
    ranking : numpy.ndarray
        int per feature, 1 = best (kept features of RFE all rank 1).
    method : str
        Which selection made it.
    details : dict
        Method-specific results (e.g. RFE's CV score curve, the dropped pairs).
    """

    names: list[str]
    support: np.ndarray
    scores: np.ndarray
    ranking: np.ndarray
    method: str
    details: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def selected(self) -> list[str]:
        """Names of the kept features, in input order."""
        return [n for n, keep in zip(self.names, self.support) if keep]

    @property
    def dropped(self) -> list[str]:
        """Names of the dropped features, in input order."""
        return [n for n, keep in zip(self.names, self.support) if not keep]

    def transform(self, X):
        """The kept columns of ``X`` (array, or DataFrame with the same columns)."""
        if hasattr(X, "columns") and hasattr(X, "loc"):
            return X.loc[:, self.selected]
        X = np.asarray(X)
        if X.shape[1] != len(self.names):
            raise ValueError(f"X has {X.shape[1]} columns; this selection was made on {len(self.names)}")
        return X[:, self.support]

    def table(self) -> dict[str, list]:
        """Columns ``feature``, ``score``, ``rank``, ``selected`` sorted by rank."""
        order = np.lexsort((-self.scores, self.ranking))
        return {
            "feature": [self.names[i] for i in order],
            "score": [float(self.scores[i]) for i in order],
            "rank": [int(self.ranking[i]) for i in order],
            "selected": [bool(self.support[i]) for i in order],
        }


def _rank(scores: np.ndarray) -> np.ndarray:
    """1 for the highest score; ties keep input order."""
    order = np.argsort(-scores, kind="stable")
    ranking = np.empty(len(scores), np.int64)
    ranking[order] = np.arange(1, len(scores) + 1)
    return ranking


def _labels(y, n: int) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != n:
        raise ValueError(f"y must have one value per sample ({n}), got shape {y.shape}")
    if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
        raise ValueError("y has NaN values; drop the untagged samples first")
    return y


def variance_filter(
    X, y=None, *, names: Sequence[str] | None = None, threshold: float = 0.0
) -> FeatureSelection:
    """Keep features whose variance exceeds ``threshold``.

    Parameters
    ----------
    X : array (n_samples, n_features) or DataFrame
        The features.
    y : ignored
        For a uniform signature with the supervised selectors.
    names : sequence of str, optional
        Feature names (ignored for a DataFrame).
    threshold : float
        Features with population variance ``<= threshold`` are dropped (0 drops constants).
        Variance depends on units: compare features on a common scale.

    Returns
    -------
    FeatureSelection
        ``scores`` are the variances.
    """
    X, names = feature_matrix(X, names)
    variance = X.var(axis=0, dtype=np.float64)
    support = variance > float(threshold)
    return FeatureSelection(names, support, variance, _rank(variance), "variance", {"threshold": float(threshold)})


def _relevance(X: np.ndarray, y, random_state: int) -> np.ndarray:
    from sklearn.feature_selection import mutual_info_classif

    return mutual_info_classif(X, y, random_state=random_state)


def correlation_filter(
    X,
    y=None,
    *,
    names: Sequence[str] | None = None,
    threshold: float = 0.9,
    method: str = "pearson",
    prefer: str = "variance",
    random_state: int = 0,
) -> FeatureSelection:
    """Drop one feature of every pair whose absolute correlation exceeds ``threshold``.

    Greedy and order-free: features are visited from the most to the least preferred
    (``prefer``: highest variance, or highest mutual information with ``y``; ties keep
    the input order) and a feature is kept when its ``|r|`` with every feature kept so
    far is at most ``threshold``. So of each correlated pair the preferred feature
    survives, and every dropped feature has a kept, more preferred partner above the
    threshold (recorded in ``details["dropped_for"]``). Constant features have no
    defined correlation and are kept (use :func:`variance_filter` first).

    Parameters
    ----------
    X : array (n_samples, n_features) or DataFrame
        The features.
    y : array (n_samples,), optional
        Class labels; needed for ``prefer="relevance"``.
    names : sequence of str, optional
        Feature names (ignored for a DataFrame).
    threshold : float
        Largest allowed absolute correlation between kept features (0..1).
    method : {"pearson", "spearman"}
        Linear or rank correlation.
    prefer : {"variance", "relevance"}
        Which of a pair to keep. Variance depends on units (it favours features with
        large numbers), so prefer relevance for tables of mixed units.
    random_state : int
        Seed of the mutual-information estimate (``prefer="relevance"``).

    Returns
    -------
    FeatureSelection
        ``scores`` are the variances or relevances; ``details`` holds the correlation
        matrix (``"correlation"``) and ``"dropped_for"`` (dropped name -> kept name).
    """
    X, names = feature_matrix(X, names)
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be between 0 and 1, got {threshold}")
    if method not in ("pearson", "spearman"):
        raise ValueError(f"method must be 'pearson' or 'spearman', got {method!r}")
    if prefer == "variance":
        priority = X.var(axis=0, dtype=np.float64)
    elif prefer == "relevance":
        if y is None:
            raise ValueError("prefer='relevance' needs the class labels y")
        priority = _relevance(X, _labels(y, len(X)), random_state)
    else:
        raise ValueError(f"prefer must be 'variance' or 'relevance', got {prefer!r}")
    data = X.astype(np.float64)  # small tables: float64 for an accurate correlation
    if method == "spearman":
        from scipy.stats import rankdata

        data = rankdata(data, axis=0)
    data = data - data.mean(axis=0)
    norms = np.sqrt((data * data).sum(axis=0))
    constant = norms <= 1e-12 * np.maximum(1.0, np.abs(X).max(axis=0))
    data[:, ~constant] /= norms[~constant]
    corr = data.T @ data
    corr[constant, :] = 0.0
    corr[:, constant] = 0.0
    np.fill_diagonal(corr, 1.0)
    order = np.argsort(-priority, kind="stable")
    kept: list[int] = []
    dropped_for: dict[str, str] = {}
    for i in order:
        if kept:
            r = np.abs(corr[i, kept])
            worst = int(np.argmax(r))
            if r[worst] > threshold:
                dropped_for[names[i]] = names[kept[worst]]
                continue
        kept.append(int(i))
    support = np.zeros(len(names), bool)
    support[kept] = True
    return FeatureSelection(
        names, support, priority, _rank(priority), f"correlation ({method}, prefer {prefer})",
        {"correlation": corr, "dropped_for": dropped_for, "threshold": float(threshold)},
    )


def mutual_information_ranking(
    X,
    y,
    *,
    names: Sequence[str] | None = None,
    n_features: int | None = None,
    discrete_target: bool = True,
    n_neighbors: int = 3,
    random_state: int = 0,
) -> FeatureSelection:
    """Rank features by their mutual information with ``y`` (scikit-learn's estimator).

    Parameters
    ----------
    X : array (n_samples, n_features) or DataFrame
        The features (continuous).
    y : array (n_samples,)
        Class labels (or a continuous target with ``discrete_target=False``).
    names : sequence of str, optional
        Feature names (ignored for a DataFrame).
    n_features : int, optional
        Keep the best ``n_features``; by default every feature with positive mutual
        information.
    discrete_target : bool
        ``mutual_info_classif`` (True) or ``mutual_info_regression``.
    n_neighbors : int
        Neighbours of the k-NN entropy estimator.
    random_state : int
        Seed of the estimator's small jitter (reproducible ranking).

    Returns
    -------
    FeatureSelection
        ``scores`` are mutual informations in nats, ``ranking`` 1 = most informative.
    """
    from sklearn.feature_selection import mutual_info_classif, mutual_info_regression

    X, names = feature_matrix(X, names)
    y = _labels(y, len(X))
    estimate = mutual_info_classif if discrete_target else mutual_info_regression
    scores = np.asarray(estimate(X, y, n_neighbors=n_neighbors, random_state=random_state), np.float64)
    ranking = _rank(scores)
    if n_features is None:
        support = scores > 0
    else:
        if not 1 <= int(n_features) <= len(names):
            raise ValueError(f"n_features must be between 1 and {len(names)}, got {n_features}")
        support = ranking <= int(n_features)
    return FeatureSelection(names, support, scores, ranking, "mutual information")


ESTIMATORS = ("logistic", "linear_svm", "random_forest")


def _rfe_estimator(estimator, random_state: int):
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    if not isinstance(estimator, str):
        return estimator, "auto"
    if estimator == "logistic":
        model = LogisticRegression(max_iter=2000, class_weight="balanced")
    elif estimator == "linear_svm":
        model = LinearSVC(class_weight="balanced", max_iter=20000, random_state=random_state)
    elif estimator == "random_forest":
        model = RandomForestClassifier(n_estimators=100, class_weight="balanced", random_state=random_state, n_jobs=1)
        return Pipeline([("scale", StandardScaler()), ("model", model)]), "named_steps.model.feature_importances_"
    else:
        raise ValueError(f"estimator must be one of {', '.join(ESTIMATORS)} or a scikit-learn estimator, got {estimator!r}")
    # features standardised so that coefficient sizes are comparable
    return Pipeline([("scale", StandardScaler()), ("model", model)]), "named_steps.model.coef_"


def rfe_cv(
    X,
    y,
    *,
    names: Sequence[str] | None = None,
    estimator: Any = "logistic",
    step: int = 1,
    cv: int = 5,
    scoring: str = "balanced_accuracy",
    min_features_to_select: int = 1,
    tolerance: float = 0.0,
    random_state: int = 0,
    n_jobs: int | None = None,
) -> FeatureSelection:
    """Recursive feature elimination with cross-validation (:class:`sklearn.feature_selection.RFECV`).

    The model is fitted on all features, the least important ``step`` feature(s) are
    removed and so on; stratified ``cv``-fold cross-validation scores every number of
    features and the number with the best mean score is kept (scikit-learn's choice).
    With ``tolerance > 0`` the *smallest* number of features whose mean score is within
    ``tolerance`` of the best is kept instead (parsimony: CV curves are often flat and
    noisy), and RFE is refitted on all samples down to that number.

    Parameters
    ----------
    X : array (n_samples, n_features) or DataFrame
        The features.
    y : array (n_samples,)
        Class labels.
    names : sequence of str, optional
        Feature names (ignored for a DataFrame).
    estimator : {"logistic", "linear_svm", "random_forest"} or estimator
        Importance model: standardisation then L2 logistic regression or linear SVM
        (absolute coefficients), or a random forest (impurity importances); all with
        balanced class weights. A scikit-learn estimator with ``coef_`` or
        ``feature_importances_`` is used as it is.
    step : int
        Features removed per iteration.
    cv : int
        Folds (stratified, shuffled with ``random_state``).
    scoring : str
        scikit-learn scorer name.
    min_features_to_select : int
        Smallest number of features tried.
    tolerance : float
        Accept a score this much below the best for fewer features (e.g. 0.01).
    random_state : int
        Seed of the folds (and of the forest / SVM).
    n_jobs : int, optional
        Parallel folds (scikit-learn's convention).

    Returns
    -------
    FeatureSelection
        ``ranking`` 1 for the kept features (higher = eliminated earlier); ``scores``
        is ``-ranking``; ``details`` holds ``n_features`` (the numbers of features
        tried), ``cv_mean`` and ``cv_std`` (the CV score curve), ``n_selected`` and
        ``best_score``.
    """
    from sklearn.feature_selection import RFECV
    from sklearn.model_selection import StratifiedKFold

    X, names = feature_matrix(X, names)
    y = _labels(y, len(X))
    classes, counts = np.unique(y, return_counts=True)
    if len(classes) < 2:
        raise ValueError("y must hold at least two classes")
    folds = min(int(cv), int(counts.min()))
    if folds < 2:
        raise ValueError(f"the smallest class has {counts.min()} sample(s); cross-validation needs at least 2 per class")
    model, getter = _rfe_estimator(estimator, random_state)
    selector = RFECV(
        model,
        step=step,
        cv=StratifiedKFold(folds, shuffle=True, random_state=random_state),
        scoring=scoring,
        min_features_to_select=min_features_to_select,
        importance_getter=getter,
        n_jobs=n_jobs,
    )
    selector.fit(X, y)
    results = selector.cv_results_
    ranking = np.asarray(selector.ranking_, np.int64)
    support = np.asarray(selector.support_, bool)
    mean = np.asarray(results["mean_test_score"], np.float64)
    n_features = np.asarray(results["n_features"], np.int64)
    n_selected = int(selector.n_features_)
    if tolerance > 0:
        from sklearn.base import clone
        from sklearn.feature_selection import RFE

        smallest = int(n_features[mean >= mean.max() - float(tolerance)].min())
        if smallest < n_selected:
            rfe = RFE(clone(model), n_features_to_select=smallest, step=step, importance_getter=getter).fit(X, y)
            ranking = np.asarray(rfe.ranking_, np.int64)
            support = np.asarray(rfe.support_, bool)
            n_selected = smallest
    details = {
        "n_features": n_features,
        "cv_mean": mean,
        "cv_std": np.asarray(results["std_test_score"], np.float64),
        "n_selected": n_selected,
        "best_score": float(mean.max()),
        "selected_score": float(mean[n_features == n_selected][0]),
        "scoring": scoring,
        "folds": folds,
    }
    return FeatureSelection(names, support, -ranking.astype(np.float64), ranking, "RFECV", details)
