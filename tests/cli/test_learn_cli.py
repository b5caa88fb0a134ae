"""napari-medimg models / predict / train, as a user types them."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import yaml
from skimage import io

pytest.importorskip("torch")
pytest.importorskip("monai")

from napari_medimg import read  # noqa: E402
from napari_medimg.cli import main  # noqa: E402
from napari_medimg.learn.registry import shipped_names  # noqa: E402

SHIPPED = ("brats-flair-tumour", "busi-lesion", "cxr-lungs-heart")


def _disc(seed, n=48):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:n, :n]
    cy, cx = rng.uniform(16, n - 16, 2)
    labels = ((yy - cy) ** 2 + (xx - cx) ** 2 < 100).astype(np.uint8)
    image = np.clip(80 + 120 * labels + rng.normal(0, 20, (n, n)), 0, 255).astype(np.uint8)
    return image, labels


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """``napari-medimg train CONFIG.yaml`` on six disc pictures listed in a CSV: the checkpoint path."""
    root = tmp_path_factory.mktemp("train")
    rows = []
    for seed in range(6):
        image, labels = _disc(seed)
        io.imsave(root / f"img{seed}.png", image, check_contrast=False)
        io.imsave(root / f"lab{seed}.png", labels, check_contrast=False)
        rows.append({"image": f"img{seed}.png", "labels": f"lab{seed}.png"})
    with open(root / "cases.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, ["image", "labels"])
        writer.writeheader()
        writer.writerows(rows)
    config = {"name": "discs", "task": "bright discs", "data": {"csv": "cases.csv"}, "output": "discs.safetensors",
              "classes": [{"value": 1, "name": "disc", "color": "#ff0000"}],
              "network": {"name": "basic_unet", "spatial_dims": 2, "features": [8, 8, 16, 32, 64, 8]},
              "input": {"resize_to": [48, 48], "normalisation": {"kind": "percentile", "low": 1, "high": 99}},
              "training": {"iterations": 40, "batch_size": 4, "lr": 0.01, "val_every": 20, "val_fraction": 0.2}}
    (root / "config.yaml").write_text(yaml.safe_dump(config))
    assert main(["train", str(root / "config.yaml"), "--out", str(root / "discs.safetensors")]) == 0
    return root / "discs.safetensors"


def test_train_writes_a_checkpoint_and_its_card(trained, capsys):
    card = json.loads(trained.with_suffix(".json").read_text())
    assert card["name"] == "discs" and card["classes"][1] == {"value": 1, "name": "disc", "color": "#ff0000"}
    assert card["training"]["iterations_run"] == 40 and card["weights"]["sha256"]
    assert card["command"].startswith("napari-medimg")


def test_predict_writes_labels_on_the_source_grid_with_class_names(trained, tmp_path, capsys):
    image, labels = _disc(42, 64)  # another size than the training pictures
    io.imsave(tmp_path / "new.png", image, check_contrast=False)
    out = tmp_path / "new_labels.png"
    assert main(["predict", str(trained), str(tmp_path / "new.png"), str(out)]) == 0
    pred = read(out)
    assert pred.array.shape == (64, 64)
    dice = 2 * ((pred.array == 1) & (labels == 1)).sum() / ((pred.array == 1).sum() + labels.sum())
    assert dice > 0.6  # a 40-step model (measured 0.9)
    assert json.loads((tmp_path / "new_labels.json").read_text())["labels"][0]["name"] == "disc"
    assert "disc" in capsys.readouterr().out
    # an existing output is kept unless --overwrite
    before = out.read_bytes()
    assert main(["predict", str(trained), str(tmp_path / "new.png"), str(out)]) == 1
    assert "exists" in capsys.readouterr().err and out.read_bytes() == before


def test_predict_a_folder_of_images_into_a_folder(trained, tmp_path):
    folder = tmp_path / "cases"
    folder.mkdir()
    for seed in range(2):
        io.imsave(folder / f"case{seed}.png", _disc(seed + 10)[0], check_contrast=False)
    assert main(["predict", str(trained), str(folder), str(tmp_path / "out")]) == 0
    assert sorted(p.name for p in (tmp_path / "out").glob("*.png")) == ["case0.png", "case1.png"]


def test_predict_refuses_a_tampered_checkpoint_and_an_unknown_model(trained, tmp_path, capsys):
    bad = tmp_path / "bad.safetensors"
    data = bytearray(trained.read_bytes())
    data[-1] ^= 1
    bad.write_bytes(bytes(data))
    card = json.loads(trained.with_suffix(".json").read_text())
    card["weights"]["file"] = "bad.safetensors"
    (tmp_path / "bad.json").write_text(json.dumps(card))
    io.imsave(tmp_path / "x.png", _disc(1)[0], check_contrast=False)
    assert main(["predict", str(bad), str(tmp_path / "x.png"), str(tmp_path / "y.png")]) == 1
    assert "SHA-256" in capsys.readouterr().err and not (tmp_path / "y.png").exists()
    assert main(["predict", "no-such-model", str(tmp_path / "x.png"), str(tmp_path / "y.png")]) == 1
    err = capsys.readouterr().err
    assert "not a shipped model" in err and "cxr-lungs-heart" in err


def test_train_reports_a_bad_config(tmp_path, capsys):
    (tmp_path / "c.yaml").write_text("name: x\nclasses: []\n")
    assert main(["train", str(tmp_path / "c.yaml")]) == 1
    assert "needs" in capsys.readouterr().err


def test_models_lists_the_shipped_models_one_per_line_name_first(capsys):
    assert tuple(shipped_names()) == SHIPPED
    assert main(["models"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split("\t")[0] for line in lines] == list(SHIPPED)
    assert all("Dice" in line for line in lines)


def test_predict_a_dicom_series_with_a_shipped_slice_model_keeps_its_geometry(shared_data, tmp_path, capsys):
    """A sagittal MR series: the axial slice model sees it turned to axial; labels come back on the series' grid."""
    series = shared_data / "dicom/mr_sag_t1_siemens_hfs/dicom"
    out = tmp_path / "tumour.nii.gz"
    assert main(["predict", "brats-flair-tumour", str(series), str(out)]) == 0
    source, labels = read(series), read(out)
    assert labels.array.shape == source.array.shape
    np.testing.assert_allclose(labels.spacing, source.spacing, rtol=1e-5)
    np.testing.assert_allclose(labels.origin, source.origin, atol=1e-3)
    np.testing.assert_allclose(labels.direction, source.direction, atol=1e-5)
    assert json.loads((tmp_path / "tumour.json").read_text())["labels"] == [
        {"value": 1, "name": "whole tumour", "color": "#e377c2"}]
