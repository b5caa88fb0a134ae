"""CNN image classifiers: prepare, train with class balance, calibrate, predict, explain.

Imports torch: import this module only where a classifier is trained or applied.

A classifier is a :mod:`.networks` ``resnet_classifier`` trained by the shared loop
(:func:`.train.train`) on whole images brought to one size and normalised per image
(percentiles: radiographs from different machines keep comparable contrast). Training batches
hold every class equally often, so the network's scores assume equal class priors whatever the
imbalance of the training set. A part of the training images is held out (stratified) to pick
the best epoch (ROC AUC) and to calibrate: a temperature and a per-class bias (the decision
threshold) fitted for equally likely classes (:func:`fit_calibration`), stored in the model
card and applied by :func:`predict_proba`; the predicted class is the most probable one. Nothing is tuned on the images a figure
is reported for: :func:`cross_validate_classifier` fits all of it inside each training fold.

Card fields of a classifier: ``kind: "classifier"``, ``classes`` ``[{value, name}]``,
``input {resize_to, normalisation}``, ``calibration {temperature, bias, priors}``; the network
config under ``architecture`` as for every checkpoint.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .batch_augment import AugmentedBatches, augment_batch
from .normalize import check_normalisation, normalize

__all__ = ["DEFAULTS", "check_classifier_config", "prepare_images", "BalancedBatches", "fit_classifier",
           "predict_proba", "classification_scores", "fit_calibration", "cross_validate_classifier", "classifier_card",
           "grad_cam", "Calibration", "forward_in_batches", "complete_whole_image_config"]

#: Settings of a classifier training run, laid out as a segmentation config
#: (:mod:`.experiment`): a config overrides any of them, section by section.
DEFAULTS: dict[str, Any] = {
    "network": {"name": "resnet_classifier", "spatial_dims": 2, "in_channels": 1,
                "layers": [1, 1, 1, 1], "block_inplanes": [16, 32, 64, 128]},
    "input": {"resize_to": [28, 28], "normalisation": {"kind": "percentile", "low": 0.5, "high": 99.5}},
    # rotation in degrees; scale, shift (of the image size), intensity scale and shift, noise sd as fractions
    "augment": {"rotate_deg": 10.0, "scale": 0.1, "shift": 0.08, "intensity_scale": 0.2, "intensity_shift": 0.1,
                "noise": 0.02},
    "flip_axes": [],
    "training": {"iterations": 2000, "batch_size": 64, "steps_per_epoch": 100, "lr": 2e-3, "weight_decay": 1e-4,
                 "warmup": 50, "calibration_fraction": 0.15, "seed": 0},
}


def complete_whole_image_config(config: dict[str, Any] | None, defaults: dict[str, Any], what: str,
                                held_out_key: str) -> dict[str, Any]:
    """A whole-image model's config (classifier, landmark detector) completed with its defaults and checked.

    Parameters
    ----------
    config : dict, optional
        ``classes``, ``name``, ``task``, ``modality``, ``kind``, and overrides of the sections of
        ``defaults`` (``network``, ``input``, ``augment``, ``flip_axes``, ``training``, ...).
    defaults : dict
        The model kind's defaults (:data:`DEFAULTS`, :data:`.landmarks.DEFAULTS`).
    what : str
        The model kind, for messages.
    held_out_key : str
        The training setting giving the held-out fraction (checked to lie in (0, 0.5)).

    Raises
    ------
    ValueError
        Unknown settings, or values out of range.
    """
    config = dict(config or {})
    unknown = set(config) - set(defaults) - {"classes", "name", "task", "modality", "kind"}
    if unknown:
        raise ValueError(f"unknown {what} setting(s): {', '.join(sorted(unknown))}; known are "
                         f"{', '.join(defaults)}, classes, name, task, modality")
    cfg = {**defaults, **config}
    for section, default in defaults.items():
        if not isinstance(default, dict):
            continue
        extra = set(config.get(section) or {}) - set(default) if section != "network" else set()
        if extra:
            raise ValueError(f"unknown {section} setting(s): {', '.join(sorted(extra))}; known are "
                             f"{', '.join(default)}")
        cfg[section] = {**default, **(config.get(section) or {})}
    classes = config.get("classes")
    if classes and isinstance(classes[0], dict):
        values = [int(c["value"]) for c in classes]
        if values != list(range(len(values))):
            raise ValueError(f"{what} class values must be 0..K-1 in order, got {values}")
        classes = [str(c["name"]) for c in classes]
    cfg["classes"] = list(classes) if classes else None
    info = cfg["input"]
    info["normalisation"] = check_normalisation(info["normalisation"])
    size = [int(v) for v in info["resize_to"]]
    if len(size) != 2 or min(size) < 8:
        raise ValueError(f"resize_to must be two sizes of at least 8 pixels, got {info['resize_to']}")
    info["resize_to"] = size
    cfg["flip_axes"] = [int(a) for a in cfg["flip_axes"]]
    if set(cfg["flip_axes"]) - {0, 1}:
        raise ValueError(f"flip_axes of a 2D image are 0 (up-down) and 1 (left-right), got {cfg['flip_axes']}")
    training = cfg["training"]
    if not 0.0 < float(training[held_out_key]) < 0.5:
        raise ValueError(f"{held_out_key} must lie in (0, 0.5), got {training[held_out_key]}")
    for key in ("batch_size", "iterations", "steps_per_epoch"):
        if int(training[key]) < 1:
            raise ValueError(f"{key} must be a positive integer, got {training[key]}")
    return cfg


def check_classifier_config(config: dict[str, Any] | None) -> dict[str, Any]:
    """A classifier config completed with :data:`DEFAULTS` and checked.

    Parameters
    ----------
    config : dict, optional
        ``classes`` (class names, or ``[{value, name}]`` with values 0..K-1), ``name``,
        ``task``, ``modality``, and overrides of the :data:`DEFAULTS` sections.

    Raises
    ------
    ValueError
        Unknown settings, or values out of range.
    """
    return complete_whole_image_config(config, DEFAULTS, "classifier", "calibration_fraction")


# ============================================================================ data
def prepare_images(images, size: Sequence[int], normalisation: dict | None) -> np.ndarray:
    """Images as the network sees them: grey, normalised per image, resized, ``(N, 1, h, w)`` float32.

    Parameters
    ----------
    images : array (N, y, x) or (N, y, x, channels), or a sequence of 2D / RGB(A) arrays
        Images of any sizes; colour is averaged to grey (alpha dropped).
    size : (h, w)
        Size the network takes (area-averaged when shrinking, bilinear when enlarging).
    normalisation : dict
        :mod:`.normalize` spec applied to each image on its own.

    Raises
    ------
    ValueError
        An image that is not 2D (or 2D with 3 or 4 colour channels), or holds NaN or infinity.
    """
    out = np.empty((len(images), 1, *size), np.float32)
    for i, image in enumerate(images):
        image = np.asarray(image)
        if image.ndim == 3 and image.shape[-1] in (3, 4):
            image = image[..., :3].mean(-1, dtype=np.float32)
        elif image.ndim == 3 and image.shape[-1] == 1:
            image = image[..., 0]
        if image.ndim != 2:
            raise ValueError(f"image {i} has shape {image.shape}; a classifier takes 2D grey or colour images")
        image = normalize(image, normalisation)
        if not np.isfinite(image).all():
            raise ValueError(f"image {i} holds NaN or infinite values; fill or crop them first")
        tensor = torch.from_numpy(np.ascontiguousarray(image))[None, None]
        if tuple(image.shape) != tuple(size):
            shrinking = image.shape[0] > size[0] or image.shape[1] > size[1]
            tensor = F.interpolate(tensor, size=tuple(size), mode="area") if shrinking else \
                F.interpolate(tensor, size=tuple(size), mode="bilinear", align_corners=False)
        out[i] = tensor[0].numpy()
    return out


class BalancedBatches(AugmentedBatches):
    """Training batches that hold every class equally often, augmented (see :class:`.batch_augment.AugmentedBatches`).

    Parameters
    ----------
    images : numpy.ndarray
        ``(N, 1, h, w)`` from :func:`prepare_images`.
    labels : numpy.ndarray
        Class index of each image, ``0..K-1``.
    **settings
        ``batch_size``, ``steps``, ``augment``, ``flip_axes``, ``seed``.
    """

    def __init__(self, images: np.ndarray, labels: np.ndarray, **settings):
        super().__init__(images, **settings)
        self.labels = np.asarray(labels, np.int64)
        self.by_class = [np.flatnonzero(self.labels == c) for c in np.unique(self.labels)]

    def __iter__(self):
        k = len(self.by_class)
        for _ in range(self.steps):
            which = self.rng.integers(0, k, self.batch_size)
            index = np.array([self.by_class[c][self.rng.integers(len(self.by_class[c]))] for c in which])
            x = self.images[index]
            if self.augment:
                x = augment_batch(x, self.augment, self.flip_axes, self.generator)
            yield x, torch.from_numpy(self.labels[index])


# ============================================================================ scores
def _roc_auc(truth: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve (ties counted half); NaN with one class only."""
    from scipy.stats import rankdata

    pos, n_pos = truth.astype(bool), int(truth.sum())
    n_neg = len(truth) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(score)
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def classification_scores(truth: np.ndarray, probabilities: np.ndarray, predicted: np.ndarray | None = None,
                          bins: int = 15) -> dict[str, Any]:
    """Accuracy, balanced accuracy, ROC AUC, expected calibration error and the confusion matrix.

    Parameters
    ----------
    truth : numpy.ndarray
        Class indices.
    probabilities : numpy.ndarray
        ``(N, K)`` class probabilities.
    predicted : numpy.ndarray, optional
        Predicted classes; the most probable by default.
    bins : int
        Equal-width confidence bins of the ECE.

    Returns
    -------
    dict
        ``accuracy``, ``balanced_accuracy``, ``auc`` (two classes: of class 1; more: the mean
        one-vs-rest AUC), ``ece`` (images as they come), ``ece_balanced`` (each class weighing the
        same: the calibration for equally likely classes that :class:`Calibration` aims at),
        ``confusion`` (rows truth, columns predicted) and ``n``.
    """
    truth = np.asarray(truth, int)
    predicted = probabilities.argmax(1) if predicted is None else np.asarray(predicted, int)
    k = probabilities.shape[1]
    recalls = [float((predicted[truth == c] == c).mean()) for c in range(k) if (truth == c).any()]
    aucs = [_roc_auc(truth == c, probabilities[:, c]) for c in (range(1, 2) if k == 2 else range(k))]
    confidence = probabilities[np.arange(len(truth)), predicted]
    correct = predicted == truth
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)

    def ece(weight: np.ndarray) -> float:
        weight = weight / weight.sum()
        total = 0.0
        for b in range(bins):
            w = weight[which == b]
            if w.sum() > 0:
                total += abs(np.average(correct[which == b], weights=w)
                             - np.average(confidence[which == b], weights=w)) * w.sum()
        return float(total)

    counts = np.bincount(truth, minlength=k).astype(float)
    confusion = np.zeros((k, k), int)
    np.add.at(confusion, (truth, predicted), 1)
    return {"n": int(len(truth)), "accuracy": float(correct.mean()), "balanced_accuracy": float(np.mean(recalls)),
            "auc": float(np.nanmean(aucs)), "ece": ece(np.ones(len(truth))),
            "ece_balanced": ece(1.0 / counts[truth]), "confusion": confusion.tolist()}


# ============================================================================ calibration
@dataclass
class Calibration:
    """Calibrated logits ``logits / temperature + bias``: probabilities for equally likely classes.

    Attributes
    ----------
    temperature : float
        Divides the logits (confidence).
    bias : list of float
        Added per class (the decision threshold; 0 for the first class).
    """

    temperature: float = 1.0
    bias: list[float] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"temperature": self.temperature, "bias": self.bias, "priors": "equal"}

    @classmethod
    def from_card(cls, card: dict) -> Calibration:
        stored = card.get("calibration") or {}
        return cls(float(stored.get("temperature") or 1.0), stored.get("bias"))

    def apply(self, logits: torch.Tensor) -> torch.Tensor:
        """Calibrated probabilities of logits ``(N, K)``."""
        bias = torch.tensor(self.bias, dtype=logits.dtype) if self.bias is not None else 0.0
        return torch.softmax(logits / self.temperature + bias, 1)


def fit_calibration(logits: np.ndarray, truth: np.ndarray) -> Calibration:
    """Temperature and per-class bias minimising the class-balanced negative log-likelihood.

    Every class weighs the same whatever its count among the held-out images, so the
    probabilities are those for equally likely classes and the most probable class is the
    decision with the best balanced accuracy (to first order); the training set's class ratio,
    which says nothing of the ratio where the model is used, is not built in.

    Parameters
    ----------
    logits : numpy.ndarray
        ``(N, K)`` of held-out images.
    truth : numpy.ndarray
        Their classes.
    """
    x = torch.from_numpy(logits.astype(np.float32))
    y = torch.from_numpy(truth.astype(np.int64))
    k = x.shape[1]
    counts = torch.bincount(y, minlength=k).float()
    weight = torch.where(counts > 0, 1.0 / (k * counts.clamp(min=1)), torch.zeros(k))
    log_t = torch.zeros(1, requires_grad=True)
    bias = torch.zeros(k - 1, requires_grad=True)
    optimiser = torch.optim.LBFGS([log_t, bias], lr=0.5, max_iter=200, line_search_fn="strong_wolfe")

    def closure():
        optimiser.zero_grad()
        scaled = x / log_t.exp() + torch.cat([torch.zeros(1), bias])
        # the weights sum to one; a weak prior (bias and log-temperature ~ N(0, 30)) keeps a
        # few, perfectly separated held-out images from driving the temperature to zero
        loss = F.cross_entropy(scaled, y, weight=weight, reduction="sum") + 5e-4 * (bias.square().sum() + log_t.square().sum())
        loss.backward()
        return loss

    with torch.enable_grad():
        optimiser.step(closure)
    return Calibration(float(log_t.detach().exp()), [0.0, *(float(b) for b in bias.detach())])


# ============================================================================ inference
def forward_in_batches(model, images: np.ndarray, device="cpu", batch: int = 256) -> torch.Tensor:
    """The model's float32 outputs for prepared images, in eval mode and without gradients, on the CPU.

    Parameters
    ----------
    images : numpy.ndarray
        ``(N, C, ...)`` float32.
    batch : int
        Images per forward pass.
    """
    was_training = model.training
    model.eval()
    out = []
    try:
        with torch.no_grad():
            for i in range(0, len(images), batch):
                out.append(model(torch.from_numpy(images[i:i + batch]).to(device)).float().cpu())
    finally:
        model.train(was_training)
    return torch.cat(out) if out else torch.zeros(0)


def predict_proba(model, card: dict, images, *, device="cpu", prepared: bool = False) -> np.ndarray:
    """Calibrated class probabilities ``(N, K)`` of images.

    Parameters
    ----------
    model : torch.nn.Module
        A ``resnet_classifier``.
    card : dict
        Its card (``input.resize_to``, ``input.normalisation``, ``calibration.temperature``).
    images : array or sequence of arrays
        Raw images (any size; see :func:`prepare_images`), or prepared ``(N, 1, h, w)`` arrays
        with ``prepared=True``.
    device : str or torch.device
        Where the model is.
    """
    info = card.get("input", {})
    x = images if prepared else prepare_images(images, info["resize_to"], info.get("normalisation"))
    return Calibration.from_card(card).apply(forward_in_batches(model, x, device)).numpy()


def _auc_validation(model, val_data, device) -> tuple[float, list]:
    images, labels = val_data
    probabilities = torch.softmax(forward_in_batches(model, images, device), 1).numpy()
    k = probabilities.shape[1]
    aucs = [_roc_auc(labels == c, probabilities[:, c]) for c in range(k)]
    value = aucs[1] if k == 2 else float(np.nanmean(aucs))
    return (value if np.isfinite(value) else 0.0), aucs


# ============================================================================ training
def _stratified_split(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    held = []
    for c in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == c))
        held.extend(members[: max(1, int(round(fraction * len(members))))])
    held = np.sort(np.array(held, int))
    return np.setdiff1d(np.arange(len(labels)), held), held


def _check_labels(labels, n: int, classes: Sequence[str] | None) -> tuple[np.ndarray, list[str]]:
    labels = np.asarray(labels).reshape(-1)
    if len(labels) != n:
        raise ValueError(f"{len(labels)} labels for {n} images")
    if not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0:
        raise ValueError("labels must be class indices 0, 1, ... (integers)")
    k = int(labels.max()) + 1
    names = list(classes) if classes else [f"class {c}" for c in range(k)]
    if len(names) < k:
        raise ValueError(f"labels go up to {k - 1} but only {len(names)} class names were given")
    counts = np.bincount(labels, minlength=len(names))
    if (counts < 2).any():
        raise ValueError(f"every class needs at least two images; counts {dict(zip(names, counts.tolist()))}")
    return labels.astype(np.int64), names


def fit_classifier(images, labels, config: dict[str, Any] | None = None, *, device="cpu",
                   progress: Callable[[float, dict], Any] | None = None, cancel: Callable[[], bool] | None = None,
                   log: Callable[[str], Any] | None = None, prepared: bool = False):
    """Train a CNN classifier, pick its best epoch, and calibrate it on held-out images.

    Parameters
    ----------
    images : array or sequence of arrays
        Raw 2D images (see :func:`prepare_images`), or prepared ``(N, 1, h, w)`` with ``prepared``.
    labels : array of int
        Class index of each image.
    config : dict, optional
        Overrides of :data:`DEFAULTS`; ``classes`` names the classes.
    device : str or torch.device
        Where to train.
    progress, cancel : callable, optional
        As for :func:`.train.train`.
    log : callable, optional
        Receives one line at the end.

    Returns
    -------
    model : torch.nn.Module
        Best weights loaded, eval mode.
    result : TrainResult
        History (``val_dice`` holds the held-out ROC AUC), iterations, seconds, stop reason.
    calibration : Calibration
        Fitted on the held-out images.
    cfg : dict
        The complete config (with ``classes`` and ``architecture.out_channels``).
    """
    from .networks import build_network
    from .networks import check_config as check_network
    from .train import train

    cfg = check_classifier_config(config)
    info, training = cfg["input"], cfg["training"]
    x = images if prepared else prepare_images(images, info["resize_to"], info["normalisation"])
    y, names = _check_labels(labels, len(x), cfg["classes"])
    cfg["classes"] = names
    cfg["network"] = check_network({**cfg["network"], "out_channels": len(names)})
    seed = int(training["seed"])
    fit_index, held = _stratified_split(y, float(training["calibration_fraction"]), seed)
    model = build_network(cfg["network"], seed=seed)
    batches = BalancedBatches(x[fit_index], y[fit_index], batch_size=training["batch_size"],
                              steps=training["steps_per_epoch"], augment=cfg["augment"], flip_axes=cfg["flip_axes"],
                              seed=seed)
    epochs = -(-int(training["iterations"]) // int(training["steps_per_epoch"]))
    result = train(model, torch.nn.CrossEntropyLoss(), batches, (x[held], y[held]), num_classes=len(names),
                   max_epochs=epochs, max_iterations=int(training["iterations"]), lr=float(training["lr"]),
                   weight_decay=float(training["weight_decay"]), warmup=int(training["warmup"]), seed=seed,
                   device=device, progress=progress, cancel=cancel, validate=_auc_validation)
    model.eval()
    calibration = fit_calibration(forward_in_batches(model, x[held], device).numpy(), y[held])
    if log is not None:
        log(f"{result.iterations} steps in {result.seconds:.0f} s, best held-out AUC {result.best_metric:.4f} "
            f"(epoch {result.best_epoch}), temperature {calibration.temperature:.3f}, bias "
            f"{[round(b, 3) for b in calibration.bias]}")
    return model, result, calibration, cfg


def classifier_card(cfg: dict[str, Any], result, calibration: Calibration, *, training: dict | None = None,
                    validation: dict | None = None, command: str | None = None) -> dict[str, Any]:
    """The model card of a classifier trained by :func:`fit_classifier`."""
    card = {"kind": "classifier", "name": cfg.get("name") or "", "task": cfg.get("task") or "image classification",
            "modality": cfg.get("modality") or "", "architecture": cfg["network"],
            "classes": [{"value": i, "name": n} for i, n in enumerate(cfg["classes"])],
            "input": dict(cfg["input"]), "calibration": calibration.as_dict(),
            "training": {**cfg["training"], "iterations_run": result.iterations, "seconds": round(result.seconds, 1),
                         "stopped": result.stopped, "best_epoch": result.best_epoch,
                         "held_out_auc": result.best_metric, "augment": cfg["augment"], "flip_axes": cfg["flip_axes"],
                         **(training or {})},
            "validation": validation or {}}
    if command:
        card["command"] = command
    return card


def _folds(labels: np.ndarray, k: int, seed: int) -> list[np.ndarray]:
    """Stratified folds: each class's images dealt round-robin in a random order."""
    rng = np.random.default_rng(seed)
    assignment = np.empty(len(labels), int)
    for c in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == c))
        assignment[members] = (np.arange(len(members)) + rng.integers(k)) % k
    return [np.flatnonzero(assignment == f) for f in range(k)]


def cross_validate_classifier(images, labels, config: dict[str, Any] | None, k: int = 5, *, seed: int = 0,
                              device="cpu", log: Callable[[str], Any] | None = None,
                              cancel: Callable[[], bool] | None = None, prepared: bool = False) -> dict[str, Any]:
    """Stratified k-fold cross-validation: each fold trained and calibrated on the other folds only.

    Returns
    -------
    dict
        ``method``, ``k``, ``folds`` (per fold: ``fold``, ``n``, ``accuracy``,
        ``balanced_accuracy``, ``auc``, ``ece``, ``ece_balanced``, ``temperature``, ``bias``, ``seconds``), ``mean`` and
        ``sd`` of the figures over folds, and the pooled out-of-fold ``confusion``.
    """
    cfg = check_classifier_config(config)
    info = cfg["input"]
    x = images if prepared else prepare_images(images, info["resize_to"], info["normalisation"])
    y, names = _check_labels(labels, len(x), cfg["classes"])
    reports, confusion = [], np.zeros((len(names), len(names)), int)
    for f, test in enumerate(_folds(y, k, seed)):
        start = time.perf_counter()
        train_index = np.setdiff1d(np.arange(len(y)), test)
        model, _, calibration, fold_cfg = fit_classifier(x[train_index], y[train_index], {**cfg, "classes": names},
                                                         device=device, cancel=cancel, prepared=True)
        card = {"input": info, "calibration": calibration.as_dict()}
        probabilities = predict_proba(model, card, x[test], device=device, prepared=True)
        scores = classification_scores(y[test], probabilities)
        confusion += np.array(scores.pop("confusion"))
        reports.append({"fold": f + 1, **scores, "temperature": calibration.temperature,
                        "bias": calibration.bias[1] if len(names) == 2 else calibration.bias, "seconds": round(time.perf_counter() - start, 1)})
        if log is not None:
            log(f"fold {f + 1}/{k}: accuracy {scores['accuracy']:.4f}, balanced {scores['balanced_accuracy']:.4f}, "
                f"AUC {scores['auc']:.4f}, ECE {scores['ece']:.4f} ({reports[-1]['seconds']:.0f} s)")
    figures = ("accuracy", "balanced_accuracy", "auc", "ece", "ece_balanced")
    return {"method": f"stratified {k}-fold cross-validation; each fold's model picks its epoch, temperature and "
                      f"bias on images held out of its own training folds",
            "k": k, "folds": reports,
            "mean": {m: float(np.mean([r[m] for r in reports])) for m in figures},
            "sd": {m: float(np.std([r[m] for r in reports], ddof=1)) if k > 1 else 0.0 for m in figures},
            "confusion": confusion.tolist()}


# ============================================================================ explanation
def grad_cam(model, card: dict, image: np.ndarray, *, target: int | None = None, device="cpu") -> np.ndarray:
    """Grad-CAM saliency of one image's prediction, on the image's own grid, scaled to [0, 1].

    Parameters
    ----------
    model : torch.nn.Module
        A ``resnet_classifier``.
    card : dict
        Its card.
    image : numpy.ndarray
        One raw 2D image (grey or colour).
    target : int, optional
        The class explained; default the predicted class.

    Returns
    -------
    numpy.ndarray
        float32, the image's (y, x) shape: where the evidence for ``target`` lies.
    """
    info = card.get("input", {})
    x = torch.from_numpy(prepare_images([image], info["resize_to"], info.get("normalisation"))).to(device)
    layer = model.layer4
    store: dict[str, torch.Tensor] = {}
    hooks = [layer.register_forward_hook(lambda _m, _i, out: store.__setitem__("act", out)),
             layer.register_full_backward_hook(lambda _m, _gi, gout: store.__setitem__("grad", gout[0]))]
    was_training = model.training
    model.eval()
    try:
        with torch.enable_grad():
            x.requires_grad_(True)
            logits = model(x)
            if target is None:
                target = int(Calibration.from_card(card).apply(logits.detach().cpu()).argmax(1)[0])
            model.zero_grad(set_to_none=True)
            logits[0, int(target)].backward()
    finally:
        for hook in hooks:
            hook.remove()
        model.train(was_training)
    weights = store["grad"].mean(dim=(2, 3), keepdim=True)
    cam = torch.relu((weights * store["act"]).sum(1, keepdim=True)).detach()
    shape = np.asarray(image).shape[:2]
    cam = F.interpolate(cam.cpu(), size=shape, mode="bilinear", align_corners=False)[0, 0].numpy()
    top = float(cam.max())
    return (cam / top if top > 0 else cam).astype(np.float32)
