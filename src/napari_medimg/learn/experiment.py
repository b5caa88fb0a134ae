"""Training a segmentation model from cases, as one config describes it; k-fold cross-validation.

Used by ``napari-medimg train CONFIG.yaml`` and by the scripts that make the shipped models,
so a shipped model is re-made by the same code a user trains with. A config (YAML or dict)::

    name: cxr-lungs-heart
    task: lungs and heart on a frontal chest radiograph
    classes: [{value: 1, name: right lung, color: "#e6550d"}, ...]
    network: {name: basic_unet, spatial_dims: 2, features: [8, 16, 32, 64, 128, 8]}
    input: {resize_to: [192, 192], normalisation: {kind: percentile, low: 0.5, high: 99.5}}
    augment: {rotate_deg: 10, scale: 0.1, ...}        # see learn.augment
    flip_axes: []                                     # only where the anatomy allows
    training: {iterations: 600, batch_size: 8, lr: 0.002, val_fraction: 0.1, seed: 0}

``input`` follows :mod:`.apply` (``resize_to``; or ``spacing`` + ``patch_mm``; plus
``slice_axis`` for a 2D model trained on the slices of volumes; ``guidance: {kind: click,
sigma_px: 4}`` for a click-guided whole-image model, :mod:`.guidance`). ``training.precision:
bfloat16`` about halves a step's time on CPUs with AMX or AVX-512 BF16. A case is an
:class:`Case`: image, labels (255 = not annotated) and spacing. Validation cases for
choosing the best checkpoint are held out of the training cases by case, never by patch
or slice, and the figure reported by :func:`cross_validate` comes from folds the model
never saw, scored on the cases' own grids.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import IGNORE_LABEL
from .apply import as_model_input, image_channels, input_mode, predict_image, resize_image
from .augment import Augmentation
from .guidance import ClickBatches, check_guidance, deepest_points, needs_clicks
from .infer import to_grid
from .metrics import dice_counts, dice_scores
from .normalize import check_normalisation, normalize
from .patches import patch_voxels

__all__ = ["Case", "check_config", "training_pairs", "fit", "cross_validate", "summarise_folds", "model_card", "folds"]

_TRAINING_DEFAULTS = {"iterations": 500, "batch_size": 8, "lr": 2e-3, "weight_decay": 1e-4, "val_fraction": 0.1,
                      "val_every": 50, "seed": 0, "foreground_fraction": 0.5, "device": "auto",
                      "precision": "float32"}


@dataclasses.dataclass
class Case:
    """One training or test case.

    Attributes
    ----------
    image : numpy.ndarray
        Spatial array (a colour picture ``(y, x, 3)`` is made grey for a one-channel model).
    labels : numpy.ndarray
        Integer labels on the image's grid; 255 (or negative) where not annotated.
    spacing : tuple of float
        Voxel spacing in mm (array order); ones for pictures without spacing.
    name : str
        For reports.
    """

    image: np.ndarray
    labels: np.ndarray
    spacing: tuple[float, ...]
    name: str = ""


def check_config(config: dict[str, Any]) -> dict[str, Any]:
    """Validate a training config and fill in defaults (see the module docstring).

    Raises
    ------
    ValueError
        Naming the missing or wrong setting.
    """
    from .networks import check_config as check_network

    cfg = dict(config)
    for key in ("name", "network", "input", "classes"):
        if key not in cfg:
            raise ValueError(f"the training config needs {key!r}")
    classes = cfg["classes"]
    if not classes or any("value" not in c or "name" not in c for c in classes):
        raise ValueError("classes is a list of {value, name[, color]} for the foreground classes")
    values = sorted(int(c["value"]) for c in classes)
    if values != list(range(1, len(values) + 1)):
        raise ValueError(f"class values must be 1..K without gaps, got {values}")
    net = {"in_channels": 1, **cfg["network"], "out_channels": len(values) + 1}
    cfg["network"] = check_network(net)
    info = dict(cfg["input"])
    info["normalisation"] = check_normalisation(info.get("normalisation"))
    mode = "resize" if info.get("resize_to") is not None else ("slices" if info.get("slice_axis") is not None else "spacing")
    ndim = cfg["network"]["spatial_dims"]
    if mode == "resize":
        if len(info["resize_to"]) != ndim or any(int(n) % cfg["network"]["divisor"] for n in info["resize_to"]):
            raise ValueError(f"resize_to needs {ndim} sizes, each a multiple of {cfg['network']['divisor']}")
        info["resize_to"] = [int(n) for n in info["resize_to"]]
        info["patch_size"] = info["resize_to"]
    else:
        if "spacing" not in info or "patch_mm" not in info:
            raise ValueError("input needs spacing and patch_mm (or resize_to)")
        if len(info["spacing"]) != ndim or len(info["patch_mm"]) != ndim:
            raise ValueError(f"spacing and patch_mm need {ndim} values for a {ndim}D network")
        info["patch_size"] = list(patch_voxels(info["patch_mm"], info["spacing"], cfg["network"]["divisor"]))
    info["guidance"] = check_guidance(info.get("guidance"))
    if info["guidance"] is not None:
        if mode != "resize" or len(values) != 1 or cfg["network"]["in_channels"] < 2:
            raise ValueError("a click-guided model is a whole-image model (resize_to) with one class and one "
                             "input channel more than the image's (the click): in_channels 2 for a grey image")
    cfg["input"] = info
    cfg["augment"] = Augmentation.from_dict(cfg.get("augment")).to_dict()
    cfg["flip_axes"] = [int(a) for a in cfg.get("flip_axes", [])]
    unknown = set(cfg.get("training", {})) - set(_TRAINING_DEFAULTS)
    if unknown:
        raise ValueError(f"unknown training settings {', '.join(sorted(unknown))}")
    cfg["training"] = {**_TRAINING_DEFAULTS, **cfg.get("training", {})}
    if cfg["training"]["precision"] not in ("float32", "bfloat16"):
        raise ValueError(f"training precision is 'float32' or 'bfloat16', got {cfg['training']['precision']!r}")
    return cfg


def training_pairs(cases: Sequence[Case], cfg: dict[str, Any]) -> tuple[list, list]:
    """(image, labels) pairs on the model's grid, with their spacings.

    Whole-image models get each case resized to ``resize_to``; spacing models get cases
    resampled to the model spacing; slice models get every slice that holds annotation.
    """
    from .data import resample_pair

    info, net = cfg["input"], cfg["network"]
    mode = input_mode(info)
    pairs, spacings = [], []
    for case in cases:
        labels = np.asarray(case.labels)
        if mode == "slices":
            axis = int(info["slice_axis"])
            volume = np.moveaxis(normalize(case.image, info["normalisation"]), axis, 0)
            lab = np.moveaxis(labels, axis, 0)
            in_plane = [s for i, s in enumerate(case.spacing) if i != axis]
            for plane, plane_labels in zip(volume, lab):
                if plane.any() and ((plane_labels != IGNORE_LABEL) & (plane_labels >= 0)).any():
                    pairs.append(resample_pair(plane, plane_labels, in_plane, info["spacing"]))
                    spacings.append(tuple(info["spacing"]))
            continue
        image = normalize(as_model_input(case.image, net["spatial_dims"], image_channels(net, info)),
                          info["normalisation"])
        if mode == "resize":
            size = tuple(info["resize_to"])
            pairs.append((resize_image(image, size), to_grid(labels, size)))
            spacings.append((1.0,) * len(size))
        else:
            pairs.append(resample_pair(image, labels, case.spacing, info["spacing"]))
            spacings.append(tuple(info["spacing"]))
    return pairs, spacings


def folds(n: int, k: int, seed: int = 0) -> list[np.ndarray]:
    """Indices of ``n`` cases split into ``k`` folds of near-equal size (seeded permutation)."""
    if not 2 <= k <= n:
        raise ValueError(f"cannot make {k} folds of {n} cases")
    return [np.sort(f) for f in np.array_split(np.random.default_rng(seed).permutation(n), k)]


def _split_validation(cases: Sequence[Case], fraction: float, seed: int) -> tuple[list, list]:
    n_val = int(round(len(cases) * fraction))
    if fraction <= 0 or n_val < 1 or len(cases) - n_val < 1:
        return list(cases), []
    order = np.random.default_rng(seed + 7919).permutation(len(cases))
    val = set(order[:n_val].tolist())
    return [c for i, c in enumerate(cases) if i not in val], [c for i, c in enumerate(cases) if i in val]


def fit(cases: Sequence[Case], config: dict[str, Any], *, progress: Callable[[float, dict], Any] | None = None,
        cancel: Callable[[], bool] | None = None, log: Callable[[str], Any] | None = None):
    """Train a model on cases as ``config`` says, choosing the best checkpoint on held-out cases.

    Parameters
    ----------
    cases : sequence of Case
        Training cases; ``training.val_fraction`` of them (by case) are held out to pick
        the best checkpoint.
    config : dict
        See the module docstring.
    progress, cancel : callable, optional
        As for :func:`.train.train`.
    log : callable, optional
        Receives one line per validation.

    Returns
    -------
    model : torch.nn.Module
        With the best weights.
    result : TrainResult
        Its history.
    cfg : dict
        The checked config.
    """
    from .device import choose_device
    from .losses import DiceCELoss
    from .networks import build_network
    from .patches import PatchSampler
    from .train import train

    cfg = check_config(config)
    tr = cfg["training"]
    train_cases, val_cases = _split_validation(cases, tr["val_fraction"], tr["seed"])
    pairs, spacings = training_pairs(train_cases, cfg)
    if not pairs:
        raise ValueError("no annotated image to train on")
    net = cfg["network"]
    sampler = PatchSampler(pairs, spacings, [p * s for p, s in zip(cfg["input"]["patch_size"], spacings[0])],
                           batch_size=tr["batch_size"], batches_per_epoch=tr["val_every"],
                           foreground_fraction=tr["foreground_fraction"], multiple=net["divisor"],
                           flip_axes=cfg["flip_axes"], augment=cfg["augment"], seed=tr["seed"])
    val = None
    if val_cases:
        vpairs, vspacings = training_pairs(val_cases, cfg)
        if vpairs:
            val = PatchSampler(vpairs, vspacings, [p * s for p, s in zip(cfg["input"]["patch_size"], vspacings[0])],
                               batch_size=tr["batch_size"], multiple=net["divisor"],
                               seed=tr["seed"] + 1).fixed_batches(max(2, len(vpairs) // tr["batch_size"] + 1))
    guidance = cfg["input"]["guidance"]
    if guidance is not None:  # a click on an object of each training patch; validation clicks its deepest point
        sampler = ClickBatches(sampler, guidance["sigma_px"], seed=tr["seed"])
        val = None if val is None else list(ClickBatches(val, guidance["sigma_px"], seed=None))
    device, message = choose_device(tr["device"])
    if log is not None:
        log(message)
    model = build_network(net, seed=tr["seed"])

    def report(fraction, history):
        if log is not None and "running_loss" not in history and history.get("epoch"):
            log(f"iteration {history['iterations'][-1]}: loss {history['loss'][-1]:.4f}, "
                f"validation Dice {history['val_dice'][-1]:.4f} ({history['seconds'][-1]:.0f} s)")
        if progress is not None:
            progress(fraction, history)

    result = train(model, DiceCELoss(), sampler, val, num_classes=net["out_channels"],
                   max_epochs=-(-tr["iterations"] // tr["val_every"]), max_iterations=tr["iterations"], lr=tr["lr"],
                   weight_decay=tr["weight_decay"], seed=tr["seed"], device=device, progress=report, cancel=cancel,
                   precision=tr["precision"])
    model.eval()
    return model, result, cfg


def score_cases(model, card: dict, cases: Sequence[Case], num_classes: int) -> np.ndarray:
    """Per-case, per-class Dice ``(n_cases, num_classes)`` on each case's own grid (NaN where absent).

    A click-guided model (:mod:`.guidance`) is given a click at the deepest point of each
    object of the case's labels; a case without an object is not scored (NaN).
    """
    out = []
    guided = needs_clicks(card)
    for case in cases:
        labels = np.asarray(case.labels)
        if guided:  # a click at the deepest point of each object; a case without one has nothing to click
            clicks = deepest_points((labels > 0) & (labels != IGNORE_LABEL))
            if not clicks:
                out.append(np.full(num_classes, np.nan))
                continue
            pred = predict_image(model, card, case.image, case.spacing, clicks=clicks)
        else:
            pred = predict_image(model, card, case.image, case.spacing)
        out.append(dice_scores(dice_counts(pred, labels, num_classes)))
    return np.asarray(out, float)


def cross_validate(cases: Sequence[Case], config: dict[str, Any], k: int, *, seed: int = 0,
                   log: Callable[[str], Any] | None = None,
                   extra_scores: Callable[[Any, dict, Sequence[Case]], dict] | None = None) -> dict[str, Any]:
    """k-fold cross-validation: train on k-1 folds, score the held-out fold on its own grids.

    Parameters
    ----------
    cases : sequence of Case
    config : dict
        The training config (each fold trains with it).
    k : int
        Folds (``k == len(cases)`` is leave-one-case-out).
    seed : int
        Seed of the fold split.
    log : callable, optional
        Receives a line per fold.
    extra_scores : callable, optional
        ``extra_scores(model, card, test_cases)`` -> dict of further per-fold figures.

    Returns
    -------
    dict
        ``folds`` (per fold: case names, per-class Dice mean, seconds, extra figures),
        ``per_case`` (name -> per-class Dice), ``mean`` and ``sd`` per class over folds.
    """
    cfg = check_config(config)
    names = ["background"] + [c["name"] for c in sorted(cfg["classes"], key=lambda c: int(c["value"]))]
    report: dict[str, Any] = {"k": k, "seed": seed, "folds": [], "per_case": {}}
    for i, test_index in enumerate(folds(len(cases), k, seed)):
        test = [cases[j] for j in test_index]
        train_cases = [c for j, c in enumerate(cases) if j not in set(test_index.tolist())]
        start = time.perf_counter()
        model, result, _ = fit(train_cases, cfg, log=None if log is None else (lambda line: log(f"fold {i + 1}: {line}")))
        card = {"architecture": cfg["network"], "input": cfg["input"]}
        scores = score_cases(model, card, test, len(names))
        fold = {"fold": i + 1, "cases": [c.name for c in test], "seconds": round(time.perf_counter() - start, 1),
                "dice": {n: float(np.nanmean(scores[:, j])) for j, n in enumerate(names) if j}}
        if extra_scores is not None:
            fold.update(extra_scores(model, card, test))
        for case, row in zip(test, scores):
            report["per_case"][case.name] = {n: float(row[j]) for j, n in enumerate(names) if j}
        report["folds"].append(fold)
        if log is not None:
            log(f"fold {i + 1}/{k}: " + ", ".join(f"{n} {v:.3f}" for n, v in fold["dice"].items())
                + f" ({fold['seconds']:.0f} s)")
    report.update(summarise_folds(report["folds"]))
    return report


def summarise_folds(fold_reports: Sequence[dict]) -> dict[str, dict[str, float]]:
    """Mean and sample standard deviation over folds of every per-fold figure.

    Per-class Dice (``dice``) is keyed by the class name; other figures by their name (a
    dict-valued figure as ``"<figure> <key>"``). Folds where a figure is undefined (NaN: e.g.
    no normal image in the fold) are left out of its mean.

    Returns
    -------
    dict
        ``{"mean": {...}, "sd": {...}}``.
    """
    columns: dict[str, list[float]] = {}
    for fold in fold_reports:
        for key, value in fold.items():
            if key in ("fold", "cases", "seconds"):
                continue
            items = value.items() if isinstance(value, dict) else [(None, value)]
            for sub, number in items:
                name = key if sub is None else (sub if key == "dice" else f"{key} {sub}")
                columns.setdefault(name, []).append(float(number))
    mean, sd = {}, {}
    for name, values in columns.items():
        finite = np.asarray([v for v in values if np.isfinite(v)])
        mean[name] = float(finite.mean()) if finite.size else float("nan")
        sd[name] = float(finite.std(ddof=1)) if finite.size > 1 else 0.0
    return {"mean": mean, "sd": sd}


def model_card(cfg: dict[str, Any], result, *, training: dict | None = None, validation: dict | None = None,
               command: str | None = None) -> dict[str, Any]:
    """The card of a model trained by :func:`fit` (see :mod:`.checkpoint`)."""
    card = {
        "name": cfg["name"],
        "task": cfg.get("task", ""),
        "modality": cfg.get("modality", ""),
        "architecture": cfg["network"],
        "classes": [{"value": 0, "name": "background"}] + sorted(cfg["classes"], key=lambda c: int(c["value"])),
        "input": cfg["input"],
        "training": {"augment": cfg["augment"], "flip_axes": cfg["flip_axes"], **cfg["training"],
                     "iterations_run": result.iterations, "seconds": round(result.seconds, 1),
                     "best_iteration": (result.history["iterations"][result.best_epoch - 1]
                                        if result.best_epoch else result.iterations),
                     **(training or {})},
        "validation": validation or {},
    }
    if command:
        card["command"] = command
    return card
