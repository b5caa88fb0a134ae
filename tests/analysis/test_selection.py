"""Feature selection: known answers on synthetic tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from napari_medimg.analysis.selection import (
    correlation_filter,
    mutual_information_ranking,
    rfe_cv,
    variance_filter,
)


def _table(n=300, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    informative = y + rng.normal(0, 0.4, n)  # strongly linked to y
    weak = 0.3 * y + rng.normal(0, 1.0, n)
    noise = rng.normal(0, 1.0, (n, 3))
    X = np.column_stack([noise[:, 0], informative, noise[:, 1], weak, noise[:, 2]])
    return X, y, ["noise_a", "informative", "noise_b", "weak", "noise_c"]


def test_variance_filter_drops_constants():
    X, _, names = _table()
    X = np.column_stack([X, np.full(len(X), 3.0)])
    result = variance_filter(X, names=names + ["constant"])
    assert result.dropped == ["constant"] and len(result.selected) == 5
    assert result.transform(X).shape == (len(X), 5)


def test_correlation_filter_drops_the_duplicate():
    X, y, names = _table()
    rng = np.random.default_rng(3)
    copy = 3 * X[:, 1] + rng.normal(0, 0.01, len(X))  # same information, 9x the variance
    table = np.column_stack([X, copy])
    by_variance = correlation_filter(table, names=names + ["copy"], threshold=0.95)
    assert by_variance.dropped == ["informative"]
    assert by_variance.details["dropped_for"] == {"informative": "copy"}
    scaled = np.column_stack([X, copy / 100])  # now the copy has the smaller variance
    assert correlation_filter(scaled, names=names + ["copy"], threshold=0.95).dropped == ["copy"]
    frame = pd.DataFrame(table, columns=names + ["copy"])
    by_relevance = correlation_filter(frame, y, threshold=0.95, prefer="relevance", method="spearman")
    assert len(by_relevance.dropped) == 1 and by_relevance.dropped[0] in ("informative", "copy")
    assert list(by_relevance.transform(frame).columns) == by_relevance.selected
    with pytest.raises(ValueError, match="needs the class labels"):
        correlation_filter(table, prefer="relevance")


def test_mutual_information_ranks_the_informative_feature_first():
    X, y, names = _table()
    result = mutual_information_ranking(X, y, names=names, n_features=2)
    table = result.table()
    assert table["feature"][:2] == ["informative", "weak"]
    assert result.selected == ["informative", "weak"]
    assert result.scores[1] > 0.2


def test_rfecv_selects_the_informative_features():
    rng = np.random.default_rng(1)
    n = 240
    y = rng.integers(0, 2, n)
    X = rng.normal(0, 1, (n, 8))
    X[:, 2] += 1.5 * y
    X[:, 5] -= 1.5 * y
    default = rfe_cv(X, y, cv=4)  # scikit-learn's best mean score: a flat, noisy curve
    assert {2, 5} <= set(np.flatnonzero(default.support))
    result = rfe_cv(X, y, cv=4, tolerance=0.01)  # the fewest features within 0.01 of the best
    assert set(np.flatnonzero(result.support)) == {2, 5}
    curve = result.details
    assert len(curve["n_features"]) == len(curve["cv_mean"]) == 8
    assert curve["best_score"] > 0.8 and curve["n_selected"] == 2
    assert result.ranking[2] == result.ranking[5] == 1
    forest = rfe_cv(X, y, cv=3, estimator="random_forest", step=2, min_features_to_select=2)
    assert {2, 5} <= set(np.flatnonzero(forest.support))


def test_bad_tables_are_rejected():
    X, y, names = _table(40)
    X[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        variance_filter(X)
    with pytest.raises(ValueError, match="names"):
        variance_filter(np.ones((3, 2)), names=["a"])
