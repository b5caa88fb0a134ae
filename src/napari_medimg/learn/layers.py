"""Training a segmentation model from partly painted label arrays (what a napari Labels layer holds).

numpy only at import; torch and MONAI are imported when a model is trained, loaded or run.

The painting convention
-----------------------
A researcher paints a few slices of a structure over an image. In the label array, 0 means
*not painted*. Slices are taken along the first axis (the axial slices of a volume read by
this plugin); a 2D image is one slice. The model is a 2D U-Net trained on the painted slices
at their in-plane spacing and applied slice by slice.

``background="unpainted"`` (the default, what a radiologist expects when outlining a
structure): every slice that carries any paint is complete. Its painted values are the
classes and its unpainted voxels are background. Slices with no paint are left out.

``background=<label value>`` (scribbles): the user paints the background too, with that
label value. Only painted voxels are used; unpainted voxels are ignored (label
:data:`~napari_medimg.learn.IGNORE_LABEL` for the loss and the metrics), also in painted slices.

The classes are the painted label values other than the background, in increasing order:
class ``i`` (1, 2, ...) is the ``i``-th value, and a prediction is mapped back to those values
(background 0), so it takes the painted layer's values and colours.

Validation: with three or more painted slices, every fifth one (at least one, taken from the
inside of the list) is held out and never trained on, and the validation Dice is measured on
it. With fewer, the Dice is measured on training slices, and the card says so.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..dtypes import as_labels
from . import IGNORE_LABEL
from .data import prepare_pairs
from .normalize import check_normalisation, normalize

__all__ = [
    "UNPAINTED",
    "NETWORK_SIZES",
    "TrainingData",
    "TrainingSession",
    "painted_slices",
    "class_values",
    "encode_labels",
    "validation_split",
    "training_data",
    "network_config",
    "batches_per_epoch",
]

#: ``background`` value meaning "unpainted voxels of a painted slice are background".
UNPAINTED = "unpainted"

#: Network size -> BasicUNet features (6 numbers: encoder levels and the last decoder).
NETWORK_SIZES = {
    "tiny": [8, 8, 16, 32, 64, 8],
    "small": [16, 16, 32, 64, 128, 16],
    "standard": [32, 32, 64, 128, 256, 32],
}

_MAX_CLASSES = IGNORE_LABEL - 1  # class indices must stay below the ignore value
_VALIDATION_EVERY = 5
_VALIDATION_BATCHES = 4


def _as_slices(array: np.ndarray) -> np.ndarray:
    """A 2D array as one slice ``(1, y, x)``; a 3D array as it is; anything else refused."""
    array = np.asarray(array)
    if array.ndim == 2:
        return array[None]
    if array.ndim == 3:
        return array
    raise ValueError(f"a 2D or 3D image is needed (one channel, no time axis), got shape {array.shape}")


def painted_slices(labels: np.ndarray) -> np.ndarray:
    """Indices (along the first axis) of the slices carrying any paint; ``[0]`` or ``[]`` for a 2D array."""
    slices = _as_slices(labels)
    return np.flatnonzero(slices.reshape(len(slices), -1).any(axis=1))


def class_values(labels: Sequence[np.ndarray], background: str | int = UNPAINTED) -> list[int]:
    """The painted label values that are classes (all but 0 and the background label), sorted.

    Raises
    ------
    ValueError
        When nothing but background is painted.
    """
    found: set[int] = set()
    for array in labels:
        found.update(int(v) for v in np.unique(np.asarray(array)))
    values = sorted(v for v in found if v != 0 and (background == UNPAINTED or v != int(background)))
    if not values:
        what = "anything" if background == UNPAINTED else f"a label other than the background label {background}"
        raise ValueError(f"nothing to learn: paint the structure ({what}) on a few slices of the labels layer")
    if len(values) > _MAX_CLASSES:
        raise ValueError(f"{len(values)} painted label values; at most {_MAX_CLASSES} classes can be trained")
    return values


def encode_labels(labels: np.ndarray, values: Sequence[int], background: str | int = UNPAINTED) -> np.ndarray:
    """Painted labels of one slice (or any array) as class indices for training.

    Parameters
    ----------
    labels : numpy.ndarray
        Painted label values, 0 = not painted.
    values : sequence of int
        The class label values (see :func:`class_values`); class ``i`` is ``values[i - 1]``.
    background : "unpainted" or int
        See the module docstring.

    Returns
    -------
    numpy.ndarray
        uint8: 0 background, ``1..len(values)`` the classes, :data:`IGNORE_LABEL` not annotated.

    Raises
    ------
    ValueError
        For a painted value that is neither a class nor the background.
    """
    labels = np.asarray(labels)
    lookup = {0: 0 if background == UNPAINTED else IGNORE_LABEL}
    if background != UNPAINTED:
        lookup[int(background)] = 0
    lookup.update({int(v): i for i, v in enumerate(values, start=1)})
    present = np.unique(labels)
    unknown = [int(v) for v in present if int(v) not in lookup]
    if unknown:
        raise ValueError(f"painted label values {unknown} are not among the model's classes {list(values)}")
    out = np.full(labels.shape, IGNORE_LABEL, np.uint8)
    for value in present:
        out[labels == value] = lookup[int(value)]
    return out


def validation_split(count: int) -> np.ndarray:
    """Which of ``count`` painted slices are held out: every fifth, from the inside; none for fewer than 3."""
    if count < 3:
        return np.zeros(0, np.intp)
    n = max(1, int(round(count / _VALIDATION_EVERY)))
    return np.unique(np.round(np.linspace(0, count - 1, n + 2)[1:-1]).astype(np.intp))


@dataclass
class TrainingData:
    """Painted slices ready for :class:`~.patches.PatchSampler` (see :func:`training_data`).

    Attributes
    ----------
    train, val : list of (image, labels)
        2D float32 normalised images and uint8 class labels at ``spacing``; ``val`` is
        ``train`` when no slice could be held out.
    spacing : tuple of float
        In-plane spacing (mm) of all pairs (the first image's).
    values : list of int
        Label value of each class 1, 2, ...
    background : "unpainted" or int
        The painting convention used.
    normalisation : dict
        The intensity normalisation applied (see :mod:`.normalize`).
    held_out : bool
        Whether ``val`` are held-out slices (else the Dice is a training Dice).
    slices : list of (int, int)
        ``(case, slice index)`` of the training slices; ``val_slices`` likewise.
    """

    train: list[tuple[np.ndarray, np.ndarray]]
    val: list[tuple[np.ndarray, np.ndarray]]
    spacing: tuple[float, float]
    values: list[int]
    background: str | int
    normalisation: dict
    held_out: bool
    slices: list[tuple[int, int]] = field(default_factory=list)
    val_slices: list[tuple[int, int]] = field(default_factory=list)

    @property
    def num_classes(self) -> int:
        """Classes including background."""
        return len(self.values) + 1

    def summary(self) -> str:
        """One sentence: how many slices train and validate."""
        cases = len({c for c, _ in self.slices + self.val_slices})
        total = len(self.slices) + len(self.val_slices)
        val = f"{len(self.val_slices)} held out for validation" if self.held_out else \
            "validation Dice on the training slices (paint 3 or more slices to hold some out)"
        return f"{total} painted slice(s) in {cases} image(s): {len(self.slices)} for training, {val}"


def training_data(cases: Sequence[tuple[np.ndarray, np.ndarray, Sequence[float]]], *,
                  background: str | int = UNPAINTED, normalisation: dict | None = None,
                  values: Sequence[int] | None = None) -> TrainingData:
    """Painted slices of (image, labels, spacing) cases as training and validation pairs.

    Parameters
    ----------
    cases : sequence of (image, labels, spacing)
        2D or 3D image, painted labels of the same shape (0 = not painted), spacing in mm
        per axis (array order).
    background : "unpainted" or int
        See the module docstring.
    normalisation : dict, optional
        See :mod:`.normalize`; applied to each whole image before slicing (as
        :meth:`TrainingSession.predict` does). None: ``{"kind": "percentile"}``.
    values : sequence of int, optional
        The class label values (a model being fine-tuned brings its own); by default
        those painted (:func:`class_values`).

    Returns
    -------
    TrainingData

    Raises
    ------
    ValueError
        No case, shapes that differ, nothing painted, or painted values a given
        ``values`` does not know.
    """
    if not cases:
        raise ValueError("choose an image and its labels layer")
    spec = check_normalisation(normalisation or {"kind": "percentile"})
    stacks = []
    for i, (image, labels, spacing) in enumerate(cases):
        image, labels = np.asarray(image), np.asarray(labels)
        if image.shape != labels.shape:
            raise ValueError(f"pair {i + 1}: the image's shape {image.shape} differs from its labels' {labels.shape}")
        if len(spacing) != image.ndim:
            raise ValueError(f"pair {i + 1}: spacing {tuple(spacing)} does not fit a {image.ndim}D image")
        stacks.append((_as_slices(image), _as_slices(labels), tuple(float(s) for s in spacing[-2:])))
    values = list(values) if values is not None else class_values([s[1] for s in stacks], background)
    chosen = [(c, int(z)) for c, (_, lab, _) in enumerate(stacks) for z in painted_slices(lab)]
    if not chosen:
        raise ValueError("nothing is painted: paint the structure on a few slices of the labels layer")
    held = set(validation_split(len(chosen)).tolist())
    normalised = {c: normalize(stacks[c][0], spec) for c in sorted({c for c, _ in chosen})}
    pairs = [(normalised[c][z], encode_labels(stacks[c][1][z], values, background)) for c, z in chosen]
    spacings = [stacks[c][2] for c, _ in chosen]
    target = stacks[chosen[0][0]][2]
    pairs = prepare_pairs(pairs, spacings, target_spacing=target)
    train = [p for k, p in enumerate(pairs) if k not in held]
    val = [p for k, p in enumerate(pairs) if k in held]
    return TrainingData(train=train, val=val or train, spacing=target, values=values, background=background,
                        normalisation=spec, held_out=bool(val),
                        slices=[s for k, s in enumerate(chosen) if k not in held],
                        val_slices=[s for k, s in enumerate(chosen) if k in held])


def network_config(size: str, num_classes: int) -> dict[str, Any]:
    """A 2D BasicUNet config (:mod:`.networks`) of a named size for one input channel."""
    if size not in NETWORK_SIZES:
        raise ValueError(f"unknown network size {size!r}: one of {', '.join(NETWORK_SIZES)}")
    return {"name": "basic_unet", "spatial_dims": 2, "in_channels": 1, "out_channels": int(num_classes),
            "features": list(NETWORK_SIZES[size])}


def batches_per_epoch(iterations: int) -> int:
    """Optimiser steps per epoch: about 8 points on the curves for short runs, 25 steps at most."""
    return max(1, min(25, int(iterations) // 8))


def _labelling(background: str | int) -> str:
    """The painting convention in words, for the model card."""
    how = "unpainted voxels of painted slices" if background == UNPAINTED else \
        f"label {background}, unpainted voxels ignored"
    return f"painted slices along the first axis; background: {how}"


def _colour(colours: dict[int, Sequence[float]] | None, value: int) -> dict[str, list[float]]:
    if not colours or value not in colours:
        return {}
    return {"color": [round(float(c), 4) for c in list(colours[value])[:3]]}


class TrainingSession:
    """One model being trained, stopped, resumed, saved and used, for a widget or a script.

    Parameters
    ----------
    size : str
        A key of :data:`NETWORK_SIZES` (for a new model).
    seed : int
        Seeds the network's initial weights, the patch sampling and the loop.

    Attributes
    ----------
    card : dict or None
        The model card of the current weights (None before any training or loading).
    state : dict or None
        The current (best) weights, CPU tensors.
    history : dict of list
        ``iterations`` (cumulative over runs), ``loss`` and ``val_dice`` per epoch, over all
        runs of this session and of the checkpoint it was loaded from.
    device_message : str
        Which device the last run took and why.

    Examples
    --------
    >>> session = TrainingSession("tiny")                               # doctest: +SKIP
    >>> data = training_data([(image, painted, spacing)])               # doctest: +SKIP
    >>> session.train(data, patch_mm=(32, 32), iterations=200)          # doctest: +SKIP
    >>> session.save("tumour.safetensors")                              # doctest: +SKIP
    >>> labels = session.predict(image, spacing)                        # doctest: +SKIP
    """

    def __init__(self, size: str = "small", seed: int = 0) -> None:
        network_config(size, 2)  # checks the size
        self.size, self.seed = size, int(seed)
        self.card: dict[str, Any] | None = None
        self.state: dict[str, Any] | None = None
        self.history: dict[str, list] = {"iterations": [], "loss": [], "val_dice": []}
        self.device_message = ""

    @property
    def has_model(self) -> bool:
        """Whether there are weights to resume from, save or predict with."""
        return self.state is not None and self.card is not None

    @property
    def values(self) -> list[int] | None:
        """The class label values of the current model (None without one)."""
        return None if self.card is None else [int(c["value"]) for c in self.card["classes"][1:]]

    @property
    def normalisation(self) -> dict | None:
        """The current model's input normalisation (None without one)."""
        return None if self.card is None else self.card["input"]["normalisation"]

    def train(self, data: TrainingData, *, patch_mm: Sequence[float] = (64.0, 64.0), iterations: int = 200,
              device: str = "auto", batch_size: int = 4, lr: float = 1e-3,
              progress: Callable[[float, dict], Any] | None = None, cancel: Callable[[], bool] | None = None,
              names: dict[int, str] | None = None, colours: dict[int, Sequence[float]] | None = None,
              sources: Sequence[str] = ()):
        """Train a new model, or go on from the current weights (resume / fine-tune).

        Parameters
        ----------
        data : TrainingData
            From :func:`training_data`; with a current model, its classes must be the model's.
        patch_mm : sequence of float
            In-plane patch size in mm (rounded to the network's divisor in voxels).
        iterations : int
            Optimiser steps of this run.
        device : str
            See :func:`.device.choose_device`.
        batch_size : int
            Patches per step.
        lr : float
            Peak learning rate (cosine decay over the run).
        progress : callable, optional
            ``progress(fraction, history)`` after every step, ``history`` as :attr:`history`
            with this run's finished epochs appended (and ``running_loss``).
        cancel : callable, optional
            Polled before every step; True stops within one step, keeping the best weights.
        names, colours : dict, optional
            Class name and RGB(A) colour (0-1) per label value, for the card.
        sources : sequence of str
            Names of the training images, for the card.

        Returns
        -------
        napari_medimg.learn.train.TrainResult
            This run's result; :attr:`state` and :attr:`card` hold its best weights.
        """
        from .device import choose_device
        from .losses import DiceCELoss
        from .networks import build_network, check_config
        from .patches import PatchSampler
        from .train import train

        self._check_classes(data)
        torch_device, self.device_message = choose_device(device)
        config = self.card["architecture"] if self.card else check_config(network_config(self.size, data.num_classes))
        model = build_network(config, seed=self.seed)
        if self.state is not None:
            model.load_state_dict(self.state)
        per_epoch = batches_per_epoch(iterations)
        sampler = PatchSampler(data.train, data.spacing, patch_mm, batch_size=batch_size, batches_per_epoch=per_epoch,
                               multiple=config["divisor"], seed=self.seed + len(self.history["loss"]))
        val = PatchSampler(data.val, data.spacing, patch_mm, batch_size=batch_size,
                           multiple=config["divisor"]).fixed_batches(_VALIDATION_BATCHES)
        before = {k: list(v) for k, v in self.history.items()}
        done = before["iterations"][-1] if before["iterations"] else 0

        def merged(history: dict) -> dict:
            out = {"iterations": before["iterations"] + [done + i for i in history.get("iterations", [])],
                   "loss": before["loss"] + list(history.get("loss", [])),
                   "val_dice": before["val_dice"] + list(history.get("val_dice", []))}
            if "running_loss" in history:
                out["running_loss"] = history["running_loss"]
            return out

        result = train(model, DiceCELoss(), sampler, val, num_classes=data.num_classes,
                       max_epochs=math.ceil(iterations / per_epoch), max_iterations=iterations, lr=lr,
                       seed=self.seed, device=torch_device, cancel=cancel,
                       progress=None if progress is None else (lambda f, h: progress(f, merged(h))))
        self.history = merged(result.history)
        self.history.pop("running_loss", None)
        self.state = result.best_state
        self.card = self._card(config, data, sampler.patch_size, patch_mm, result, names or {}, colours, sources)
        return result

    def _check_classes(self, data: TrainingData) -> None:
        if self.card is not None and self.values != list(data.values):
            raise ValueError(f"the model's classes are label values {self.values}; the training data's are "
                             f"{list(data.values)}: paint the same labels, or start a new model")

    def _card(self, config, data, patch_size, patch_mm, result, names, colours, sources) -> dict[str, Any]:
        previous = (self.card or {}).get("training", {})
        best = float(result.best_metric) if np.isfinite(result.best_metric) else None
        classes = [{"value": 0, "name": "background"}]
        classes += [{"value": int(v), "name": names.get(int(v)) or f"label {v}", **_colour(colours, int(v))}
                    for v in data.values]
        return {
            "task": "segmentation",
            "architecture": config,
            "classes": classes,
            "input": {"spacing": [float(s) for s in data.spacing], "normalisation": data.normalisation,
                      "patch_size": [int(p) for p in patch_size], "patch_mm": [float(p) for p in patch_mm],
                      "slice_axis": 0},
            "training": {
                "data": list(previous.get("data", [])) + [s for s in sources if s not in previous.get("data", [])],
                "labelling": _labelling(data.background),
                "iterations": self.history["iterations"][-1] if self.history["iterations"] else 0,
                "stopped": result.stopped,
                "history": self.history,
                "licence": "trained by the user on their own images",
            },
            "validation": {"kind": "held-out painted slices" if data.held_out else "training slices",
                           "slices": len(data.val_slices) if data.held_out else len(data.slices),
                           "mean_foreground_dice": best,
                           "best_epoch": int(result.best_epoch)},
        }

    def save(self, path: str | os.PathLike):
        """Write the current weights and card (see :func:`.checkpoint.save_checkpoint`).

        Returns
        -------
        pathlib.Path
            The weights file written.
        """
        from .checkpoint import save_checkpoint

        if not self.has_model:
            raise ValueError("no model yet: train one first (or load a checkpoint)")
        card = {**self.card, "command": "napari-medimg Train widget / napari_medimg.learn.layers.TrainingSession"}
        return save_checkpoint(path, None, card, state_dict=self.state)

    @classmethod
    def load(cls, path: str | os.PathLike, seed: int = 0) -> "TrainingSession":
        """A session holding a checkpoint's weights, card and history, to resume, fine-tune or predict.

        Raises
        ------
        napari_medimg.learn.checkpoint.ModelFileError
            For an unsafe or broken checkpoint; ValueError for one that is not a 2D slice model.
        """
        from .checkpoint import load_checkpoint

        model, card = load_checkpoint(path)
        arch = card["architecture"]
        if card.get("kind", "segmentation") != "segmentation":
            raise ValueError(f"{path}: an image classifier, not a segmentation model; open it in Classify images")
        if arch.get("spatial_dims") != 2 or arch.get("in_channels") != 1 or "classes" not in card:
            raise ValueError(f"{path}: not a 2D one-channel segmentation model with classes (this widget's kind)")
        session = cls(seed=seed)
        session.state = {k: v.detach().to("cpu") for k, v in model.state_dict().items()}
        session.card = card
        history = card.get("training", {}).get("history", {})
        session.history = {k: list(history.get(k, [])) for k in ("iterations", "loss", "val_dice")}
        return session

    def predict(self, image: np.ndarray, spacing: Sequence[float], *, device: str = "auto",
                progress: Callable[[float], Any] | None = None, cancel: Callable[[], bool] | None = None,
                batch_size: int = 8, uncertainty: bool = False):
        """Labels for a 2D or 3D image, slice by slice (:func:`.apply.predict_image`), with the painted label values.

        Parameters
        ----------
        image : numpy.ndarray
            2D or 3D (slices along the first axis).
        spacing : sequence of float
            The image's spacing in mm, one per axis.
        device : str
            See :func:`.device.choose_device`.
        progress, cancel : callable, optional
            ``progress(fraction)`` after each slice; ``cancel()`` before each.
        batch_size : int
            Sliding windows per forward pass.
        uncertainty : bool
            Also return the uncertainty map (uint8 0-100, entropy; see :func:`.apply.predict_image`).

        Returns
        -------
        numpy.ndarray or tuple of numpy.ndarray
            The image's shape; each class's label value, 0 for background; smallest unsigned
            dtype. With ``uncertainty=True``: ``(labels, uncertainty)``.

        Raises
        ------
        napari_medimg.progress.OperationCancelled
            When ``cancel()`` returned True.
        """
        from .apply import predict_image
        from .device import choose_device
        from .networks import build_network

        if not self.has_model:
            raise ValueError("no model yet: train one first (or load a checkpoint)")
        image = np.asarray(image)
        if len(spacing) != image.ndim:
            raise ValueError(f"spacing {tuple(spacing)} does not fit a {image.ndim}D image")
        torch_device, self.device_message = choose_device(device)
        model = build_network(self.card["architecture"])
        model.load_state_dict(self.state)
        model.to(torch_device)
        volume_spacing = (1.0, *spacing) if image.ndim == 2 else tuple(spacing)  # a picture is one slice
        result = predict_image(model, self.card, _as_slices(image), volume_spacing, device=torch_device,
                               progress=progress, cancel=cancel, batch_size=batch_size, uncertainty=uncertainty)
        classes, unsure = result if uncertainty else (result, None)
        lookup = np.array([c["value"] for c in self.card["classes"]], np.int64)
        labels = as_labels(lookup[classes].reshape(image.shape))
        return (labels, unsure.reshape(image.shape)) if uncertainty else labels
