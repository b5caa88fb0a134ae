"""The shipped models: small, with complete cards, loadable only when intact."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")

from napari_medimg.learn.checkpoint import ModelFileError, read_card  # noqa: E402
from napari_medimg.learn.registry import MODELS_DIR, list_models, load_model, shipped_names  # noqa: E402

CONTRACT = {  # name -> labels other tools rely on
    "cxr-lungs-heart": {1: "right lung", 2: "left lung", 3: "heart"},
    "busi-lesion": {1: "lesion"},
    "brats-flair-tumour": {1: "whole tumour"},
}


@pytest.mark.parametrize("name", sorted(CONTRACT))
def test_shipped_model_is_small_documented_and_loads(name):
    assert name in shipped_names()
    weights = MODELS_DIR / f"{name}.safetensors"
    assert weights.stat().st_size < 20e6
    card = read_card(weights)
    assert {c["value"]: c["name"] for c in card["classes"] if c["value"]} == CONTRACT[name]
    training, validation = card["training"], card["validation"]
    assert training["data"] and training["licence"] and training["seconds"] > 0
    assert card["command"].startswith("python scripts/train_shipped_models.py " + name)
    assert "cross-validation" in validation["method"] and len(validation["folds"]) == validation["k"] >= 3
    cases = [c for fold in validation["folds"] for c in fold["cases"]]
    assert len(cases) == len(set(cases)) == training["cases"]  # every case scored once, by a model that never saw it
    assert (MODELS_DIR / f"{name}.md").read_text().startswith(f"# {name}")
    model, loaded = load_model(name)
    assert loaded["weights"]["sha256"] == card["weights"]["sha256"] and not model.training


def test_models_summaries_name_their_figures():
    rows = {row["name"]: row for row in list_models()}
    assert set(rows) >= set(CONTRACT)
    assert all("CV" in row["validation"] for row in rows.values() if row["kind"] != "generator")


def test_an_edited_shipped_model_is_refused(tmp_path):
    for suffix in (".safetensors", ".json"):
        shutil.copy(MODELS_DIR / f"busi-lesion{suffix}", tmp_path / f"copy{suffix}")
    card = json.loads((tmp_path / "copy.json").read_text())
    card["weights"]["file"] = "copy.safetensors"
    (tmp_path / "copy.json").write_text(json.dumps(card))
    load_model(tmp_path / "copy.safetensors")  # an intact copy loads
    data = bytearray((tmp_path / "copy.safetensors").read_bytes())
    data[len(data) // 2] ^= 0x01
    (tmp_path / "copy.safetensors").write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="SHA-256"):
        load_model(tmp_path / "copy.safetensors")


def test_shipped_pneumonia_classifier_card_and_figures(shared_data):
    """pneumonia-cnn (contract: classes normal, pneumonia): 5-fold CV over train + val, each image
    scored once by a model that never saw it; the figures the issue asks for are recorded."""
    from napari_medimg.learn.classify import predict_proba

    card = read_card(MODELS_DIR / "pneumonia-cnn.json")
    assert card["kind"] == "classifier" and [c["name"] for c in card["classes"]] == ["normal", "pneumonia"]
    assert (MODELS_DIR / "pneumonia-cnn.safetensors").stat().st_size < 20e6
    validation = card["validation"]
    assert validation["k"] == 5 and sum(f["n"] for f in validation["folds"]) == card["training"]["images"] == 4406
    assert validation["mean"]["auc"] >= 0.97 and validation["mean"]["balanced_accuracy"] >= 0.9
    assert validation["mean"]["ece"] <= 0.05
    assert validation["val_split"]["trained_on"] == "train split only" and validation["val_split"]["n"] == 524
    assert card["command"] == "python scripts/train_shipped_models.py pneumonia-cnn"
    assert (MODELS_DIR / "pneumonia-cnn.md").read_text().startswith("# pneumonia-cnn")
    assert "pneumonia-cnn" not in shipped_names("segmentation") and shipped_names("classifier") == ["pneumonia-cnn"]
    model, loaded = load_model("pneumonia-cnn")
    data = np.load(shared_data / "classification" / "pneumoniamnist_train_val.npz")
    p = predict_proba(model, loaded, data["val_images"][:50])
    assert p.shape == (50, 2) and np.allclose(p.sum(1), 1.0, atol=1e-5)


def test_shipped_landmark_detector_card_and_figures():
    """cxr-landmarks: 5-fold CV over the 62 radiographs, each scored once; the errors per landmark
    and the cardiothoracic ratio's agreement with the masks are recorded (figures in its card)."""
    from napari_medimg.apps.chest_xray_landmarks import LANDMARKS

    card = read_card(MODELS_DIR / "cxr-landmarks.json")
    assert card["kind"] == "landmarks" and [c["name"] for c in card["classes"]] == list(LANDMARKS)
    assert (MODELS_DIR / "cxr-landmarks.safetensors").stat().st_size < 20e6
    validation = card["validation"]
    cases = [c for fold in validation["folds"] for c in fold["cases"]]
    assert validation["k"] == 5 and len(cases) == len(set(cases)) == card["training"]["cases"] == 62
    assert set(LANDMARKS) <= set(validation["mean"])
    # measured: mean 33.5 ± 6.2 px over folds (median 14.0 px, 90th percentile 74.7 px) on 512 x 512
    # radiographs; the cardiothoracic ratio within 0.116 of the masks' (mean absolute difference)
    assert validation["mean"]["mean_error_px"] < 40
    assert validation["pooled"]["median_error_px"] < 18
    assert validation["pooled"]["ctr_mean_abs_difference"] < 0.14
    assert card["command"] == "python scripts/train_shipped_models.py cxr-landmarks"



def test_shipped_slice_classifier_finds_the_tumour_slices_from_the_command_line(shared_data, tmp_path):
    """brain-tumour-slices (CNN + GRU) on a BraTS FLAIR, through `napari-medimg predict`: a CSV row per
    axial slice with the image classifiers' columns. The case is in the model's training data (a wiring
    check); the leave-one-patient-out F1 is in its card."""
    import csv

    from napari_medimg import read
    from napari_medimg.cli import main
    from napari_medimg.learn.sequence import f1_score, slice_targets

    card = read_card(MODELS_DIR / "brain-tumour-slices.json")
    assert card["kind"] == "slice_classifier" and [c["name"] for c in card["classes"]] == ["no tumour", "tumour"]
    assert len(card["validation"]["folds"]) == card["validation"]["k"] == 4
    folder = shared_data / "mr/brats_tumour/brats_2013_pat0001_1"
    out = tmp_path / "slices.csv"
    assert main(["predict", "brain-tumour-slices", str(folder / "Flair_subtrMeanDivStd.nii.gz"), str(out)]) == 0
    with open(out, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["image", "class", "probability", "no tumour", "tumour"] and len(rows) == 155
    assert rows[3]["image"] == "Flair_subtrMeanDivStd.nii.gz:slice[3]"
    truth = slice_targets(read(folder / "OTMultiClass.nii.gz").array)
    assert f1_score(truth, np.array([r["class"] == "tumour" for r in rows], int)) > 0.8
