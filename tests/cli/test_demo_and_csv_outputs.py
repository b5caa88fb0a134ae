"""The demo and write_csv never overwrite silently and never leave a partial file."""

from __future__ import annotations

import contextlib
import json

import numpy as np
import pytest

from napari_medimg import demo
from napari_medimg.analysis.measure import write_csv
from napari_medimg.cli import main
from napari_medimg.io.errors import ImageWriteError


# ---------------------------------------------------------------- write_csv
def test_write_csv_round_trip_and_refuses_to_overwrite_when_asked(tmp_path):
    path = tmp_path / "sub" / "table.csv"
    assert write_csv({"label": [1, 2], "volume_ml": [0.5, float("nan")]}, path) == path
    assert path.read_text() == "label,volume_ml\n1,0.5\n2,nan\n"
    with pytest.raises(ImageWriteError, match=r"table\.csv already exists; choose another name"):
        write_csv({"label": [3]}, path, overwrite=False)
    assert path.read_text() == "label,volume_ml\n1,0.5\n2,nan\n"
    write_csv({"label": [3]}, path)  # overwrite=True by default, as before
    assert path.read_text() == "label\n3\n"


def test_failed_write_csv_keeps_the_previous_file_and_leaves_nothing(tmp_path):
    class Unprintable:
        def __str__(self):
            raise RuntimeError("cannot format")

    path = tmp_path / "table.csv"
    write_csv({"a": [1]}, path)
    with pytest.raises(RuntimeError, match="cannot format"):
        write_csv({"a": [1, Unprintable()]}, path)  # fails after the header row is written
    assert path.read_text() == "a\n1\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["table.csv"]  # no partial, no temp


# ---------------------------------------------------------------- demo
@pytest.fixture
def quick_demo(monkeypatch):
    """The headless demo with a stand-in pipeline and no Xvfb: only its file handling runs."""
    from napari_medimg._napari import virtual_display as display

    def pipeline(ct):
        return {"smoothed": ct, "lungs": ct.__class__(
            (ct.array > -400).astype(np.uint8), ct.spacing, ct.origin, ct.direction)}

    @contextlib.contextmanager
    def no_display(*args, **kwargs):
        raise RuntimeError("no Xvfb in this test")
        yield  # pragma: no cover

    monkeypatch.setattr(demo, "lung_pipeline", pipeline)
    monkeypatch.setattr(demo, "_nodule_measurements", lambda ct, nodule: {"stand_in": 1.0})
    monkeypatch.setattr(display, "virtual_display", no_display)
    monkeypatch.setattr(display, "has_display", lambda: False)


def test_demo_default_folder_runs_twice(quick_demo, tmp_path, monkeypatch, capsys):
    """The README's command, run again, replaces the demo's own results in ./medimg-demo."""
    monkeypatch.chdir(tmp_path)
    assert main(["demo", "--gui", "no"]) == 1  # 1: no picture (no Xvfb here), results written
    summary = tmp_path / "medimg-demo" / "summary.json"
    summary.write_text("stale")
    (tmp_path / "medimg-demo" / "chest_ct_lungs.nii.gz").write_bytes(b"stale")
    (tmp_path / "medimg-demo" / "chest_ct_demo.png").write_bytes(b"stale picture")
    assert main(["demo", "--gui", "no"]) == 1
    assert not (tmp_path / "medimg-demo" / "chest_ct_demo.png").exists()  # not passed off as this run's
    assert "no Xvfb in this test" in json.loads(summary.read_text())["picture_error"]
    assert json.loads(summary.read_text())["nodule"] == {"stand_in": 1.0}
    assert (tmp_path / "medimg-demo" / "chest_ct_lungs.nii.gz").read_bytes()[:2] == b"\x1f\x8b"
    assert "already exists" not in capsys.readouterr().err


def test_demo_out_dir_refuses_existing_results_unless_overwrite(quick_demo, tmp_path, capsys):
    out = tmp_path / "results"
    out.mkdir()
    (out / "chest_ct_lungs.nii.gz").write_bytes(b"mine")
    assert main(["demo", "--gui", "no", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert f"{out / 'chest_ct_lungs.nii.gz'} already exists" in err and "--overwrite" in err
    assert sorted(p.name for p in out.iterdir()) == ["chest_ct_lungs.nii.gz"]  # refused before any work
    assert (out / "chest_ct_lungs.nii.gz").read_bytes() == b"mine"
    assert main(["demo", "--gui", "no", "--out", str(out), "--overwrite"]) == 1
    assert (out / "chest_ct_lungs.nii.gz").read_bytes()[:2] == b"\x1f\x8b"
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["chest_ct_smoothed.nii.gz", "chest_ct_lungs.nii.gz", "summary.json"]
    )


def test_run_demo_refuses_by_default_in_the_library(quick_demo, tmp_path):
    (tmp_path / "summary.json").write_text("{}")
    with pytest.raises(ImageWriteError, match="summary.json already exists"):
        demo.run_demo(tmp_path, gui="no")
