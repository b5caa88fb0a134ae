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

SHIPPED = ("brain-tumour-slices", "brats-flair-tumour", "busi-lesion", "busi-lesion-click", "cxr-landmarks", "cxr-lungs-heart", "pneumonia-cnn",
           "pneumoniamnist-generator", "pneumoniamnist-vae")


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
    by_name = {line.split("\t")[0]: line for line in lines}
    assert all("Dice" in by_name[name] for name in ("brats-flair-tumour", "busi-lesion", "cxr-lungs-heart"))
    assert "accuracy" in by_name["pneumonia-cnn"] and "AUC" in by_name["pneumonia-cnn"]
    assert "F1 of the tumour slices" in by_name["brain-tumour-slices"] and "CV by patient" in by_name["brain-tumour-slices"]
    assert "mean error" in by_name["cxr-landmarks"] and "cardiothoracic ratio" in by_name["cxr-landmarks"]
    assert all("Fréchet distance" in by_name[name] and "KID" in by_name[name]
               for name in ("pneumoniamnist-generator", "pneumoniamnist-vae"))


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


# ---------------------------------------------------------------------------- classifiers
CSV_COLUMNS = ["image", "class", "probability", "normal", "pneumonia"]


@pytest.fixture(scope="module")
def pneumonia(shared_data):
    data = np.load(shared_data / "classification" / "pneumoniamnist_train_val.npz")
    return data["val_images"], data["val_labels"][:, 0].astype(np.int64)


def _rows(path):
    with open(path, newline="") as handle:
        reader = csv.reader(handle)
        return next(reader), list(reader)


def test_predict_a_folder_of_pngs_with_the_shipped_classifier(pneumonia, tmp_path, capsys):
    """The contract: ``predict pneumonia-cnn FOLDER_OF_PNGS OUT.csv``, one row per image. The
    val images were in the shipped model's training data: this checks the table, not the model."""
    images, labels = pneumonia
    folder = tmp_path / "pngs"
    folder.mkdir()
    for i in range(12):
        io.imsave(folder / f"cxr{i:02d}.png", images[i], check_contrast=False)
    (folder / "notes.txt").write_text("not an image")
    out = tmp_path / "classes.csv"
    assert main(["predict", "pneumonia-cnn", str(folder), str(out), "--saliency", str(tmp_path / "maps")]) == 0
    header, rows = _rows(out)
    assert header == CSV_COLUMNS
    assert [r[0] for r in rows] == [f"cxr{i:02d}.png" for i in range(12)]
    for name, cls, probability, p_normal, p_pneumonia in rows:
        p = np.array([float(p_normal), float(p_pneumonia)])
        assert p.sum() == pytest.approx(1.0, abs=2e-6)
        assert cls == ["normal", "pneumonia"][int(p.argmax())] and float(probability) == pytest.approx(p.max())
    predicted = np.array([r[1] == "pneumonia" for r in rows])
    assert np.mean(predicted == labels[:12].astype(bool)) >= 10 / 12
    maps = sorted((tmp_path / "maps").glob("*.png"))
    assert [m.name for m in maps] == [f"cxr{i:02d}.saliency.png" for i in range(12)]
    assert io.imread(maps[0]).shape == (28, 28)
    # the output exists now: a second run refuses to overwrite it
    assert main(["predict", "pneumonia-cnn", str(folder), str(out)]) == 1
    assert "exists" in capsys.readouterr().err


def test_predict_an_npz_stack_and_refuse_wrong_outputs(pneumonia, tmp_path, capsys):
    images, labels = pneumonia
    np.savez(tmp_path / "stack.npz", scans=images[:5], labels=labels[:5])
    out = tmp_path / "stack.csv"
    assert main(["predict", "pneumonia-cnn", str(tmp_path / "stack.npz"), str(out)]) == 0
    _, rows = _rows(out)
    assert [r[0] for r in rows] == [f"stack.npz:scans[{i}]" for i in range(5)]  # the labels array is not an image
    assert main(["predict", "pneumonia-cnn", str(tmp_path / "stack.npz"), str(tmp_path / "x.png")]) == 1
    assert "CSV" in capsys.readouterr().err
    np.savez(tmp_path / "flat.npz", values=np.arange(5))
    assert main(["predict", "pneumonia-cnn", str(tmp_path / "flat.npz"), str(tmp_path / "y.csv")]) == 1
    assert "no image stack" in capsys.readouterr().err and not (tmp_path / "y.csv").exists()


def test_train_a_classifier_from_a_csv_and_predict_with_it(pneumonia, tmp_path, capsys):
    images, labels = pneumonia
    rng = np.random.default_rng(0)
    pick = np.concatenate([rng.choice(np.flatnonzero(labels == k), 30, replace=False) for k in (0, 1)])
    rows = []
    for i in pick:
        io.imsave(tmp_path / f"im{i}.png", images[i], check_contrast=False)
        rows.append({"image": f"im{i}.png", "class": ["normal", "pneumonia"][labels[i]]})
    with open(tmp_path / "tags.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, ["image", "class"])
        writer.writeheader()
        writer.writerows(rows)
    config = {"kind": "classifier", "name": "tiny-pneumonia", "data": {"csv": "tags.csv"},
              "training": {"iterations": 20, "batch_size": 16, "steps_per_epoch": 10}}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    assert main(["train", str(tmp_path / "c.yaml"), "--out", str(tmp_path / "tiny.safetensors")]) == 0
    card = json.loads((tmp_path / "tiny.json").read_text())
    assert card["kind"] == "classifier" and [c["name"] for c in card["classes"]] == ["normal", "pneumonia"]
    assert card["training"]["iterations_run"] == 20 and set(card["calibration"]) >= {"temperature", "bias"}
    assert main(["predict", str(tmp_path / "tiny.safetensors"), str(tmp_path / f"im{pick[0]}.png"),
                 str(tmp_path / "one.csv")]) == 0
    header, rows = _rows(tmp_path / "one.csv")
    assert header == CSV_COLUMNS and len(rows) == 1


def test_predict_landmarks_writes_world_coordinates(shared_data, tmp_path):
    """A detector's CSV: one row per landmark, world mm of the image's grid (a picture, which has
    no spacing: 1 mm pixels from the origin), confidence and class."""
    from napari_medimg.apps.chest_xray_landmarks import LANDMARKS

    source = shared_data / "xray/cxr_lungs_covid/images/002.png"
    out = tmp_path / "landmarks.csv"
    assert main(["predict", "cxr-landmarks", str(source), str(out)]) == 0
    header, rows = _rows(out)
    assert header == ["image", "class", "confidence", "y_mm", "x_mm", "row", "col"]
    assert [r[1] for r in rows] == list(LANDMARKS)
    values = np.array([[float(v) for v in r[2:]] for r in rows])
    assert ((values[:, 0] > 0) & (values[:, 0] <= 1)).all()
    np.testing.assert_allclose(values[:, 1:3], values[:, 3:5], atol=0.01)  # 1 mm pixels from the origin
    assert main(["predict", "cxr-landmarks", str(source), str(tmp_path / "x.png")]) == 1
