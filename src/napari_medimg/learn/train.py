"""The one training loop shared by every model kind (segmentation, classifiers, landmarks, slice sequences).

Imports torch: import this module only where a model is trained.

A model kind brings a network (:mod:`.networks`) and a loss (:mod:`.losses`); this loop does
the rest: AdamW, a learning-rate schedule, validation each epoch, early stopping,
deterministic seeding, progress and cancel callbacks, history, and the best weights.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from . import IGNORE_LABEL
from .losses import labelled_mask
from .metrics import dice_scores

__all__ = ["TrainResult", "train", "dice_scores", "evaluate"]


@dataclass
class TrainResult:
    """What :func:`train` returns.

    Attributes
    ----------
    history : dict of list
        Per completed epoch: ``epoch``, ``iterations`` (total so far), ``loss`` (mean training
        loss), ``val_dice`` (mean foreground Dice, NaN without validation), ``val_dice_per_class``,
        ``lr`` and ``seconds`` (since the start).
    best_state : dict
        State dict (CPU tensors) of the best epoch: highest validation Dice, or lowest
        training loss without validation; the latest weights if no epoch completed.
    best_epoch : int
        The epoch ``best_state`` comes from (0 when no epoch completed).
    best_metric : float
        Its validation Dice (or training loss without validation).
    stopped : str
        ``"max_epochs"``, ``"max_iterations"``, ``"early_stopping"`` or ``"cancelled"``.
    iterations : int
        Optimiser steps taken.
    seconds : float
        Wall time of the loop.
    """

    history: dict[str, list] = field(default_factory=dict)
    best_state: dict[str, Any] = field(default_factory=dict)
    best_epoch: int = 0
    best_metric: float = float("nan")
    stopped: str = ""
    iterations: int = 0
    seconds: float = 0.0

    @property
    def iterations_per_second(self) -> float:
        """Optimiser steps per second of wall time (validation included)."""
        return self.iterations / self.seconds if self.seconds > 0 else float("nan")


def _counts(pred: torch.Tensor, target: torch.Tensor, k: int, ignore_label: int) -> np.ndarray:
    mask = labelled_mask(target, ignore_label)
    pred, target = pred[mask], target[mask]
    out = np.zeros((k, 3), np.int64)
    for c in range(k):
        p, t = pred == c, target == c
        out[c] = (int((p & t).sum()), int(p.sum()), int(t.sum()))
    return out


def _tensors(batch, device) -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = batch
    images = torch.as_tensor(np.asarray(images) if not torch.is_tensor(images) else images, dtype=torch.float32)
    labels = torch.as_tensor(np.asarray(labels) if not torch.is_tensor(labels) else labels)
    # class labels become long; float targets (landmark coordinates) stay as they are
    labels = labels.float() if labels.is_floating_point() else labels.long()
    if labels.ndim == images.ndim:
        labels = labels[:, 0]
    return images.to(device), labels.to(device)


def evaluate(model: torch.nn.Module, batches: Iterable, num_classes: int, *, ignore_label: int = IGNORE_LABEL,
             device="cpu") -> np.ndarray:
    """Dice per class of ``model`` over validation batches, counted over all annotated voxels.

    Parameters
    ----------
    model : torch.nn.Module
        Returns logits ``(B, K, *spatial)``.
    batches : iterable of (images, labels)
        ``(B, C, *spatial)`` and ``(B, *spatial)`` arrays or tensors.
    num_classes : int
        K, background included.
    ignore_label : int
        Unannotated voxels' label.
    device : str or torch.device
        Where to run.

    Returns
    -------
    numpy.ndarray
        Dice of each class (index 0 = background); NaN where a class is absent.
    """
    counts = np.zeros((num_classes, 3), np.int64)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for batch in batches:
                images, labels = _tensors(batch, device)
                pred = model(images).argmax(1)
                counts += _counts(pred, labels, num_classes, ignore_label)
    finally:
        model.train(was_training)
    return dice_scores(counts)


def _array_batches(data, batch_size: int, rng: np.random.Generator):
    images, labels = data
    order = rng.permutation(len(images))
    for i in range(0, len(order), batch_size):
        idx = np.sort(order[i:i + batch_size])
        yield images[idx], labels[idx]


def _schedule(name: str, total: int | None, warmup: int):
    if name not in ("cosine", "constant"):
        raise ValueError(f"unknown learning-rate schedule {name!r}: 'cosine' or 'constant'")

    def factor(step: int) -> float:
        if warmup and step < warmup:
            return (step + 1) / warmup
        if name == "constant" or not total:
            return 1.0
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return 0.02 + 0.98 * 0.5 * (1.0 + math.cos(math.pi * progress))

    return factor


def _state(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def train(model: torch.nn.Module, loss: torch.nn.Module, train_data, val_data=None, *, num_classes: int,
          max_epochs: int = 100, max_iterations: int | None = None, lr: float = 1e-3, weight_decay: float = 1e-4,
          schedule: str = "cosine", warmup: int = 0, batch_size: int = 4, patience: int | None = None,
          min_delta: float = 0.0, ignore_label: int = IGNORE_LABEL, seed: int = 0, device="cpu",
          progress: Callable[[float, dict], Any] | None = None, cancel: Callable[[], bool] | None = None,
          restore_best: bool = True, validate: Callable[..., tuple[float, list]] | None = None,
          precision: str = "float32") -> TrainResult:
    """Train ``model`` and keep its best weights.

    Parameters
    ----------
    model : torch.nn.Module
        Returns logits ``(B, K, *spatial)``; moved to ``device``.
    loss : torch.nn.Module
        ``loss(logits, labels)``, e.g. :class:`.losses.DiceCELoss`.
    train_data : iterable of (images, labels), or a tuple of two arrays
        One pass is one epoch (a :class:`.patches.PatchSampler`, a list of batches, a
        DataLoader). A tuple ``(images (N, C, *spatial), labels (N, *spatial))`` is shuffled
        into batches of ``batch_size`` each epoch.
    val_data : iterable of (images, labels), tuple of arrays, or None
        Validated after each epoch (mean foreground Dice over annotated voxels).
    num_classes : int
        K, background included.
    max_epochs, max_iterations : int
        Stop after this many epochs or optimiser steps, whichever comes first.
    lr, weight_decay : float
        AdamW settings.
    schedule : {"cosine", "constant"}
        Learning rate per step (cosine decays to 2 % of ``lr`` at the last step, when the
        number of steps is known), after ``warmup`` linear warm-up steps.
    batch_size : int
        Only for array input.
    patience : int, optional
        Early stopping: stop when the validation Dice has not improved by more than
        ``min_delta`` for this many epochs.
    ignore_label : int
        Unannotated voxels' label (for the metric; the loss has its own).
    seed : int
        Seeds torch (and the shuffling of array input); torch's global random state is
        restored afterwards. Build the network with ``build_network(config, seed=...)``
        and give a sampler its seed for a fully repeatable run.
    device : str or torch.device
        Where to train (see :func:`.device.choose_device`).
    progress : callable, optional
        ``progress(fraction, history)`` after every step (``history`` is the running
        history, with the current epoch's running loss under ``"running_loss"``).
    cancel : callable, optional
        Polled before every step; returning True stops within one step.
    restore_best : bool
        Load ``best_state`` into ``model`` before returning.
    validate : callable, optional
        ``validate(model, val_data, device) -> (metric, per_class)``, higher is better, in place
        of the mean foreground Dice (a classifier's ROC AUC, say); recorded under the same
        history keys.
    precision : {"float32", "bfloat16"}
        The forward pass's compute dtype. bfloat16 autocast (the loss and the weights stay
        float32) about halves a step's time on CPUs with AVX-512 BF16 or AMX; where the
        hardware only emulates it, training runs in float32 with a warning.

    Returns
    -------
    TrainResult
    """
    from .sliding_window import resolve_dtype

    device = torch.device(device)
    low_precision = resolve_dtype(precision, device) == "bfloat16"
    model.to(device)
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    if isinstance(train_data, tuple):
        per_epoch = -(-len(train_data[0]) // batch_size)
    else:
        per_epoch = len(train_data) if hasattr(train_data, "__len__") else None
    known = [n for n in (max_iterations, per_epoch * max_epochs if per_epoch else None) if n]
    total = min(known) if known else None  # steps in the whole run, when known
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimiser, _schedule(schedule, total, warmup))
    history: dict[str, list] = {k: [] for k in ("epoch", "iterations", "loss", "val_dice", "val_dice_per_class",
                                                "lr", "seconds")}
    result = TrainResult(history=history, best_state=_state(model))
    higher_is_better = val_data is not None
    best = -math.inf if higher_is_better else math.inf
    stale = 0
    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    step = 0
    stopped = "max_epochs"
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for epoch in range(1, max_epochs + 1):
            model.train()
            losses: list[float] = []
            batches = _array_batches(train_data, batch_size, rng) if isinstance(train_data, tuple) else train_data
            for batch in batches:
                if cancel is not None and cancel():
                    stopped = "cancelled"
                    break
                images, labels = _tensors(batch, device)
                optimiser.zero_grad(set_to_none=True)
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=low_precision):
                    logits = model(images)
                value = loss(logits.float(), labels)
                value.backward()
                optimiser.step()
                scheduler.step()
                step += 1
                losses.append(float(value.detach()))
                if progress is not None:
                    frac = step / total if total else epoch / max_epochs
                    progress(min(1.0, frac), {**history, "running_loss": float(np.mean(losses))})
                if max_iterations is not None and step >= max_iterations:
                    stopped = "max_iterations"
                    break
            if stopped == "cancelled" or not losses:
                break
            if val_data is not None and validate is not None:
                metric, per_class = validate(model, val_data, device)
            elif val_data is not None:
                vbatches = _array_batches(val_data, batch_size, np.random.default_rng(0)) \
                    if isinstance(val_data, tuple) else val_data
                per_class = evaluate(model, vbatches, num_classes, ignore_label=ignore_label, device=device)
                fg = per_class[1:] if num_classes > 1 else per_class
                metric = float(np.nanmean(fg)) if np.isfinite(fg).any() else 0.0
            else:
                per_class, metric = np.full(num_classes, np.nan), float("nan")
            history["epoch"].append(epoch)
            history["iterations"].append(step)
            history["loss"].append(float(np.mean(losses)))
            history["val_dice"].append(metric)
            history["val_dice_per_class"].append([float(x) for x in per_class])
            history["lr"].append(float(optimiser.param_groups[0]["lr"]))
            history["seconds"].append(time.perf_counter() - start)
            score = metric if higher_is_better else history["loss"][-1]
            improved = score > best + min_delta if higher_is_better else score < best - min_delta
            if improved or result.best_epoch == 0:
                best, stale = score, 0
                result.best_state, result.best_epoch, result.best_metric = _state(model), epoch, score
            else:
                stale += 1
            if progress is not None:
                progress(min(1.0, step / total if total else epoch / max_epochs), dict(history))
            if stopped == "max_iterations":
                break
            if patience is not None and stale >= patience:
                stopped = "early_stopping"
                break
    if result.best_epoch == 0:
        result.best_state = _state(model)
    result.stopped, result.iterations = stopped, step
    result.seconds = time.perf_counter() - start
    if restore_best:
        model.load_state_dict(result.best_state)
    return result
