"""Classifiers, clustering, partial tagging and safe model files."""

from __future__ import annotations

import io
import json
import pickle
import zipfile

import numpy as np
import pytest

from napari_medimg.analysis.classify import (
    CLASSIFIERS,
    cluster,
    confusion_matrix,
    cross_validate,
    evaluate,
    fit_predict_partial,
    predict,
    train_classifier,
)
from napari_medimg.analysis.model_io import ModelFileError, UnsafeModelError, load_model, save_model


def _blobs(n=100, seed=0, separation=4.0):
    rng = np.random.default_rng(seed)
    X = np.vstack([rng.normal(0, 1, (n, 3)), rng.normal(separation, 1, (n, 3))])
    X[:, 2] *= 1000  # a feature in other units: standardisation makes it harmless
    y = np.repeat([0, 1], n)
    return X, y


@pytest.mark.parametrize("kind", CLASSIFIERS)
def test_classifiers_separate_two_blobs(kind):
    X, y = _blobs()
    scores = cross_validate(X, y, kind=kind, cv=5)
    assert scores.accuracy > 0.97 and scores.balanced_accuracy > 0.97
    assert scores.confusion.sum() == len(y) and scores.folds == 5
    model = train_classifier(X, y, kind=kind)
    X_test, y_test = _blobs(50, seed=1)
    assert evaluate(model, X_test, y_test).accuracy > 0.97
    with pytest.raises(ValueError, match="features"):
        predict(model, X_test[:, :2])


def test_confusion_matrix_counts():
    truth = ["a", "a", "a", "b", "b", "c"]
    guess = ["a", "b", "a", "b", "c", "c"]
    assert confusion_matrix(truth, guess).tolist() == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    assert confusion_matrix([0, 1], [1, 1], labels=[1, 0]).tolist() == [[1, 0], [1, 0]]


def test_fit_predict_partial_predicts_untagged_rows():
    X, y = _blobs(60)
    tags = np.full(len(y), -1)
    rng = np.random.default_rng(2)
    chosen = np.concatenate([rng.choice(60, 8, replace=False), 60 + rng.choice(60, 8, replace=False)])
    tags[chosen] = y[chosen]
    result = fit_predict_partial(X, tags)
    assert result.tagged.sum() == 16
    assert np.mean(result.predictions == y) > 0.97
    assert np.array_equal(result.predictions[chosen], y[chosen])
    assert result.accuracy > 0.9 and result.scores.folds == 5
    assert result.probabilities.shape == (len(y), 2)
    # string tags with None / NaN as untagged, SVM
    names = np.array([None] * len(y), dtype=object)
    names[chosen] = np.where(y[chosen] == 1, "tumour", "normal")
    names[0] = float("nan") if 0 not in chosen else names[0]
    svm = fit_predict_partial(X, names, kind="svm")
    assert set(svm.predictions) == {"tumour", "normal"} and svm.probabilities is None
    with pytest.raises(ValueError, match="two different classes"):
        fit_predict_partial(X, np.where(np.arange(len(y)) < 3, 1, -1))


@pytest.mark.parametrize("method", ["kmeans", "gmm"])
def test_clustering_recovers_blobs(method):
    X, y = _blobs(80, seed=4, separation=6.0)
    X = X[:150]  # 80 of class 0, 70 of class 1: label 1 = the larger cluster
    result = cluster(X, method=method, n_clusters=2)
    assert result.labels.dtype == np.uint8
    assert np.array_equal(result.labels, np.where(y[:150] == 0, 1, 2))
    if method == "gmm":
        assert result.probabilities.shape == (150, 2)


@pytest.mark.parametrize("kind", CLASSIFIERS + ("kmeans", "gmm"))
def test_model_files_round_trip(tmp_path, kind):
    X, y = _blobs(40)
    model = cluster(X, method=kind).model if kind in ("kmeans", "gmm") else train_classifier(X, y, kind=kind)
    path = save_model(model, tmp_path / "model.skops", metadata={"features": ["a", "b", "c"]})
    loaded, metadata = load_model(path, with_metadata=True)
    assert np.array_equal(loaded.predict(X), model.predict(X))
    assert metadata["features"] == ["a", "b", "c"] and "scikit-learn" in metadata["versions"]


def _rewrite_schema(path, edit):
    with zipfile.ZipFile(path) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    schema = json.loads(files["schema.json"])
    edit(schema)
    files["schema.json"] = json.dumps(schema).encode()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    path.write_bytes(out.getvalue())


def test_tampered_or_unknown_model_files_are_refused(tmp_path, monkeypatch):
    import skops.io as sio
    from sklearn.neighbors import KNeighborsClassifier

    X, y = _blobs(20)
    model = train_classifier(X, y, kind="logistic")
    path = save_model(model, tmp_path / "model.skops")

    # 1. a node turned into a call of os.system: refused before anything is built
    calls = []
    monkeypatch.setattr("os.system", lambda *a: calls.append(a))

    def to_os_system(schema):
        schema["content"]["model"]["__module__"] = "os"
        schema["content"]["model"]["__class__"] = "system"

    _rewrite_schema(path, to_os_system)
    with pytest.raises(UnsafeModelError, match="os.system"):
        load_model(path)

    # 2. a function-call loader smuggled in
    path = save_model(model, tmp_path / "model2.skops")

    def to_function(schema):
        schema["content"]["metadata"] = {
            "__class__": "eval", "__module__": "builtins", "__loader__": "FunctionNode", "content": "1"
        }

    _rewrite_schema(path, to_function)
    with pytest.raises(UnsafeModelError, match="FunctionNode"):
        load_model(path)
    assert calls == []

    # 3. a pickle is not a model file (and is never unpickled)
    pickled = tmp_path / "model.pkl"
    pickled.write_bytes(pickle.dumps(model))
    with pytest.raises(ModelFileError, match="not a skops"):
        load_model(pickled)

    # 4. a valid skops file of an estimator we do not support
    knn = tmp_path / "knn.skops"
    knn.write_bytes(sio.dumps({"format": "napari-medimg-model", "version": 1, "kind": "estimator",
                               "model": KNeighborsClassifier().fit(X, y), "metadata": "{}", "extra": "{}"}))
    with pytest.raises(UnsafeModelError, match="KNeighborsClassifier"):
        load_model(knn)
    with pytest.raises(TypeError, match="cannot save"):
        save_model(KNeighborsClassifier().fit(X, y), tmp_path / "x.skops")

    # 5. a skops file that is not ours
    other = tmp_path / "other.skops"
    other.write_bytes(sio.dumps({"weights": np.zeros(3)}))
    with pytest.raises(ModelFileError, match="not a napari-medimg model"):
        load_model(other)
