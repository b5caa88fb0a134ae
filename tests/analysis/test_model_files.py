"""Model files are checked before anything predicts with them: structure, shapes, archive sizes."""

from __future__ import annotations

import io
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from napari_medimg.analysis import _archive
from napari_medimg.analysis.model_check import check_estimator_structure
from napari_medimg.analysis.model_io import ModelFileError, load_model, save_model

X = np.random.default_rng(0).normal(size=(60, 4))
Y = np.arange(60) % 3


def _rewrite_members(path: Path, out: Path, edit) -> None:
    """Copy a skops archive, passing every .npy member through ``edit(array) -> array | None``."""
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename.endswith(".npy"):
                array = np.load(io.BytesIO(data), allow_pickle=False)
                changed = edit(array)
                if changed is not None:
                    buffer = io.BytesIO()
                    np.save(buffer, changed, allow_pickle=False)
                    data = buffer.getvalue()
            target.writestr(info.filename, data)


def _forest_file(tmp_path: Path) -> Path:
    path = tmp_path / "forest.skops"
    save_model(RandomForestClassifier(n_estimators=3, random_state=0).fit(X, Y), path)
    return path


def _edit_nodes(field: str, value) -> callable:
    done = []

    def edit(array):
        if array.dtype.names and field in array.dtype.names and not done:
            array = array.copy()
            inner = np.flatnonzero(array["left_child"] != -1)
            array[field][inner[0]] = value
            done.append(True)
            return array
        return None

    return edit


def _edit_both_children(value) -> callable:
    def edit(array):
        if array.dtype.names and "left_child" in array.dtype.names:
            array = array.copy()
            array["left_child"][0] = array["right_child"][0] = value  # the root: every sample goes there
            return array
        return None

    return edit


def test_valid_models_load_and_predict(tmp_path):
    for model in (
        make_pipeline(StandardScaler(), SVC()).fit(X, Y),
        make_pipeline(StandardScaler(), RandomForestClassifier(n_estimators=4, random_state=0)).fit(X, Y),
        make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(X, Y),
    ):
        save_model(model, tmp_path / "m.skops")
        loaded = load_model(tmp_path / "m.skops")
        np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_forest_with_out_of_range_tree_index_is_refused_before_predict(tmp_path):
    """Regression: this file used to pass load_model and kill the process in predict."""
    bad = tmp_path / "bad_forest.skops"
    _rewrite_members(_forest_file(tmp_path), bad, _edit_both_children(2**40))
    script = textwrap.dedent(
        f"""
        import numpy as np
        from napari_medimg.analysis.model_io import ModelFileError, load_model
        try:
            model = load_model({str(bad)!r})
        except ModelFileError as exc:
            print("REFUSED", exc)
        else:
            model.predict(np.zeros((5, 4)))  # would read outside the node array
            print("PREDICTED")
        """
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, f"the process died ({run.returncode}): {run.stderr[-1000:]}"
    assert "REFUSED bad_forest.skops holds a damaged or edited model (RandomForestClassifier" in run.stdout
    assert "child indices out of range" in run.stdout


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("right_child", 0, "child indices out of range"),  # back to the root: a cycle
        ("feature", 99, "split feature index out of range"),
        ("threshold", np.nan, "threshold is NaN"),
    ],
)
def test_other_broken_trees_are_refused(tmp_path, field, value, message):
    bad = tmp_path / "bad.skops"
    _rewrite_members(_forest_file(tmp_path), bad, _edit_nodes(field, value))
    with pytest.raises(ModelFileError, match=f"bad.skops holds a damaged.*{message}"):
        load_model(bad)


def test_a_shared_child_is_not_a_tree():
    forest = RandomForestClassifier(n_estimators=1, random_state=0).fit(X, Y)
    tree = forest.estimators_[0].tree_
    state = tree.__getstate__()
    nodes = state["nodes"].copy()
    inner = np.flatnonzero(nodes["left_child"] != -1)
    nodes["right_child"][inner[0]] = nodes["left_child"][inner[0]]
    tree.__setstate__({**state, "nodes": nodes})
    with pytest.raises(ValueError, match="reached twice or never"):
        check_estimator_structure(forest, "x.skops", ValueError)


def test_svm_with_inconsistent_support_counts_is_refused(tmp_path):
    model = SVC().fit(X, Y)
    model._n_support = model._n_support + np.array([5, 0, 0], model._n_support.dtype)
    with pytest.raises(ValueError, match="support counts .* do not add up"):
        check_estimator_structure(model, "svm.skops", ValueError)
    model = SVC().fit(X, Y)
    model.support_vectors_ = model.support_vectors_[:, :3]
    with pytest.raises(ValueError, match=r"support_vectors_ has shape \(\d+, 3\), expected \(n, 4\)"):
        check_estimator_structure(model, "svm.skops", ValueError)


def test_logistic_and_pipeline_shapes_are_checked():
    model = LogisticRegression(max_iter=500).fit(X, Y)
    model.coef_ = model.coef_[:, :2]
    with pytest.raises(ValueError, match=r"coef_ has shape \(3, 2\)"):
        check_estimator_structure(model, "lr.skops", ValueError)
    pipeline = make_pipeline(StandardScaler().fit(X[:, :3]), LogisticRegression(max_iter=500).fit(X, Y))
    with pytest.raises(ValueError, match="takes 4 features but the step before gives 3"):
        check_estimator_structure(pipeline, "p.skops", ValueError)


def test_archive_sizes_are_capped_before_unpacking(tmp_path, monkeypatch):
    path = _forest_file(tmp_path)
    monkeypatch.setattr(_archive, "MAX_MEMBER_BYTES", 100)
    with pytest.raises(ModelFileError, match="forest.skops: archive member .* would unpack to"):
        load_model(path)
    monkeypatch.setattr(_archive, "MAX_MEMBER_BYTES", 1 << 30)
    monkeypatch.setattr(_archive, "MAX_MEMBERS", 3)
    with pytest.raises(ModelFileError, match="holds \\d+ archive members"):
        load_model(path)


def test_a_zip_bomb_member_is_refused_without_inflating_it(tmp_path, monkeypatch):
    monkeypatch.setattr(_archive, "MAX_MEMBER_BYTES", 64 << 20)  # the real cap is 1 GiB; keep the test fast
    bomb = tmp_path / "bomb.skops"
    schema = '{"__class__": "dict", "__module__": "builtins", "__loader__": "DictNode", "content": {}}'
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("schema.json", schema)
        with archive.open("big.npy", "w") as member:
            for _ in range(5):  # 80 MiB of zeros, 80 kB on disk
                member.write(bytes(16 << 20))
    assert bomb.stat().st_size < 1 << 20
    with pytest.raises(ModelFileError, match="big.npy' would unpack to 0.1 GiB"):
        load_model(bomb)


def test_pixel_classifier_npz_sizes_are_capped(tmp_path, monkeypatch):
    from napari_medimg.analysis.pixel_classifier import PixelClassifier

    image = np.random.default_rng(0).normal(size=(2, 16, 16)).astype(np.float32)
    scribbles = np.zeros(image.shape, np.uint8)
    scribbles[0, :4] = 1
    scribbles[0, -4:] = 2
    classifier = PixelClassifier(n_estimators=2, scales_mm=(1.0,)).fit(image, scribbles, spacing=(1.0, 1.0, 1.0))
    path = tmp_path / "clf.npz"
    classifier.save(path)
    assert PixelClassifier.load(path).n_estimators == 2
    monkeypatch.setattr(_archive, "MAX_TOTAL_BYTES", 10)
    with pytest.raises(ModelFileError, match="clf.npz is not a valid .* the archive would unpack to"):
        PixelClassifier.load(path)
