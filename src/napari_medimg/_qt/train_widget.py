"""Dock widget: train a segmentation U-Net from a few painted slices, watch it learn, predict.

Paint a structure on a few slices of a Labels layer over an Image layer (0 = not painted;
see :mod:`napari_medimg.learn.layers` for the convention: by default the unpainted voxels of
a painted slice are background, or choose a painted background label for scribbles). Train
runs :class:`~napari_medimg.learn.layers.TrainingSession` in a worker thread; the loss and
validation Dice curves and the progress bar follow it while napari stays responsive. Stop
acts within one training step and keeps the best weights; Train then goes on from them
(resume), as it does after loading a checkpoint (fine-tune on new paint). Predict adds a
Labels layer on the image's grid (same scale, translate, rotation) with the painted label
values and colours. Checkpoints are safetensors weights with a JSON model card.

torch and MONAI are imported only in the worker threads.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
from magicgui.widgets import (CheckBox, ComboBox, FileEdit, FloatSpinBox, Label, ProgressBar, PushButton, SpinBox,
                              create_widget)

from .._napari.display import looks_like_ct
from .._napari.label_names import class_map_layer_kwargs, label_names
from .._napari.layers import add_layer, layer_snapshot, volume_to_layer_data
from ..learn.layers import NETWORK_SIZES, UNPAINTED
from ._common import side_by_side
from ._training_dock import TrainingDock
from .plots_widget import _style_axes, _theme_colours

__all__ = ["TrainWidget", "NORMALISATIONS"]

#: Widget choice -> normalisation spec (``"auto"``: a CT window for CT, else percentiles).
NORMALISATIONS = {
    "auto": None,
    "MR: z-score over the body": {"kind": "mr"},
    "CT: window -1000..1000 HU": {"kind": "ct", "window": [-1000.0, 1000.0]},
    "percentiles 0.5-99.5": {"kind": "percentile"},
}
_REFRESH_MS = 150


def _train(session: Any, cases: list, background: Any, normalisation: dict, names: dict, colormap: Any,
           sources: list, options: dict, progress: Callable, cancel: Callable) -> tuple[Any, str]:
    """Worker: painted slices -> training data -> a training run of ``session``."""
    from ..learn.layers import training_data

    data = training_data(cases, background=background, normalisation=normalisation, values=session.values)
    colours = {v: tuple(np.asarray(colormap.map(np.array([v]))).reshape(-1)[:3]) for v in data.values}
    result = session.train(data, progress=progress, cancel=cancel, names=names, colours=colours,
                           sources=sources, **options)
    return result, data.summary()


def _next_slice_hint(uncertainty: np.ndarray | None) -> str:
    """'; most unsure: slice N' for a volume's uncertainty map (the slice to annotate next)."""
    if uncertainty is None or uncertainty.ndim != 3:
        return ""
    per_slice = uncertainty.reshape(len(uncertainty), -1).mean(axis=1)
    return f"; the model is least sure on slice {int(np.argmax(per_slice))} (annotate it next)"


def _load(path: str) -> Any:
    """Worker: a session holding a checkpoint."""
    from ..learn.layers import TrainingSession

    return TrainingSession.load(path)


def _grey(image_layer: Any) -> Any:
    """The layer, if it is a one-channel image; else a ValueError saying why not."""
    if image_layer is None:
        raise ValueError("choose an image layer")
    if image_layer.rgb:
        raise ValueError(f"{image_layer.name} is an RGB picture: the model takes one grey-value channel")
    return image_layer


class TrainWidget(TrainingDock):
    """Train, stop, resume, save, load and apply a slice-wise segmentation U-Net.

    Parameters
    ----------
    napari_viewer : napari.Viewer
        The viewer whose layers are offered.
    """

    def __init__(self, napari_viewer: Any) -> None:
        import napari

        super().__init__(napari_viewer, "Train a segmentation model", refresh_ms=_REFRESH_MS)
        self.session: Any = None
        self.extra_pairs: list[tuple[Any, Any]] = []
        self._drawn = -1
        self._validation = "validation"
        self._build_controls(napari)
        self._build_plot()
        self._start_training_dock()

    # ------------------------------------------------------------------ layout
    def _build_controls(self, napari: Any) -> None:
        self.image_layer = create_widget(annotation=napari.layers.Image, label="image")
        self.labels_layer = create_widget(annotation=napari.layers.Labels, label="painted labels")
        self.add_pair_button = PushButton(text="Add pair", tooltip="Also train on this image with these labels")
        self.clear_pairs_button = PushButton(text="Clear pairs")
        self.pairs_label = Label(value="", label="more pairs", visible=False)
        background = [("unpainted voxels of painted slices", UNPAINTED)]
        background += [(f"painted label {v} (unpainted ignored)", v) for v in range(1, 10)]
        self.background = ComboBox(
            choices=background, value=UNPAINTED, label="background",
            tooltip="Only slices with paint are used. Default: a painted slice is complete, its unpainted "
                    "voxels are background. Or paint the background with a label (scribbles): unpainted "
                    "voxels are then ignored.")
        self.normalisation = ComboBox(choices=list(NORMALISATIONS), value="auto", label="intensities",
                                      tooltip="How intensities are normalised for a new model (a resumed or "
                                              "fine-tuned model keeps its own)")
        self.size = ComboBox(choices=list(NETWORK_SIZES), value="small", label="network size",
                             tooltip="2D U-Net features: " + "; ".join(f"{k} {v}" for k, v in NETWORK_SIZES.items()))
        self.patch_mm = FloatSpinBox(value=64.0, min=4.0, max=1000.0, step=8.0, label="patch size (mm)",
                                     tooltip="In-plane side of the training patches, in mm")
        self.iterations = SpinBox(value=300, min=1, max=1_000_000, step=50, label="iterations")
        self.device = ComboBox(choices=["auto", "cpu", "cuda", "mps"], value="auto", label="device")
        self.device_info = Label(value="", label="running on")
        self.train_button = PushButton(text="Train")
        self.stop_button = PushButton(text="Stop", tooltip="Stop within one step; the best weights are kept")
        self.new_button = PushButton(text="New model", tooltip="Forget the current model")
        self.progress_bar = ProgressBar(value=0, min=0, max=1000, label="progress")
        self.checkpoint_path = FileEdit(mode="w", filter="*.safetensors", label="checkpoint")
        self.save_button = PushButton(text="Save checkpoint")
        self.load_button = PushButton(text="Load checkpoint (resume / fine-tune)")
        self.predict_button = PushButton(text="Predict into a new labels layer")
        self.show_uncertainty = CheckBox(value=True, text="also show where the model is unsure",
                                         tooltip="An uncertainty layer (entropy of the class probabilities, "
                                                 "0-100): annotate the most uncertain slice next")
        self.status = Label(value="paint a structure on a few slices, then Train")
        self.extend([
            self.image_layer, self.labels_layer, side_by_side(self.add_pair_button, self.clear_pairs_button),
            self.pairs_label, self.background, self.normalisation, self.size, self.patch_mm, self.iterations,
            self.device, self.device_info, side_by_side(self.train_button, self.stop_button, self.new_button),
            self.progress_bar, self.checkpoint_path, side_by_side(self.save_button, self.load_button),
            self.predict_button, self.show_uncertainty, self.status,
        ])
        self.status.native.setWordWrap(True)
        self.pairs_label.native.setWordWrap(True)
        self.add_pair_button.changed.connect(self.add_pair)
        self.clear_pairs_button.changed.connect(self.clear_pairs)
        self.train_button.changed.connect(self.train)
        self.stop_button.changed.connect(self.stop)
        self.new_button.changed.connect(self.new_model)
        self.save_button.changed.connect(self.save)
        self.load_button.changed.connect(self.load)
        self.predict_button.changed.connect(self.predict)

    def _build_plot(self) -> None:
        from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
        from matplotlib.figure import Figure

        self._style = _theme_colours(self.viewer)
        self.figure = Figure(figsize=(4, 3.2), layout="constrained")
        self.figure.set_facecolor(self._style["face"])
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.canvas.setMinimumHeight(260)
        self.native.layout().addWidget(self.canvas)
        self.loss_axes, self.dice_axes = self.figure.subplots(2, 1, sharex=True)
        self._draw_curves({})

    # ------------------------------------------------------------------ state
    @property
    def history(self) -> dict:
        """The curves shown: ``iterations``, ``loss`` and ``val_dice`` per epoch (empty before training)."""
        latest = self._latest
        if latest is not None and latest[1]:
            return latest[1]
        return dict(self.session.history) if self.session is not None else {}

    def _update_buttons(self) -> None:
        has_model = self.session is not None and self.session.has_model
        for button in (self.train_button, self.new_button, self.load_button, self.add_pair_button,
                       self.clear_pairs_button):
            button.enabled = not self.busy
        for button in (self.save_button, self.predict_button):
            button.enabled = not self.busy and has_model
        self.stop_button.enabled = self.busy
        self.train_button.text = "Train more (resume / fine-tune)" if has_model else "Train (new model)"

    def add_pair(self) -> None:
        """Train on the chosen image and labels too, besides the pair chosen when Train is pressed."""
        pair = (self.image_layer.value, self.labels_layer.value)
        if None in pair or pair in self.extra_pairs:
            return
        self.extra_pairs.append(pair)
        self.pairs_label.value = "; ".join(f"{i.name} + {lab.name}" for i, lab in self.extra_pairs)
        self.pairs_label.visible = True

    def clear_pairs(self) -> None:
        """Train on the chosen pair only."""
        self.extra_pairs.clear()
        self.pairs_label.value = ""
        self.pairs_label.visible = False

    def new_model(self) -> None:
        """Forget the current model and its curves."""
        if self.busy:
            return
        self.session = None
        self._latest = None
        self._draw_curves({})
        self.progress_bar.value = 0
        self.status.value = "new model: Train starts from random weights"
        self._update_buttons()

    # ------------------------------------------------------------------ inputs
    def _pairs(self) -> list[tuple[Any, Any]]:
        chosen = (self.image_layer.value, self.labels_layer.value)
        if None in chosen:
            raise ValueError("choose an image layer and the labels layer painted on it")
        pairs = [chosen] + [p for p in self.extra_pairs if p != chosen]
        for image, labels in pairs:
            if image not in self.viewer.layers or labels not in self.viewer.layers:
                raise ValueError(f"{image.name} + {labels.name}: a layer of this pair was removed; clear the pairs")
            _grey(image)
        return pairs

    def _normalisation(self, image: Any) -> dict:
        if self.session is not None and self.session.has_model:
            return self.session.normalisation  # the model's own, also when fine-tuning
        spec = NORMALISATIONS[self.normalisation.value]
        if spec is None:
            spec = NORMALISATIONS["CT: window -1000..1000 HU"] if looks_like_ct(image) else {"kind": "percentile"}
        return spec

    # ------------------------------------------------------------------ actions
    def train(self, *, start_thread: bool = True) -> Any:
        """Train (or go on training) in a worker; returns the worker (None when inputs are wrong)."""
        from ..learn.layers import TrainingSession

        if self.busy:
            return None
        try:
            pairs = self._pairs()
            volumes = [(layer_snapshot(i), layer_snapshot(lab)) for i, lab in pairs]
            cases = [(v.array, lab.array, v.spacing) for v, lab in volumes]
            normalisation = self._normalisation(volumes[0][0])
        except ValueError as exc:
            return self._fail(exc)
        labels_layer = pairs[0][1]
        names = label_names(labels_layer)
        colormap = labels_layer.colormap.model_copy(update={"use_selection": False})
        if self.session is None or not self.session.has_model:
            self.session = TrainingSession(self.size.value)
        options = {"patch_mm": (float(self.patch_mm.value),) * 2, "iterations": int(self.iterations.value),
                   "device": self.device.value}
        self._stop.clear()
        self._latest = None
        worker = self._start(
            _train, self.session, cases, self.background.value, normalisation, names, colormap,
            [i.name for i, _ in pairs], options, title="Training",
            progress=self._report, cancel=self._stop.is_set, on_result=self._trained,
        )
        self.status.value = f"training on {len(pairs)} image(s) ..."
        return self._go(worker, start_thread)

    def save(self, *, start_thread: bool = True) -> Any:
        """Save the current model to the checkpoint file, in a worker."""
        path = str(self.checkpoint_path.value)
        if self.busy or self.session is None or not self.session.has_model:
            return None
        if path in ("", "."):
            return self._fail(ValueError("choose a checkpoint file to save to"))
        worker = self._start(self.session.save, path, title="Save checkpoint",
                             on_result=lambda written: setattr(self.status, "value", f"saved {written}"))
        return self._go(worker, start_thread)

    def load(self, *, start_thread: bool = True) -> Any:
        """Load the checkpoint file (to resume, fine-tune on new paint, or predict), in a worker."""
        path = str(self.checkpoint_path.value)
        if self.busy:
            return None
        if path in ("", "."):
            return self._fail(ValueError("choose a checkpoint file to load"))
        worker = self._start(_load, path, title="Load checkpoint", on_result=self._loaded)
        return self._go(worker, start_thread)

    def predict(self, *, start_thread: bool = True) -> Any:
        """Predict labels for the chosen image in a worker; they are added as a new labels layer."""
        if self.busy or self.session is None or not self.session.has_model:
            return None
        image_layer = self.image_layer.value
        try:
            volume = layer_snapshot(_grey(image_layer))
        except ValueError as exc:
            return self._fail(exc)
        self._stop.clear()
        self._latest = None
        unsure = bool(self.show_uncertainty.value)
        worker = self._start(
            self.session.predict, volume.array, volume.spacing, device=self.device.value, title="Prediction",
            progress=lambda f: setattr(self, "_latest", (float(f), {})), cancel=self._stop.is_set,
            uncertainty=unsure,
            on_result=lambda result: self._add_prediction(*(result if unsure else (result, None)), image_layer, volume),
        )
        self.status.value = f"predicting {image_layer.name} ..."
        return self._go(worker, start_thread)

    # ------------------------------------------------------------------ workers
    def _refresh(self) -> None:
        """GUI thread: progress bar, device and curves from the latest report."""
        if self.session is not None and self.session.device_message:
            self.device_info.value = self.session.device_message
        latest = self._latest
        if latest is None:
            return
        fraction, history = latest
        self.progress_bar.value = int(round(1000 * fraction))
        if "running_loss" in history:
            done = history["iterations"][-1] if history.get("iterations") else 0
            self.status.value = f"training: {done} iterations done, running loss {history['running_loss']:.3f}"
        if history and len(history.get("loss", [])) != self._drawn:
            self._draw_curves(history)

    def _draw_curves(self, history: dict) -> None:
        style = self._style
        x = history.get("iterations", [])
        for axes, key, title, colour in ((self.loss_axes, "loss", "training loss (Dice + CE)", style["single"]),
                                         (self.dice_axes, "val_dice", f"Dice on {self._validation}", "#e8a33d")):
            axes.clear()
            _style_axes(axes, style)
            axes.set_title(title, fontsize="small", color=style["text"], loc="left")
            if len(x):
                axes.plot(x, history[key], "o-", color=colour, markersize=3, linewidth=1.2)
        self.dice_axes.set_ylim(0.0, 1.0)
        self.dice_axes.set_xlabel("iterations")
        self._drawn = len(history.get("loss", []))
        self.canvas.draw_idle()

    def _trained(self, result: tuple[Any, str]) -> None:
        run, summary = result
        history = self.session.history
        self._validation = self.session.card["validation"]["kind"]
        self._latest = (1.0 if run.stopped != "cancelled" else self._latest[0] if self._latest else 0.0, history)
        self._draw_curves(history)
        best = run.best_metric
        how = "stopped; best weights kept" if run.stopped == "cancelled" else "done"
        self.status.value = (f"{how}: {run.iterations} iterations in {run.seconds:.1f} s, best Dice "
                             f"{best:.3f} (epoch {run.best_epoch}). {summary}")

    def _loaded(self, session: Any) -> None:
        self.session = session
        card = session.card
        values = ", ".join(f"{c['value']} {c['name']}" for c in card["classes"][1:])
        self._validation = card.get("validation", {}).get("kind", "validation")
        self._latest = None
        self._draw_curves(session.history)
        self.status.value = (f"loaded {self.checkpoint_path.value}: classes {values}; "
                             f"Train goes on from it, Predict applies it")

    def _add_prediction(self, labels: np.ndarray, uncertainty: np.ndarray | None, image_layer: Any, volume: Any) -> None:
        from ..io.label_map import LabelClass

        classes = {int(c["value"]): LabelClass(int(c["value"]), c["name"], tuple(c["color"]) if "color" in c else None)
                   for c in self.session.card["classes"][1:]}
        data, kwargs, kind = volume_to_layer_data(
            volume.with_array(labels), name=f"{image_layer.name} prediction", layer_type="labels",
            **class_map_layer_kwargs(classes, np.unique(labels)),
        )
        placement = dict(scale=image_layer.scale, translate=image_layer.translate, rotate=image_layer.rotate,
                         shear=image_layer.shear, affine=image_layer.affine.affine_matrix,
                         units=image_layer.units, axis_labels=image_layer.axis_labels)
        kwargs.update(placement)
        if uncertainty is not None:
            add_layer(self.viewer, uncertainty, {"name": f"{image_layer.name} uncertainty", "colormap": "magma",
                                                 "contrast_limits": (0, 100), "opacity": 0.6, "blending": "additive",
                                                 "visible": True, **placement}, "image")
        layer = add_layer(self.viewer, data, kwargs, kind)
        voxel_ml = float(np.prod(volume.spacing)) / 1000.0 if volume.spatial_ndim == 3 else None
        found = ", ".join(f"{classes[v].name}: " + (f"{np.count_nonzero(labels == v) * voxel_ml:.1f} mL" if voxel_ml
                                                    else f"{np.count_nonzero(labels == v)} pixels") for v in classes)
        self.status.value = f"predicted {layer.name} ({found})" + _next_slice_hint(uncertainty)
