"""Landmark detection: a heat-map U-Net whose peaks are named anatomical points, with confidences.

Imports torch: import this module only where a landmark model is trained or applied.

Each landmark is one output channel of a MONAI U-Net applied to the whole image brought to one
size (:func:`.classify.prepare_images`). The channel's spatial softmax is trained towards a
gaussian around the landmark (a cross-entropy between distributions, so the network learns
where the point is and how sure it is); a landmark missing from a training image is left out of
the loss. The decoded point is the softmax-weighted centre of the peak's neighbourhood (below
the network's pixel), and its confidence the probability mass there (0 to 1). A part of the
training images is held out (:func:`fit_landmarks`) to keep the weights with the lowest mean
error; :func:`cross_validate_landmarks` reports errors on images no fold model saw.

Card fields: ``kind: "landmarks"``, ``classes`` ``[{value, name}]`` (one per landmark, in
channel order), ``input {resize_to, normalisation}``, ``heatmap {sigma_px, window_px}``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .batch_augment import AugmentedBatches, augment_batch
from .classify import complete_whole_image_config, forward_in_batches, prepare_images

__all__ = ["DEFAULTS", "check_landmark_config", "heatmap_loss", "decode_heatmaps", "fit_landmarks",
           "predict_landmarks", "landmarks_on_volume", "landmark_errors", "cross_validate_landmarks", "landmark_card"]

#: Settings of a landmark detector (a config overrides any of them, section by section).
DEFAULTS: dict[str, Any] = {
    "network": {"name": "basic_unet", "spatial_dims": 2, "in_channels": 1, "features": [8, 16, 32, 64, 128, 8]},
    "input": {"resize_to": [160, 160], "normalisation": {"kind": "percentile", "low": 0.5, "high": 99.5}},
    "augment": {"rotate_deg": 8.0, "scale": 0.1, "shift": 0.05, "intensity_scale": 0.2, "intensity_shift": 0.1,
                "noise": 0.02},
    "flip_axes": [],
    # gaussian target's sd and the decoding window's half-width, in the network's pixels
    "heatmap": {"sigma_px": 2.0, "window_px": 3},
    "training": {"iterations": 600, "batch_size": 8, "steps_per_epoch": 50, "lr": 3e-3, "weight_decay": 1e-4,
                 "warmup": 30, "val_fraction": 0.15, "seed": 0},
}


def check_landmark_config(config: dict[str, Any] | None) -> dict[str, Any]:
    """A landmark detector's config completed with :data:`DEFAULTS` and checked (``classes`` names the landmarks)."""
    cfg = complete_whole_image_config(config, DEFAULTS, "landmark detector", "val_fraction")
    if float(cfg["heatmap"]["sigma_px"]) <= 0 or int(cfg["heatmap"]["window_px"]) < 1:
        raise ValueError(f"heatmap sigma_px must be > 0 and window_px >= 1, got {cfg['heatmap']}")
    return cfg


# ============================================================================ heat maps
def heatmap_loss(logits: torch.Tensor, points: torch.Tensor, sigma: float) -> torch.Tensor:
    """Cross-entropy between each channel's spatial softmax and a gaussian at its landmark.

    Parameters
    ----------
    logits : torch.Tensor
        ``(B, K, H, W)``.
    points : torch.Tensor
        ``(B, K, 2)`` (row, col) in the logits' pixels; NaN for a landmark not given (left out).
    sigma : float
        The gaussian's sd in pixels.
    """
    b, k, h, w = logits.shape
    valid = torch.isfinite(points).all(-1)
    if not valid.any():
        return logits.sum() * 0.0
    rows = torch.arange(h, dtype=logits.dtype, device=logits.device)
    cols = torch.arange(w, dtype=logits.dtype, device=logits.device)
    p = torch.nan_to_num(points)
    dy = (rows[None, None, :] - p[..., 0:1]) ** 2  # (B, K, H)
    dx = (cols[None, None, :] - p[..., 1:2]) ** 2  # (B, K, W)
    target = torch.exp(-(dy[..., :, None] + dx[..., None, :]) / (2 * sigma ** 2))
    target = target / target.sum(dim=(-2, -1), keepdim=True).clamp(min=1e-12)
    log_p = torch.log_softmax(logits.reshape(b, k, -1), -1).reshape(b, k, h, w)
    per_point = -(target * log_p).sum(dim=(-2, -1))
    return per_point[valid].mean()


def decode_heatmaps(logits: torch.Tensor, window: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Points and confidences from heat-map logits.

    Parameters
    ----------
    logits : torch.Tensor
        ``(B, K, H, W)``.
    window : int
        Half-width of the neighbourhood of the peak whose centre of probability is the point.

    Returns
    -------
    points : numpy.ndarray
        ``(B, K, 2)`` (row, col) in the logits' pixels (sub-pixel).
    confidence : numpy.ndarray
        ``(B, K)`` the probability mass within the neighbourhood (0 to 1).
    """
    b, k, h, w = logits.shape
    prob = torch.softmax(logits.float().reshape(b, k, -1), -1).reshape(b, k, h, w)
    peak = prob.reshape(b, k, -1).argmax(-1)
    peak_r, peak_c = peak // w, peak % w
    offsets = torch.arange(-window, window + 1)
    rr = (peak_r[..., None] + offsets).clamp(0, h - 1)  # (B, K, 2w+1)
    cc = (peak_c[..., None] + offsets).clamp(0, w - 1)
    inside_r = ((peak_r[..., None] + offsets) >= 0) & ((peak_r[..., None] + offsets) < h)
    inside_c = ((peak_c[..., None] + offsets) >= 0) & ((peak_c[..., None] + offsets) < w)
    bi = torch.arange(b)[:, None, None, None]
    ki = torch.arange(k)[None, :, None, None]
    patch = prob[bi, ki, rr[..., :, None], cc[..., None, :]]  # (B, K, 2w+1, 2w+1)
    patch = patch * (inside_r[..., :, None] & inside_c[..., None, :])
    mass = patch.sum(dim=(-2, -1))
    row = (patch * rr[..., :, None].to(patch.dtype)).sum(dim=(-2, -1)) / mass.clamp(min=1e-12)
    col = (patch * cc[..., None, :].to(patch.dtype)).sum(dim=(-2, -1)) / mass.clamp(min=1e-12)
    return torch.stack([row, col], -1).cpu().numpy(), mass.cpu().numpy()


# ============================================================================ data
def _to_network(points: np.ndarray, shapes: np.ndarray, size) -> np.ndarray:
    """Pixel (row, col) of each image -> the network's pixels (pixel centres kept aligned)."""
    factor = np.asarray(size, float)[None, None, :] / shapes[:, None, :]
    return (points + 0.5) * factor - 0.5


def _from_network(points: np.ndarray, shapes: np.ndarray, size) -> np.ndarray:
    factor = shapes[:, None, :] / np.asarray(size, float)[None, None, :]
    return (points + 0.5) * factor - 0.5


def _shapes(images) -> np.ndarray:
    return np.array([np.asarray(image).shape[:2] for image in images], float)


class PointBatches(AugmentedBatches):
    """Augmented training batches of images and their landmarks (network pixels; NaN = not given).

    ``points`` ``(N, K, 2)`` move with the images; the other settings are
    :class:`.batch_augment.AugmentedBatches`'.
    """

    def __init__(self, images: np.ndarray, points: np.ndarray, **settings):
        super().__init__(images, **settings)
        self.points = torch.from_numpy(np.ascontiguousarray(points, dtype=np.float32))

    def __iter__(self):
        for _ in range(self.steps):
            index = self.rng.integers(0, len(self.images), self.batch_size)
            x, p = self.images[index], self.points[index]
            if self.augment:
                x, p = augment_batch(x, self.augment, self.flip_axes, self.generator, points=p)
            yield x, p


def landmark_errors(predicted: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Euclidean error of each landmark ``(N, K)``; NaN where the truth is not given."""
    return np.sqrt(((predicted - truth) ** 2).sum(-1))


# ============================================================================ training
def fit_landmarks(images, points, config: dict[str, Any] | None = None, *, device="cpu",
                  progress: Callable[[float, dict], Any] | None = None, cancel: Callable[[], bool] | None = None,
                  log: Callable[[str], Any] | None = None):
    """Train a landmark detector; keep the weights with the lowest mean error on held-out images.

    Parameters
    ----------
    images : sequence of 2D arrays
        Raw images (any sizes; see :func:`.classify.prepare_images`).
    points : numpy.ndarray
        ``(N, K, 2)`` landmarks as (row, col) pixel coordinates of each image; NaN where not given.
    config : dict, optional
        Overrides of :data:`DEFAULTS`; ``classes`` names the K landmarks.
    device, progress, cancel, log
        As for :func:`.classify.fit_classifier`.

    Returns
    -------
    model, result, cfg
        The network (best weights, eval mode), the :class:`.train.TrainResult` (its ``val_dice``
        history holds minus the held-out mean error in the network's pixels), and the complete config.
    """
    from .networks import build_network
    from .networks import check_config as check_network
    from .train import train

    cfg = check_landmark_config(config)
    points = np.asarray(points, np.float64)
    if points.ndim != 3 or points.shape[0] != len(images) or points.shape[2] != 2:
        raise ValueError(f"points must be (images, landmarks, 2) for {len(images)} images, got {points.shape}")
    k = points.shape[1]
    names = cfg["classes"] or [f"landmark {i + 1}" for i in range(k)]
    if len(names) != k:
        raise ValueError(f"{len(names)} landmark names for {k} landmarks")
    cfg["classes"] = list(names)
    info, training, heat = cfg["input"], cfg["training"], cfg["heatmap"]
    x = prepare_images(images, info["resize_to"], info["normalisation"])
    target = _to_network(points, _shapes(images), info["resize_to"])
    seed = int(training["seed"])
    order = np.random.default_rng(seed).permutation(len(x))
    n_held = max(1, int(round(float(training["val_fraction"]) * len(x))))
    held, fit_index = np.sort(order[:n_held]), np.sort(order[n_held:])
    cfg["network"] = check_network({**cfg["network"], "out_channels": k})
    model = build_network(cfg["network"], seed=seed)
    batches = PointBatches(x[fit_index], target[fit_index], batch_size=training["batch_size"],
                           steps=training["steps_per_epoch"], augment=cfg["augment"], flip_axes=cfg["flip_axes"],
                           seed=seed)
    sigma, window = float(heat["sigma_px"]), int(heat["window_px"])

    def loss(logits, batch_points):
        return heatmap_loss(logits, batch_points, sigma)

    def validate(net, val_data, dev):
        found, _ = decode_heatmaps(forward_in_batches(net, val_data[0], dev, 16), window)
        errors = landmark_errors(found, val_data[1])
        per_landmark = np.nanmean(errors, 0)
        return -float(np.nanmean(errors)), [-float(e) for e in per_landmark]

    epochs = -(-int(training["iterations"]) // int(training["steps_per_epoch"]))
    result = train(model, loss, batches, (x[held], target[held]), num_classes=k, max_epochs=epochs,
                   max_iterations=int(training["iterations"]), lr=float(training["lr"]),
                   weight_decay=float(training["weight_decay"]), warmup=int(training["warmup"]), seed=seed,
                   device=device, progress=progress, cancel=cancel, validate=validate)
    model.eval()
    if log is not None:
        log(f"{result.iterations} steps in {result.seconds:.0f} s, best held-out mean error "
            f"{-result.best_metric:.2f} network px (epoch {result.best_epoch})")
    return model, result, cfg


def predict_landmarks(model, card: dict, images, *, device="cpu") -> tuple[np.ndarray, np.ndarray]:
    """Landmarks of images: ``(N, K, 2)`` (row, col) pixel coordinates of each image, and ``(N, K)`` confidences."""
    info = card["input"]
    x = prepare_images(images, info["resize_to"], info.get("normalisation"))
    found, confidence = decode_heatmaps(forward_in_batches(model, x, device, 16), int(card.get("heatmap", {}).get("window_px", 3)))
    return _from_network(found, _shapes(images), info["resize_to"]), confidence


def landmarks_on_volume(model, card: dict, volume, *, device="cpu") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Landmarks of a 2D image Volume (or a one-slice volume): pixel indices, world mm, confidences.

    Returns
    -------
    index : numpy.ndarray
        ``(K, 2)`` (row, col) continuous pixel indices.
    world : numpy.ndarray
        ``(K, ndim)`` world coordinates in mm (numpy order) on the volume's grid.
    confidence : numpy.ndarray
        ``(K,)``.
    """
    image = np.asarray(volume.array)
    if volume.rgb:
        image = image[..., :3].mean(-1)
    if image.ndim == 3 and image.shape[0] == 1:
        image = image[0]
    if image.ndim != 2:
        raise ValueError(f"a landmark detector takes a 2D image, got an image of shape {volume.array.shape}")
    found, confidence = predict_landmarks(model, card, [image], device=device)
    index = found[0]
    full = np.zeros((len(index), volume.spatial_ndim))
    full[:, -2:] = index  # a one-slice volume keeps its slice coordinate 0
    return index, np.asarray(volume.index_to_world(full)), confidence[0].astype(np.float64)


def landmark_card(cfg: dict[str, Any], result, *, training: dict | None = None, validation: dict | None = None,
                  command: str | None = None) -> dict[str, Any]:
    """The model card of a landmark detector trained by :func:`fit_landmarks`."""
    card = {"kind": "landmarks", "name": cfg.get("name") or "", "task": cfg.get("task") or "landmark detection",
            "modality": cfg.get("modality") or "", "architecture": cfg["network"],
            "classes": [{"value": i, "name": n} for i, n in enumerate(cfg["classes"])],
            "input": dict(cfg["input"]), "heatmap": dict(cfg["heatmap"]),
            "training": {**cfg["training"], "iterations_run": result.iterations, "seconds": round(result.seconds, 1),
                         "stopped": result.stopped, "best_epoch": result.best_epoch,
                         "held_out_error_px": -result.best_metric, "augment": cfg["augment"],
                         "flip_axes": cfg["flip_axes"], **(training or {})},
            "validation": validation or {}}
    if command:
        card["command"] = command
    return card


def cross_validate_landmarks(images, points, config: dict[str, Any] | None, k: int = 5, *, seed: int = 0,
                             device="cpu", names_of_cases=None, log: Callable[[str], Any] | None = None,
                             cancel: Callable[[], bool] | None = None,
                             extra: Callable[[np.ndarray, np.ndarray, np.ndarray], dict] | None = None) -> dict:
    """k-fold cross-validation over images: each fold's model trained (and its epoch chosen) on the others only.

    Parameters
    ----------
    extra : callable, optional
        ``extra(predicted, truth, test_index) -> dict`` of further figures per fold (e.g. a ratio
        measured from the landmarks).

    Returns
    -------
    dict
        ``k``, ``folds`` (per fold: ``fold``, ``cases``, ``mean_error_px``, ``error_px`` per
        landmark, ``seconds``, and ``extra``'s figures), ``mean`` and ``sd`` over folds, and
        ``predicted`` (every image's out-of-fold landmarks, pixel coordinates).
    """
    cfg = check_landmark_config(config)
    points = np.asarray(points, np.float64)
    names = cfg["classes"] or [f"landmark {i + 1}" for i in range(points.shape[1])]
    cases = list(names_of_cases) if names_of_cases is not None else [str(i) for i in range(len(images))]
    assignment = np.random.default_rng(seed).permutation(len(images)) % k
    predicted = np.full(points.shape, np.nan)
    reports = []
    for f in range(k):
        start = time.perf_counter()
        test, train_index = np.flatnonzero(assignment == f), np.flatnonzero(assignment != f)
        model, _, fold_cfg = fit_landmarks([images[i] for i in train_index], points[train_index], cfg,
                                           device=device, cancel=cancel)
        card = {"input": fold_cfg["input"], "heatmap": fold_cfg["heatmap"]}
        predicted[test], _ = predict_landmarks(model, card, [images[i] for i in test], device=device)
        errors = landmark_errors(predicted[test], points[test])
        report = {"fold": f + 1, "cases": [cases[i] for i in test], "mean_error_px": float(np.nanmean(errors)),
                  "error_px": {n: float(np.nanmean(errors[:, j])) for j, n in enumerate(names)}}
        if extra is not None:
            report.update(extra(predicted[test], points[test], test))
        report["seconds"] = round(time.perf_counter() - start, 1)
        reports.append(report)
        if log is not None:
            log(f"fold {f + 1}/{k}: mean error {report['mean_error_px']:.2f} px ({report['seconds']:.0f} s)")
    scalars = [key for key, v in reports[0].items() if isinstance(v, float) and key != "seconds"]
    mean = {key: float(np.mean([r[key] for r in reports])) for key in scalars}
    sd = {key: float(np.std([r[key] for r in reports], ddof=1)) if k > 1 else 0.0 for key in scalars}
    for name in names:
        mean[name] = float(np.mean([r["error_px"][name] for r in reports]))
        sd[name] = float(np.std([r["error_px"][name] for r in reports], ddof=1)) if k > 1 else 0.0
    return {"k": k, "folds": reports, "mean": mean, "sd": sd, "predicted": predicted.tolist()}
