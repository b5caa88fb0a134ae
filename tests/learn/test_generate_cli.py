"""``napari-medimg generate``: N images from a generator into an .npz, safely."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from napari_medimg.cli import main  # noqa: E402
from napari_medimg.learn.checkpoint import save_checkpoint  # noqa: E402
from napari_medimg.learn.generative.data import load_npz  # noqa: E402
from napari_medimg.learn.generative.fit import fit_generator  # noqa: E402


@pytest.fixture(scope="module")
def tiny_generator(shared_data, tmp_path_factory):
    data = load_npz(shared_data / "classification" / "pneumoniamnist_train_val.npz", "val", ["normal", "pneumonia"])
    run = fit_generator(data, "gan", {"training": {"iterations": 3, "batch_size": 8}})
    return save_checkpoint(tmp_path_factory.mktemp("gen") / "tiny.safetensors", run.model, run.card)


def test_generate_writes_images_labels_and_class_names(tiny_generator, tmp_path, capsys):
    out = tmp_path / "samples.npz"
    assert main(["generate", str(tiny_generator), "--n", "12", "--out", str(out), "--class", "normal",
                 "--seed", "4"]) == 0
    with np.load(out) as written:
        assert written["images"].shape == (12, 28, 28) and written["images"].dtype == np.uint8
        assert (written["labels"] == 0).all() and list(written["classes"]) == ["normal", "pneumonia"]
        first = written["images"].copy()
    printed = capsys.readouterr().out
    assert "12 images of 28x28" in printed and "generate: 100 %" in printed
    # existing output kept unless --overwrite; the same seed gives the same images
    assert main(["generate", str(tiny_generator), "--n", "12", "--out", str(out)]) != 0
    assert "exists" in capsys.readouterr().err
    assert main(["generate", str(tiny_generator), "--n", "12", "--out", str(out), "--class", "normal", "--seed", "4",
                 "--overwrite"]) == 0
    with np.load(out) as written:
        assert np.array_equal(written["images"], first)


def test_generate_refuses_what_it_cannot_do(tiny_generator, tmp_path, capsys):
    out = tmp_path / "x.npz"
    assert main(["generate", str(tiny_generator), "--n", "2", "--out", str(out), "--class", "fracture"]) != 0
    assert "knows normal, pneumonia" in capsys.readouterr().err and not out.exists()
    assert main(["generate", "cxr-lungs-heart", "--n", "2", "--out", str(out)]) != 0
    assert "not an image generator" in capsys.readouterr().err
    assert main(["generate", str(tiny_generator), "--n", "2", "--out", str(tmp_path / "x.png")]) != 0
    assert ".npz" in capsys.readouterr().err
    assert main(["predict", str(tiny_generator), str(tmp_path / "in.png"), str(tmp_path / "out.png")]) != 0
    assert "napari-medimg generate" in capsys.readouterr().err


def test_diffusion_sampling_reports_every_step_and_cancels_between_steps(shared_data):
    """A batch of a diffusion model is many steps: progress moves after each one (the bar of a
    5,000-image run moved only after its first 256 images before), and Cancel acts between steps."""
    from napari_medimg.learn.generative.sample import sample
    from napari_medimg.progress import OperationCancelled

    data = load_npz(shared_data / "classification" / "pneumoniamnist_train_val.npz", "val", ["normal", "pneumonia"])
    run = fit_generator(data, "diffusion", {"training": {"iterations": 2, "batch_size": 4}})
    fractions = []
    images, _ = sample(run.model, run.card, 6, steps=5, batch_size=4, progress=fractions.append)
    assert images.shape == (6, 28, 28)
    assert len(fractions) >= 8 and fractions == sorted(fractions) and fractions[-1] == 1.0
    assert 0 < fractions[0] < 4 / 6  # within the first batch
    calls = []
    with pytest.raises(OperationCancelled):
        sample(run.model, run.card, 6, steps=5, batch_size=4, cancel=lambda: calls.append(1) or len(calls) > 3)
    assert len(calls) == 4  # stopped at the third step of the first batch
