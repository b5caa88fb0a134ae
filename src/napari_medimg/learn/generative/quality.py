"""How realistic and how novel generated images are, measured by this project (nothing downloaded).

Imports torch: import this module only where generators are judged.

The measures compare a set of generated images with a set of real ones:

- **Fréchet distance** (FD) between Gaussians fitted to the two sets' features (the FID
  formula, Heusel et al. 2017) and **KID**, the unbiased squared MMD with the cubic polynomial
  kernel (Bińkowski et al. 2018), mean over random subsets. Features come from networks
  trained here on the real training images, never on the reference images: the penultimate
  layer of a normal / pneumonia ResNet classifier (``classifier``), and of a ResNet trained to
  tell how an image is rotated (0, 90, 180, 270 degrees; ``rotation``, self-supervised). Rankings
  can move with the feature network, so both are reported.
- **Precision and recall** of the generated against the real feature distribution (k-nearest-
  neighbour balls, Kynkäänniemi et al. 2019, k = 3): precision is the share of generated images
  that fall in the real images' manifold (realism); recall the share of real images covered by
  the generated ones (variety).
- **Memorisation**: each generated image's highest SSIM to any training image (SSIM as in
  scikit-image: 7x7 uniform window, sample covariance, data range 255). A generator that copies
  its training images scores above real held-out images do.
- **Histogram distance**: the Wasserstein-1 distance between the grey-level distributions, in grey levels.
- **Class fidelity** (conditional models): the share of generated images the classifier puts in
  the class they were generated for.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["frechet_distance", "kernel_inception_distance", "precision_recall", "max_ssim_to", "histogram_distance",
           "FeatureNetwork", "train_feature_network", "quality_scores", "evaluate_generators"]


# ============================================================================ distances between feature sets
def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to feature sets ``a`` (N, D) and ``b`` (M, D).

    float64 here on purpose: covariances of a few hundred features, not images.
    """
    from scipy import linalg

    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root, _ = linalg.sqrtm(cov_a @ cov_b, disp=False)
    if not np.isfinite(root).all():  # nearly singular product: regularise (as the reference FID code does)
        eps = np.eye(len(cov_a)) * 1e-6
        root = linalg.sqrtm((cov_a + eps) @ (cov_b + eps))
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2.0 * np.trace(root.real))


def kernel_inception_distance(a: np.ndarray, b: np.ndarray, *, subsets: int = 100, subset_size: int = 500,
                              seed: int = 0) -> tuple[float, float]:
    """KID: unbiased squared MMD with kernel ``(x.y / D + 1) ** 3``, mean and sd over random subsets."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    m = min(subset_size, len(a), len(b))
    d = a.shape[1]
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(subsets):
        x = a[rng.choice(len(a), m, replace=False)]
        y = b[rng.choice(len(b), m, replace=False)]
        kxx, kyy, kxy = ((x @ x.T / d + 1) ** 3, (y @ y.T / d + 1) ** 3, (x @ y.T / d + 1) ** 3)
        values.append((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
                      - 2.0 * kxy.mean())
    return float(np.mean(values)), float(np.std(values))


def _kth_neighbour_radius(x: np.ndarray, k: int) -> np.ndarray:
    from scipy.spatial.distance import cdist

    return np.partition(cdist(x, x), k, axis=1)[:, k]  # the nearest (k = 0) is the point itself


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019) of ``fake`` against ``real`` features."""
    from scipy.spatial.distance import cdist

    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    r_real, r_fake = _kth_neighbour_radius(real, k), _kth_neighbour_radius(fake, k)
    d = cdist(fake, real)
    precision = float((d <= r_real[None, :]).any(axis=1).mean())
    recall = float((d <= r_fake[:, None]).any(axis=0).mean())
    return precision, recall


def max_ssim_to(images: np.ndarray, references: np.ndarray, *, data_range: float = 255.0, chunk: int = 8) -> np.ndarray:
    """Each image's highest SSIM to any of ``references`` (skimage's SSIM: 7x7 uniform window, sample covariance).

    Parameters
    ----------
    images : array (N, H, W)
    references : array (M, H, W)
        Same size as ``images``.

    Returns
    -------
    numpy.ndarray
        float32 (N,).
    """
    win, c1, c2 = 7, (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    npix = win * win
    cov_norm = npix / (npix - 1)
    ref = torch.from_numpy(np.asarray(references, np.float32))[:, None]
    mu_r = F.avg_pool2d(ref, win, stride=1)
    var_r = cov_norm * (F.avg_pool2d(ref * ref, win, stride=1) - mu_r * mu_r)
    out = np.empty(len(images), np.float32)
    with torch.no_grad():
        for start in range(0, len(images), chunk):
            x = torch.from_numpy(np.asarray(images[start:start + chunk], np.float32))[:, None]
            mu_x = F.avg_pool2d(x, win, stride=1)
            var_x = cov_norm * (F.avg_pool2d(x * x, win, stride=1) - mu_x * mu_x)
            # (chunk, M, h, w): cross terms of every image with every reference
            prod = F.avg_pool2d((x[:, None] * ref[None]).flatten(0, 1), win, stride=1).view(
                len(x), len(ref), *mu_r.shape[-2:])
            mx, mr = mu_x[:, None, 0], mu_r[None, :, 0]
            cov = cov_norm * (prod - mx * mr)
            ssim = ((2 * mx * mr + c1) * (2 * cov + c2)) / ((mx ** 2 + mr ** 2 + c1) * (var_x[:, None, 0] + var_r[None, :, 0] + c2))
            out[start:start + len(x)] = ssim.mean(dim=(2, 3)).max(dim=1).values.numpy()
    return out


def histogram_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Wasserstein-1 distance between the grey-value distributions of two image sets (in grey values)."""
    from scipy.stats import wasserstein_distance

    return float(wasserstein_distance(np.asarray(a, np.float32).ravel(), np.asarray(b, np.float32).ravel()))


# ============================================================================ feature networks
class FeatureNetwork:
    """A trained ResNet classifier used for its penultimate-layer features (and, for ``classifier``, its classes).

    Parameters
    ----------
    model : torch.nn.Module
        A ``resnet_classifier`` (:mod:`napari_medimg.learn.networks`).
    card : dict
        Its classifier card (``input`` tells how images are prepared).
    name : str
        ``classifier`` or ``rotation``.
    """

    def __init__(self, model, card: dict, name: str) -> None:
        self.model, self.card, self.name = model.eval(), card, name
        self.body = copy.deepcopy(model).eval()
        self.body.fc = torch.nn.Identity()

    def _prepared(self, images: np.ndarray) -> np.ndarray:
        from ..classify import prepare_images

        info = self.card["input"]
        return prepare_images(np.asarray(images), info["resize_to"], info["normalisation"])

    def features(self, images: np.ndarray) -> np.ndarray:
        """Penultimate-layer features (N, D) float32."""
        from ..classify import forward_in_batches

        return forward_in_batches(self.body, self._prepared(images)).numpy()

    def predict(self, images: np.ndarray) -> np.ndarray:
        """Class index of each image (calibrated probabilities of the classifier card)."""
        from ..classify import predict_proba

        return predict_proba(self.model, self.card, self._prepared(images), prepared=True).argmax(1)


def train_feature_network(images: np.ndarray, labels: np.ndarray | None, name: str, *, iterations: int = 600,
                          seed: int = 0, cache: str | os.PathLike | None = None,
                          log: Callable[[str], Any] | None = None) -> FeatureNetwork:
    """Train (or load from ``cache``) a feature network on real training images.

    Parameters
    ----------
    images : array (N, H, W)
        Real training images (never the reference images the figures are measured on).
    labels : array (N,), optional
        Classes, for ``name="classifier"``; ``rotation`` makes its own labels (each image turned
        0, 90, 180 or 270 degrees).
    name : {"classifier", "rotation"}
    iterations : int
        Training steps (64 images each).
    seed : int
    cache : path, optional
        A checkpoint file: loaded if it exists, written after training otherwise.
    log : callable, optional
        Receives a line about the training.
    """
    from ..checkpoint import load_checkpoint, save_checkpoint
    from ..classify import classifier_card, fit_classifier

    if cache is not None and Path(cache).is_file():
        model, card = load_checkpoint(cache)
        return FeatureNetwork(model, card, name)
    images = np.asarray(images)
    if name == "rotation":
        turns = np.random.default_rng(seed).integers(0, 4, len(images))
        images = np.stack([np.rot90(im, k) for im, k in zip(images, turns)])
        labels, classes, augment = turns, ["0", "90", "180", "270"], {"rotate_deg": 0.0}
    elif name == "classifier":
        if labels is None:
            raise ValueError("the classifier feature network needs the images' classes")
        classes, augment = [f"class {c}" for c in range(int(np.max(labels)) + 1)], {}
    else:
        raise ValueError(f"unknown feature network {name!r}: classifier or rotation")
    config = {"classes": classes, "augment": augment,
              "training": {"iterations": iterations, "steps_per_epoch": max(1, iterations // 6), "seed": seed}}
    model, result, calibration, cfg = fit_classifier(images, labels, config, log=log)
    card = classifier_card(cfg, result, calibration, training={"data": f"feature network {name}"})
    if cache is not None:
        save_checkpoint(cache, model, card)
    return FeatureNetwork(model, card, name)


# ============================================================================ one set against the reference
def quality_scores(generated: np.ndarray, reference: np.ndarray, training: np.ndarray, networks: list[FeatureNetwork],
                   *, labels: np.ndarray | None = None, reference_features: dict | None = None,
                   seed: int = 0) -> dict[str, float]:
    """Every measure of one image set against the reference (real held-out) images.

    Parameters
    ----------
    generated : array (N, H, W)
        In the same grey values as ``reference`` (0-255).
    reference : array (M, H, W)
        Real images the generator never saw.
    training : array (T, H, W)
        The generator's training images (for memorisation).
    networks : list of FeatureNetwork
        ``classifier`` and ``rotation`` (keys ``fid_<name>``, ``kid_<name>``).
    labels : array (N,), optional
        The class each image was generated for (class fidelity, with the ``classifier`` network).
    reference_features : dict, optional
        Cache of the reference's features per network name (filled in).
    """
    reference_features = {} if reference_features is None else reference_features
    scores: dict[str, float] = {"n": int(len(generated))}
    for net in networks:
        if net.name not in reference_features:
            reference_features[net.name] = net.features(reference)
        ref, gen = reference_features[net.name], net.features(generated)
        scores[f"fid_{net.name}"] = frechet_distance(gen, ref)
        scores[f"kid_{net.name}"], scores[f"kid_{net.name}_sd"] = kernel_inception_distance(gen, ref, seed=seed)
        if net.name == "classifier":
            scores["precision"], scores["recall"] = precision_recall(ref, gen)
            if labels is not None:
                scores["class_fidelity"] = float((net.predict(generated) == np.asarray(labels)).mean())
    nn = max_ssim_to(generated, training)
    scores["nn_ssim_mean"], scores["nn_ssim_p95"] = float(nn.mean()), float(np.percentile(nn, 95))
    scores["histogram_w1"] = histogram_distance(generated, reference)
    return scores


def _matched_labels(reference_labels: np.ndarray, n: int, seed: int) -> np.ndarray:
    """``n`` class indices in the reference's class shares (exact counts, shuffled)."""
    counts = np.bincount(reference_labels)
    per = np.floor(counts / counts.sum() * n).astype(int)
    per[np.argmax(counts)] += n - per.sum()
    labels = np.repeat(np.arange(len(counts)), per)
    return np.random.default_rng(seed).permutation(labels)


def evaluate_generators(npz: str | os.PathLike, checkpoints: dict[str, str | os.PathLike], *, n: int = 1000,
                        seed: int = 0, work: str | os.PathLike | None = None, feature_iterations: int = 600,
                        log: Callable[[str], Any] | None = None) -> dict[str, Any]:
    """Judge generators trained on an .npz's ``train`` split against its ``val`` split, beside baselines.

    Every set (each generator's samples, each baseline, and real training images as the floor)
    has ``n`` images whose classes follow the val split's shares, and is scored by
    :func:`quality_scores` against all val images.

    Baselines: Gaussian noise with each pixel's mean and sd of the training images; training
    images blurred (Gaussian, sd 1 px); the VAE's mean reconstruction of training images.

    Returns
    -------
    dict
        ``method``, ``reference``, ``models`` {name: scores}, ``baselines`` {name: scores},
        ``real_floor`` (scores of real training images), ``notes``.
    """
    from scipy import ndimage

    from .data import load_npz
    from .sample import load_generator, reconstruct, sample

    say = log or (lambda text: None)
    if work is not None:
        Path(work).mkdir(parents=True, exist_ok=True)
    train = load_npz(npz, "train")
    val = load_npz(npz, "val")
    work_dir = Path(work) if work is not None else None
    networks = [train_feature_network(train.images, train.labels, name, seed=seed, log=say, iterations=feature_iterations,
                                      cache=work_dir / f"features-{name}.safetensors" if work_dir else None)
                for name in ("classifier", "rotation")]
    labels = _matched_labels(val.labels, n, seed)
    rng = np.random.default_rng(seed)
    real_pick = np.concatenate([rng.choice(np.flatnonzero(train.labels == c), int((labels == c).sum()),
                                           replace=int((labels == c).sum()) > int((train.labels == c).sum()))
                                for c in range(len(np.bincount(val.labels)))])
    real = train.images[real_pick]
    real_labels = train.labels[real_pick]
    cache: dict = {}

    def score(images, lab=None):
        return quality_scores(images, val.images, train.images, networks, labels=lab, reference_features=cache,
                              seed=seed)

    report: dict[str, Any] = {"models": {}, "baselines": {}}
    report["real_floor"] = score(real, real_labels)
    # training images are their own nearest neighbours: the memorisation level of real images is that of
    # held-out images against the training images
    held_out = max_ssim_to(val.images, train.images)
    report["real_floor"]["nn_ssim_mean"] = float(held_out.mean())
    report["real_floor"]["nn_ssim_p95"] = float(np.percentile(held_out, 95))
    say(f"real training images: {report['real_floor']}")
    mean = train.images.astype(np.float32).mean(0)
    sd = train.images.astype(np.float32).std(0)
    noise = np.clip(np.rint(mean + sd * rng.standard_normal((n, *mean.shape)).astype(np.float32)), 0, 255).astype(np.uint8)
    report["baselines"]["gaussian_noise"] = score(noise)
    blurred = np.stack([np.clip(np.rint(ndimage.gaussian_filter(im.astype(np.float32), 1.0)), 0, 255).astype(np.uint8)
                        for im in real])
    report["baselines"]["blurred_real"] = score(blurred, real_labels)
    for method, path in checkpoints.items():
        model, card = load_generator(path)
        images, _ = sample(model, card, n, labels=labels, seed=seed)
        report["models"][method] = score(images, labels)
        report["models"][method]["training_seconds"] = card.get("training", {}).get("seconds")
        report["models"][method]["training_steps"] = card.get("training", {}).get("iterations_run")
        say(f"{method}: {report['models'][method]}")
        if method == "vae":
            recon = reconstruct(model, card, real, real_labels)
            report["baselines"]["vae_reconstruction"] = score(recon, real_labels)
    report["method"] = (f"{n} images per set, classes in the val split's shares; measured against all "
                        f"{len(val)} val images, which no generator and no feature network saw; feature networks "
                        "(a normal/pneumonia ResNet and a rotation-predicting ResNet, penultimate layer) trained on "
                        "the train split only; KID mean over 100 subsets of 500")
    report["reference"] = {"images": len(val), "split": "val", "class_counts": val.class_counts()}
    report["notes"] = ["real floor: the same measures for real training images, the best a generator can expect (the "
                       "feature networks saw these images, which flatters them a little); its NN-SSIM is that of the "
                       "val images to the training images: how close new real images come to the training set, the "
                       "level above which a generator would be copying its training images"]
    return report
