"""The shipped models: small, with complete cards, loadable only when intact."""

from __future__ import annotations

import json
import shutil

import pytest

pytest.importorskip("torch")
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
    assert all("CV" in row["validation"] for row in rows.values())


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
