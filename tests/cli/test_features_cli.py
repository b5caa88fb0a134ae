"""``napari-medimg features``: pyradiomics parameter files in, one CSV row per label out."""

from __future__ import annotations

import ast
import csv
import json
import subprocess
import sys

import pytest
import yaml

from napari_medimg import read
from napari_medimg.analysis.radiomics import extract
from napari_medimg.cli import main

RTOL = 1e-4


@pytest.fixture(scope="module")
def brain1(shared_data):
    folder = shared_data / "mr/pyradiomics"
    return str(folder / "brain1_image.nrrd"), str(folder / "brain1_label.nrrd")


@pytest.fixture(scope="module")
def prostate(shared_data):
    folder = shared_data / "mr/pyradiomics"
    image = folder / "prostate_phantom_subvolume.nrrd"
    labels = folder / "prostate_phantom_subvolume-label.nrrd"
    return str(image), str(labels)


def _baseline(shared_data, cls: str, column: str) -> tuple[dict, dict[str, float]]:
    """Settings and ``original_*`` values of one configuration column of pyradiomics' baseline."""
    with open(shared_data / "radiomics_baseline" / f"baseline_{cls}.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    index = rows[0].index(column)
    table = {row[0]: row[index] for row in rows[1:]}
    settings = ast.literal_eval(table["diagnostics_Configuration_Settings"])
    values = {k: float(v) for k, v in table.items() if k.startswith("original_")}
    return settings, values


def _read_csv(path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def _assert_matches(row: dict[str, str], expected: dict[str, float]) -> None:
    for name, ref in expected.items():
        got = float(row[name])
        assert abs(got - ref) <= RTOL * abs(ref) + 1e-12, (name, got, ref)


@pytest.mark.parametrize("column", ["brain1_FBN", "brain1_resegmentation"])
def test_config_reproduces_pyradiomics_baseline_column(shared_data, brain1, tmp_path, column, capsys):
    settings, expected = _baseline(shared_data, "glcm", column)
    config = tmp_path / "params.yaml"
    config.write_text(
        yaml.safe_dump({"imageType": {"Original": {}}, "featureClass": {"glcm": None}, "setting": settings})
    )
    out = tmp_path / "features.csv"
    assert main(["features", *brain1, "--config", str(config), "--out", str(out)]) == 0
    rows = _read_csv(out)
    assert len(rows) == 1
    row = rows[0]
    assert list(row)[:3] == ["image", "labels", "label"]
    assert (row["image"], row["labels"], row["label"]) == (*brain1, "1")
    assert set(list(row)[3:]) == set(expected)  # exactly the glcm features of the baseline
    _assert_matches(row, expected)
    assert "features: 1 row(s)" in capsys.readouterr().err


def test_defaults_without_config(shared_data, brain1, tmp_path):
    """pyradiomics defaults: binWidth 25, label 1, every class but shape2D."""
    out = tmp_path / "default.csv"
    assert main(["features", *brain1, "--out", str(out)]) == 0
    (row,) = _read_csv(out)
    classes = {name.split("_")[1] for name in list(row)[3:]}
    assert classes == {"shape", "firstorder", "glcm", "glrlm", "glszm", "gldm", "ngtdm"}
    # the baseline's "brain1" column uses binWidth 25 too; its texture values do not depend on
    # its other non-default settings (voxelArrayShift, minimumROIDimensions)
    for cls in ("glcm", "glszm"):
        _assert_matches(row, _baseline(shared_data, cls, "brain1")[1])
    # full precision: the text reads back to the very float extract() returns
    reference = extract(read(brain1[0]), read(brain1[1]), feature_classes=["firstorder"])
    for name, value in reference.items():
        assert float(row[name]) == value, name


def test_all_labels_label_override_and_json(prostate, tmp_path, capsys):
    config = tmp_path / "fo.yaml"
    config.write_text("setting:\n  binWidth: 10\n  label: 7\nfeatureClass:\n  firstorder: [Mean, Median]\n")
    out = tmp_path / "all.csv"
    assert main(["features", *prostate, "--config", str(config), "--all-labels", "--out", str(out)]) == 0
    rows = _read_csv(out)
    assert [r["label"] for r in rows] == ["1", "7", "8", "9"]
    assert list(rows[0]) == [
        "image", "labels", "label", "original_firstorder_Mean", "original_firstorder_Median",
    ]
    image, labels = read(prostate[0]), read(prostate[1])
    for r in rows:
        settings = {"binWidth": 10, "label": int(r["label"])}
        ref = extract(image, labels, settings, feature_classes=["firstorder"])
        assert float(r["original_firstorder_Mean"]) == ref["original_firstorder_Mean"]
    # the file says label 7; --label overrides it; --json prints rows as JSON to stdout
    capsys.readouterr()
    assert main(["features", *prostate, "--config", str(config), "--label", "8", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["label"] == 8 and row["original_firstorder_Mean"] == float(rows[2]["original_firstorder_Mean"])
    assert main(["features", *prostate, "--config", str(config)]) == 0  # CSV on stdout, label 7
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and lines[1].split(",")[2] == "7"


def test_errors_exit_1_with_a_clear_message(brain1, tmp_path, capsys):
    def fails(args, message):
        assert main(["features", *args]) == 1
        err = capsys.readouterr().err
        assert err.startswith("napari-medimg features: error:") and message in err, err

    fails([*brain1, "--label", "5"], "label 5 not found in the mask; labels present: 1")
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("setting:\n  binWidth: [25\n")
    fails([*brain1, "--config", str(bad_yaml)], f"cannot read the parameter file {bad_yaml}")
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text("setting:\n  binwidth: 25\n")
    fails([*brain1, "--config", str(unknown)], "unknown radiomics setting 'binwidth'")
    bad_value = tmp_path / "value.yaml"
    bad_value.write_text("setting:\n  binWidth: -3\n")
    fails([*brain1, "--config", str(bad_value)], "binWidth must be a positive number")
    bad_class = tmp_path / "class.yaml"
    bad_class.write_text("featureClass:\n  glcmm:\n")
    fails([*brain1, "--config", str(bad_class)], "unknown feature class(es) glcmm")
    wavelet = tmp_path / "wavelet.yaml"
    wavelet.write_text("imageType:\n  Original: {}\n  Wavelet: {}\n")
    fails([*brain1, "--config", str(wavelet)], "imageType Wavelet not supported")
    fails([*brain1, "--config", str(tmp_path / "missing.yaml")], "does not exist")
    fails([str(tmp_path / "missing.nrrd"), brain1[1]], "does not exist")
    with pytest.raises(SystemExit):  # argparse: --label and --all-labels exclude each other
        main(["features", *brain1, "--label", "1", "--all-labels"])


def test_features_help_loads_no_gui_or_torch():
    code = (
        "import sys\n"
        "from napari_medimg.cli import main\n"
        "try:\n"
        "    main(['features', '--help'])\n"
        "except SystemExit as exc:\n"
        "    assert exc.code == 0\n"
        "bad = [m for m in ('napari', 'qtpy', 'PyQt5', 'PyQt6', 'PySide2', 'PySide6', 'torch', 'magicgui')"
        " if m in sys.modules]\n"
        "print('LOADED', bad)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "--all-labels" in result.stdout
    assert result.stdout.strip().splitlines()[-1] == "LOADED []"
