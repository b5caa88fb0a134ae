"""The shipped image generators: small, documented, better than their baselines, not copying their training images."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from napari_medimg.learn.checkpoint import read_card  # noqa: E402
from napari_medimg.learn.registry import MODELS_DIR, list_models, load_model, shipped_names  # noqa: E402


def test_shipped_generators_beat_their_baselines_and_do_not_copy(shared_data):
    """pneumoniamnist-generator (contract name) and pneumoniamnist-vae: small, documented, better than the
    baselines on the figures in their cards, and, checked here again on features of the shipped classifier,
    their samples are closer to the held-out val images than noise with the training images' statistics."""
    from napari_medimg.learn.generative.quality import frechet_distance, max_ssim_to
    from napari_medimg.learn.generative.sample import load_generator, sample

    assert {"pneumoniamnist-generator", "pneumoniamnist-vae"} <= set(shipped_names("generator"))
    for name in ("pneumoniamnist-generator", "pneumoniamnist-vae"):
        weights = MODELS_DIR / f"{name}.safetensors"
        assert weights.stat().st_size < 20e6
        card = read_card(weights)
        assert card["kind"] == "generator" and [c["name"] for c in card["classes"]] == ["normal", "pneumonia"]
        assert card["command"].startswith("python scripts/train_generators.py")
        assert card["training"]["licence"].startswith("CC BY 4.0") and "val split" in card["training"]["data"]
        assert (MODELS_DIR / f"{name}.md").read_text().startswith(f"# {name}")
        figures = card["validation"]["figures"][card["validation"]["chosen"]]
        for baseline in card["validation"]["baselines"].values():
            assert figures["fid_classifier"] < baseline["fid_classifier"]
        assert figures["nn_ssim_mean"] <= card["validation"]["real_floor"]["nn_ssim_mean"] + 0.02  # no copying
    rows = {row["name"]: row for row in list_models()}
    assert "Fréchet distance" in rows["pneumoniamnist-generator"]["validation"]

    with np.load(shared_data / "classification" / "pneumoniamnist_train_val.npz") as data:
        val, train = data["val_images"][:200], data["train_images"]
    model, card = load_generator("pneumoniamnist-generator")
    generated, labels = sample(model, card, 200, seed=1, steps=20)
    assert generated.shape == (200, 28, 28) and generated.dtype == np.uint8
    features, _ = load_model("pneumonia-cnn")
    from napari_medimg.learn.classify import forward_in_batches, prepare_images

    features.fc = torch.nn.Identity()  # a fresh copy (load_model), the penultimate layer's features
    info = read_card(MODELS_DIR / "pneumonia-cnn.json")["input"]

    def embed(images):
        return forward_in_batches(features, prepare_images(images, info["resize_to"], info["normalisation"])).numpy()

    rng = np.random.default_rng(0)
    noise = np.clip(train.mean(0) + train.std(0) * rng.standard_normal((200, 28, 28)), 0, 255).astype(np.uint8)
    fd_generated, fd_noise = frechet_distance(embed(generated), embed(val)), frechet_distance(embed(noise), embed(val))
    print(f"FD to val on pneumonia-cnn features: generated {fd_generated:.2f}, noise {fd_noise:.2f}")
    assert fd_generated < 0.5 * fd_noise
    assert max_ssim_to(generated[:50], train).mean() < 0.95  # new images, not copies
