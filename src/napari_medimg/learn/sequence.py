"""CNN + RNN over slices: a 2D CNN encodes each slice, a bidirectional GRU reads them in order.

Imports torch: import this module only where such a model is trained or applied.

:class:`SliceSequenceNet` labels every slice of a volume (e.g. "contains tumour") from the slice
and, through the GRU, from its neighbours above and below; with ``recurrent=False`` it is the
same encoder with a per-slice head (the baseline it is compared with). A volume-level
probability is the largest slice probability. Volumes are brought to one in-plane size and
normalised per volume (:func:`prepare_volume`); training draws runs of consecutive slices
(:class:`SliceRuns`), every slice of a run warped by the same random affine.

The network is registered in :mod:`.networks` as ``slice_sequence``, so checkpoints and cards
work as for every model.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .batch_augment import jitter_intensity, random_affine, warp
from .normalize import normalize

__all__ = ["SliceSequenceNet", "prepare_volume", "slice_targets", "SliceRuns", "fit_slice_model",
           "predict_slices", "f1_score", "DEFAULTS", "slice_classifier_card", "SliceClasses", "classify_volume_slices"]

#: Settings of a slice-sequence training run.
DEFAULTS: dict[str, Any] = {
    "network": {"name": "slice_sequence", "spatial_dims": 2, "in_channels": 1, "features": [16, 32, 64, 64],
                "hidden": 64, "recurrent": True},
    "size": [64, 64],
    "normalisation": {"kind": "mr"},
    "augment": {"rotate_deg": 10.0, "scale": 0.1, "shift": 0.05, "intensity_scale": 0.15, "intensity_shift": 0.1,
                "noise": 0.05},
    "training": {"iterations": 400, "run_length": 24, "batch_size": 4, "lr": 2e-3, "weight_decay": 1e-4,
                 "warmup": 20, "steps_per_epoch": 50, "seed": 0},
}


class SliceSequenceNet(torch.nn.Module):
    """Per-slice logits of a stack of slices ``(B, Z, C, H, W)`` -> ``(B, K, Z)``.

    Parameters
    ----------
    in_channels, out_channels : int
        Channels of a slice; classes of a slice.
    features : sequence of int
        Channels of the encoder's stages (each a 3x3 convolution, batch norm, ReLU and a 2x2
        max pool); global average pooling gives a slice's feature vector.
    hidden : int
        GRU units per direction.
    recurrent : bool
        With the bidirectional GRU across slices; False: each slice on its own.
    """

    def __init__(self, in_channels: int = 1, out_channels: int = 2, features: Sequence[int] = (16, 32, 64, 64),
                 hidden: int = 64, recurrent: bool = True):
        super().__init__()
        layers: list[torch.nn.Module] = []
        channels = in_channels
        for width in features:
            layers += [torch.nn.Conv2d(channels, width, 3, padding=1, bias=False), torch.nn.BatchNorm2d(width),
                       torch.nn.ReLU(inplace=True), torch.nn.MaxPool2d(2)]
            channels = width
        self.encoder = torch.nn.Sequential(*layers, torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
        self.recurrent = bool(recurrent)
        if self.recurrent:
            self.gru = torch.nn.GRU(channels, hidden, batch_first=True, bidirectional=True)
            channels = 2 * hidden
        self.dropout = torch.nn.Dropout(0.2)
        self.head = torch.nn.Linear(channels, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, z = x.shape[:2]
        codes = self.encoder(x.reshape(b * z, *x.shape[2:])).reshape(b, z, -1)
        if self.recurrent:
            codes, _ = self.gru(codes)
        return self.head(self.dropout(codes)).transpose(1, 2)  # (B, K, Z): the layout of a 1D segmentation


# ============================================================================ data
def prepare_volume(volume: np.ndarray, size: Sequence[int], normalisation: dict | None) -> np.ndarray:
    """A volume's slices (first axis) normalised over the volume and resized: ``(Z, 1, h, w)`` float32."""
    data = normalize(np.asarray(volume), normalisation)
    tensor = torch.from_numpy(np.ascontiguousarray(data, dtype=np.float32))[:, None]
    if tuple(tensor.shape[-2:]) != tuple(size):
        tensor = F.interpolate(tensor, size=tuple(size), mode="area")
    return tensor.numpy()


def slice_targets(labels: np.ndarray, min_voxels: int = 1) -> np.ndarray:
    """1 for each slice (first axis) holding at least ``min_voxels`` labelled voxels, else 0."""
    labels = np.asarray(labels)
    return ((labels > 0).reshape(labels.shape[0], -1).sum(1) >= min_voxels).astype(np.int64)


class SliceRuns:
    """Training batches of runs of consecutive slices from several volumes, augmented per run.

    Parameters
    ----------
    volumes : sequence of numpy.ndarray
        Prepared volumes ``(Z, 1, h, w)``.
    targets : sequence of numpy.ndarray
        Class of each slice.
    run_length, batch_size, steps : int
        Slices per run (shorter volumes give their whole length), runs per batch, batches per pass.
    augment : dict or None
        :mod:`.batch_augment` settings, one draw per run.
    seed : int
    """

    def __init__(self, volumes, targets, *, run_length: int, batch_size: int, steps: int, augment: dict | None,
                 seed: int = 0):
        self.volumes = [torch.from_numpy(v) for v in volumes]
        self.targets = [torch.from_numpy(np.asarray(t, np.int64)) for t in targets]
        self.run_length, self.batch_size, self.steps, self.augment = run_length, batch_size, steps, augment
        self.rng = np.random.default_rng(seed)
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return self.steps

    def __iter__(self):
        length = min(self.run_length, min(len(v) for v in self.volumes))
        for _ in range(self.steps):
            xs, ys = [], []
            for _ in range(self.batch_size):
                v = int(self.rng.integers(len(self.volumes)))
                start = int(self.rng.integers(0, len(self.volumes[v]) - length + 1))
                x = self.volumes[v][start:start + length]
                if self.augment:
                    theta = random_affine(1, self.augment, (), self.generator).expand(length, 2, 3)
                    # one intensity draw for the run: its slices as the channels of one image
                    x = jitter_intensity(warp(x, theta).reshape(1, -1, *x.shape[-2:]), self.augment,
                                         self.generator).reshape(x.shape)
                xs.append(x)
                ys.append(self.targets[v][start:start + length])
            yield torch.stack(xs), torch.stack(ys)


# ============================================================================ scores
def f1_score(truth: np.ndarray, predicted: np.ndarray, positive: int = 1) -> float:
    """F1 of the ``positive`` class (NaN when it is neither present nor predicted)."""
    truth, predicted = np.asarray(truth) == positive, np.asarray(predicted) == positive
    denominator = truth.sum() + predicted.sum()
    return float(2 * (truth & predicted).sum() / denominator) if denominator else float("nan")


def predict_slices(model, volume: np.ndarray, *, device="cpu") -> np.ndarray:
    """Class probabilities of every slice of a prepared volume ``(Z, 1, h, w)``: ``(Z, K)``."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            logits = model(torch.from_numpy(volume)[None].to(device))[0]
    finally:
        model.train(was_training)
    return torch.softmax(logits.float().cpu(), 0).T.numpy()


def fit_slice_model(volumes, targets, config: dict[str, Any] | None = None, *, val=None, device="cpu",
                    progress: Callable[[float, dict], Any] | None = None, cancel: Callable[[], bool] | None = None):
    """Train a :class:`SliceSequenceNet` on prepared volumes and their slice classes.

    Parameters
    ----------
    volumes, targets : sequences
        From :func:`prepare_volume` and :func:`slice_targets`.
    config : dict, optional
        Overrides of :data:`DEFAULTS` (section by section).
    val : (volumes, targets), optional
        Held-out volumes: the weights with the best F1 on them are kept.

    Returns
    -------
    model, result
    """
    from .networks import build_network
    from .train import train

    cfg = {key: ({**value, **(config or {}).get(key, {})} if isinstance(value, dict) else (config or {}).get(key, value))
           for key, value in DEFAULTS.items()}
    training = cfg["training"]
    k = int(max(int(np.max(t)) for t in targets)) + 1
    model = build_network({**cfg["network"], "out_channels": max(2, k)}, seed=int(training["seed"]))
    runs = SliceRuns(volumes, targets, run_length=int(training["run_length"]), batch_size=int(training["batch_size"]),
                     steps=int(training["steps_per_epoch"]), augment=cfg["augment"], seed=int(training["seed"]))

    def validate(net, data, dev):
        scores = [f1_score(t, predict_slices(net, v, device=dev).argmax(1)) for v, t in zip(*data)]
        return float(np.nanmean(scores)), scores

    epochs = -(-int(training["iterations"]) // int(training["steps_per_epoch"]))
    result = train(model, torch.nn.CrossEntropyLoss(), runs, val, num_classes=max(2, k), max_epochs=epochs,
                   max_iterations=int(training["iterations"]), lr=float(training["lr"]),
                   weight_decay=float(training["weight_decay"]), warmup=int(training["warmup"]),
                   seed=int(training["seed"]), device=device, progress=progress, cancel=cancel,
                   validate=validate if val is not None else None)
    model.eval()
    return model, result


def slice_classifier_card(cfg: dict[str, Any], result, *, name: str, task: str, modality: str,
                          class_names: Sequence[str], training: dict | None = None, validation: dict | None = None,
                          command: str | None = None) -> dict[str, Any]:
    """The model card of a slice classifier trained by :func:`fit_slice_model` (``kind: slice_classifier``).

    ``cfg`` is the run's settings (:data:`DEFAULTS` with its overrides); the card's
    ``input`` says how a volume is shown to the model (its axial slices, resized to
    ``size``, normalised as in training).
    """
    card = {"kind": "slice_classifier", "name": name, "task": task, "modality": modality,
            "architecture": {**cfg["network"], "out_channels": len(class_names)},
            "classes": [{"value": i, "name": n} for i, n in enumerate(class_names)],
            "input": {"size": list(cfg["size"]), "normalisation": cfg["normalisation"], "slices": "axial"},
            "training": {**cfg["training"], "iterations_run": result.iterations, "seconds": round(result.seconds, 1),
                         "augment": cfg["augment"], **(training or {})},
            "validation": validation or {}}
    if command:
        card["command"] = command
    return card


@dataclasses.dataclass
class SliceClasses:
    """Class probabilities of every slice of a volume, along the array axis nearest to axial.

    Attributes
    ----------
    axis : int
        The volume's array axis the slices are taken along (nearest to the patient's
        head-foot axis, so a sagittal series is still read as axial slices).
    probabilities : numpy.ndarray
        ``(n_slices, K)``, in the order of the volume's own array index along ``axis``.
    class_names : list of str
    """

    axis: int
    probabilities: np.ndarray
    class_names: list[str]

    @property
    def classes(self) -> np.ndarray:
        """The most probable class of each slice (index into ``class_names``)."""
        return self.probabilities.argmax(1)

    def table(self) -> dict[str, np.ndarray]:
        """``slice``, ``class``, ``probability`` (of that class), then one probability column per class."""
        chosen = self.classes
        columns = {"slice": np.arange(len(chosen)), "class": np.asarray(self.class_names)[chosen],
                   "probability": self.probabilities[np.arange(len(chosen)), chosen]}
        columns.update({n: self.probabilities[:, k] for k, n in enumerate(self.class_names)})
        return columns

    def summary(self) -> str:
        """Which slices hold the last class (e.g. tumour) and the volume's probability of it."""
        found = np.flatnonzero(self.classes == len(self.class_names) - 1)
        name = self.class_names[-1]
        volume_p = float(self.probabilities[:, -1].max()) if len(self.probabilities) else float("nan")
        where = f"slices {found[0]}-{found[-1]} ({len(found)} of {len(self.classes)})" if len(found) else "no slice"
        return f"{name}: {where}; volume probability {volume_p:.2f} (its most likely slice)"


def classify_volume_slices(model, card: dict, volume, *, device="cpu") -> SliceClasses:
    """Every slice of a volume classified by a slice classifier (CNN + GRU over the slices).

    Parameters
    ----------
    model : torch.nn.Module
        A :class:`SliceSequenceNet` from its checkpoint.
    card : dict
        Its card (``input.size``, ``input.normalisation``, ``classes``).
    volume : Volume
        A 3D study; it is read along the array axis nearest to the head-foot axis.

    Returns
    -------
    SliceClasses
    """
    from ..io.orientation import to_nearest_axes

    if volume.spatial_ndim != 3 or volume.leading_shape:
        raise ValueError("a slice classifier reads the slices of one 3D volume; this image has shape "
                         f"{volume.array.shape}")
    from .apply import without_nan

    shown, how = to_nearest_axes(volume)
    data, _ = without_nan(shown.array, "slice classifier", "read as the volume's median")
    info = card["input"]
    probabilities = predict_slices(model, prepare_volume(data, info["size"], info.get("normalisation")),
                                   device=device)
    if how.flips[0]:  # the axial axis of the shown volume runs against the source's
        probabilities = probabilities[::-1]
    return SliceClasses(int(how.order[0]), np.ascontiguousarray(probabilities),
                        [c["name"] for c in card["classes"]])


def leave_one_group_out(volumes, targets, groups: Sequence[str], config: dict[str, Any] | None = None, *,
                        log: Callable[[str], Any] | None = None) -> list[dict]:
    """Train on all groups (patients) but one, score the slices of the one left out; per held-out group.

    Returns
    -------
    list of dict
        ``group``, ``f1`` (over all its volumes' slices), ``volumes``, ``slices``, ``seconds``.
    """
    reports = []
    for group in sorted(set(groups)):
        start = time.perf_counter()
        train_index = [i for i, g in enumerate(groups) if g != group]
        test_index = [i for i, g in enumerate(groups) if g == group]
        model, _ = fit_slice_model([volumes[i] for i in train_index], [targets[i] for i in train_index], config)
        truth = np.concatenate([targets[i] for i in test_index])
        predicted = np.concatenate([predict_slices(model, volumes[i]).argmax(1) for i in test_index])
        reports.append({"group": group, "f1": f1_score(truth, predicted), "volumes": len(test_index),
                        "slices": int(len(truth)), "seconds": round(time.perf_counter() - start, 1)})
        if log is not None:
            log(f"{group}: F1 {reports[-1]['f1']:.3f} over {len(truth)} slices ({reports[-1]['seconds']:.0f} s)")
    return reports
