"""Generative models: training, sampling, checkpoints and the quality measures, on real PneumoniaMNIST images."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from napari_medimg.learn.checkpoint import save_checkpoint  # noqa: E402
from napari_medimg.learn.generative.data import (ImageSet, from_unit_range, intensity_range, load_npz,  # noqa: E402
                                                 patches_from_volume, resized, tile, to_unit_range)
from napari_medimg.learn.generative.fit import fit_generator  # noqa: E402
from napari_medimg.learn.generative.quality import (frechet_distance, histogram_distance,  # noqa: E402
                                                    kernel_inception_distance, max_ssim_to, precision_recall)
from napari_medimg.learn.generative.sample import (interpolate, load_generator, reconstruct, sample,  # noqa: E402
                                                   sample_labels)

CLASSES = ["normal", "pneumonia"]


@pytest.fixture(scope="module")
def pneumonia(shared_data):
    """64 real training images (32 of each class) and 24 val images."""
    npz = shared_data / "classification" / "pneumoniamnist_train_val.npz"
    train = load_npz(npz, "train", CLASSES)
    pick = np.concatenate([np.flatnonzero(train.labels == c)[:32] for c in (0, 1)])
    return ImageSet(train.images[pick], train.labels[pick], CLASSES), load_npz(npz, "val", CLASSES), npz


def test_load_npz_names_what_is_missing(tmp_path, pneumonia):
    _, _, npz = pneumonia
    with pytest.raises(ValueError, match="choose a split: train, val"):
        load_npz(npz)
    bad = tmp_path / "bad.npz"
    np.savez(bad, images=np.full((3, 8, 8), np.nan, np.float32))
    with pytest.raises(ValueError, match="NaN"):
        load_npz(bad)
    np.savez(bad, images=np.zeros((3, 8, 8)), labels=np.array([0, 1]))
    with pytest.raises(ValueError, match="2 labels for 3 images"):
        load_npz(bad)


def test_intensity_mapping_round_trips_8_bit_exactly_and_floats_by_percentiles(pneumonia):
    data, _, _ = pneumonia
    spec = intensity_range(data.images)
    assert spec == {"low": 0.0, "high": 255.0, "dtype": "uint8"}
    unit = to_unit_range(data.images, spec)
    assert unit.dtype == np.float32 and unit.shape == (64, 1, 28, 28) and unit.min() >= -1 and unit.max() <= 1
    assert np.array_equal(from_unit_range(unit, spec), data.images)
    ct = np.linspace(-1000, 1000, 4 * 16 * 16, dtype=np.float32).reshape(4, 16, 16)
    spec = intensity_range(ct)
    assert spec["dtype"] == "float32" and -1000 < spec["low"] < -980 and 980 < spec["high"] < 1000
    assert from_unit_range(to_unit_range(ct, spec), spec).dtype == np.float32


def test_patches_come_from_the_mask_at_the_size_asked():
    image = np.zeros((3, 100, 100), np.float32)
    image[1, 40:60, 40:60] = 100.0
    mask = np.zeros(image.shape, np.uint8)
    mask[1, 45:55, 45:55] = 1
    patches = patches_from_volume(image, (2.0, 0.5, 0.5), patch_mm=5.0, image_size=(8, 8), mask=mask, n=20)
    assert patches.shape == (20, 8, 8) and patches.dtype == np.float32
    assert patches.mean() > 90  # 10 px patches centred in the 20 px bright square
    with pytest.raises(ValueError, match="mask is empty"):
        patches_from_volume(image, (1, 1, 1), patch_mm=5, image_size=(8, 8), mask=np.zeros_like(mask))
    assert resized(np.zeros((2, 28, 28), np.uint8), (32, 32)).dtype == np.uint8
    assert tile(np.ones((5, 4, 4))).shape == (9, 19)


@pytest.mark.parametrize("method", ["vae", "gan", "diffusion"])
def test_each_method_trains_reproducibly_and_samples_its_classes(method, pneumonia, tmp_path):
    data, _, _ = pneumonia
    config = {"training": {"iterations": 6, "batch_size": 8}}
    seen = []
    run = fit_generator(data, method, config, seed=3, progress=lambda f, h: seen.append(f), preview_every=3,
                        log_every=2)
    again = fit_generator(data, method, config, seed=3)
    assert run.iterations == 6 and run.stopped == "iterations" and seen[-1] == 1.0
    assert np.isfinite(run.history["loss"]).all() and len(run.history["loss"]) == 3
    assert run.history["samples"].shape == (16, 28, 28)
    for a, b in zip(run.model.state_dict().values(), again.model.state_dict().values()):
        assert torch.equal(a, b)  # the same seed gives the same model
    card = run.card
    assert card["kind"] == "generator" and card["method"] == method
    assert [c["name"] for c in card["classes"]] == CLASSES and card["class_priors"] == [0.5, 0.5]
    images, labels = sample(run.model, card, 10, class_name="pneumonia", seed=1, steps=4)
    assert images.dtype == np.uint8 and images.shape == (10, 28, 28) and (labels == 1).all()
    repeat, _ = sample(run.model, card, 10, class_name="pneumonia", seed=1, steps=4)
    assert np.array_equal(images, repeat)
    path = save_checkpoint(tmp_path / f"{method}.safetensors", run.model, card)
    model, loaded = load_generator(path)
    assert np.array_equal(sample(model, loaded, 10, class_name="pneumonia", seed=1, steps=4)[0], images)


def test_cancel_stops_within_a_step_and_keeps_the_model(pneumonia):
    data, _, _ = pneumonia
    steps = []
    run = fit_generator(data, "vae", {"training": {"iterations": 1000, "batch_size": 8}},
                        progress=lambda f, h: steps.append(f), cancel=lambda: len(steps) >= 3)
    assert run.stopped == "cancelled" and run.iterations == 3 and run.card["training"]["iterations_run"] == 3
    more = fit_generator(data, "vae", {"training": {"iterations": 2, "batch_size": 8}}, resume=run)
    assert more.card["training"]["iterations_run"] == 5
    with pytest.raises(ValueError, match="as a gan model"):
        fit_generator(data, "gan", {"training": {"iterations": 1}}, resume=run)


def test_bad_settings_and_classes_are_refused(pneumonia):
    data, _, _ = pneumonia
    with pytest.raises(ValueError, match="unknown generative method"):
        fit_generator(data, "flow")
    with pytest.raises(ValueError, match="unknown training setting"):
        fit_generator(data, "vae", {"training": {"epochs": 3}})
    with pytest.raises(ValueError, match="multiples of 4"):
        fit_generator(ImageSet(np.zeros((4, 30, 30), np.uint8)), "vae")
    card = {"name": "m", "classes": [{"value": 0, "name": "a"}, {"value": 1, "name": "b"}], "class_priors": [0.9, 0.1]}
    with pytest.raises(ValueError, match="knows a, b"):
        sample_labels(card, 4, "c")
    shares = sample_labels(card, 4000, seed=0)
    assert abs((shares == 0).mean() - 0.9) < 0.02
    with pytest.raises(ValueError, match="not conditional"):
        sample_labels({"name": "u", "classes": []}, 3, "a")


def test_vae_interpolation_runs_between_the_two_reconstructions(pneumonia):
    data, _, _ = pneumonia
    run = fit_generator(data, "vae", {"training": {"iterations": 20, "batch_size": 16}})
    a, b = data.images[0], data.images[40]
    path = interpolate(run.model, run.card, a, b, 5, labels=[0, 1])
    assert path.shape == (5, 28, 28) and path.dtype == np.uint8
    ends = reconstruct(run.model, run.card, np.stack([a, b]), labels=[0, 1])
    assert np.array_equal(path[0], ends[0]) and np.array_equal(path[-1], ends[1])
    with pytest.raises(ValueError, match="takes 28x28"):
        reconstruct(run.model, run.card, np.zeros((1, 32, 32), np.uint8))


def test_ssim_to_nearest_matches_scikit_image(pneumonia):
    from skimage.metrics import structural_similarity

    data, val, _ = pneumonia
    got = max_ssim_to(val.images[:4], data.images)
    expected = [max(structural_similarity(v.astype(float), t.astype(float), data_range=255) for t in data.images)
                for v in val.images[:4]]
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert np.allclose(max_ssim_to(data.images[:3], data.images), 1.0, atol=1e-6)  # a copy is found


def test_distances_order_sets_as_they_should():
    rng = np.random.default_rng(0)
    real = rng.normal(size=(400, 16))
    same = rng.normal(size=(400, 16))
    shifted = rng.normal(size=(400, 16)) + 1.0
    narrow = rng.normal(size=(400, 16)) * 0.2  # mode collapse: realistic but little variety
    fd_same, fd_shifted = frechet_distance(real, same), frechet_distance(real, shifted)
    assert fd_same < 1.0 and abs(fd_shifted - 16.0) < 2.0  # ||mu||^2 = 16
    kid_same, kid_shifted = kernel_inception_distance(real, same, subsets=20, subset_size=200)[0], \
        kernel_inception_distance(real, shifted, subsets=20, subset_size=200)[0]
    assert abs(kid_same) < 0.05 < kid_shifted
    precision, recall = precision_recall(real, narrow)
    assert precision > 0.9 and recall < 0.3
    assert histogram_distance(np.zeros(10), np.full(10, 3.0)) == pytest.approx(3.0)


def test_a_folder_of_pictures_with_class_subfolders_is_a_conditional_set(tmp_path, pneumonia):
    from PIL import Image

    from napari_medimg.learn.generative.data import load_folder

    data, _, _ = pneumonia
    for i in (0, 1, 40):
        folder = tmp_path / CLASSES[int(data.labels[i])]
        folder.mkdir(exist_ok=True)
        Image.fromarray(data.images[i]).save(folder / f"{i}.png")
    loaded = load_folder(tmp_path, (28, 28))
    assert loaded.classes == CLASSES and loaded.labels.tolist() == [0, 0, 1]
    assert loaded.images.dtype == np.uint8 and np.array_equal(loaded.images[2], data.images[40])
    bigger = load_folder(tmp_path / "normal", (32, 32))
    assert bigger.images.shape == (2, 32, 32) and bigger.labels is None
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="no image files"):
        load_folder(empty, (8, 8))
