"""Dock widget: train a VAE, a GAN or a diffusion model on images, watching its loss and its samples.

The training images come from an image layer (its slices, or patches of a chosen size in mm
centred on a mask's voxels), an .npz stack (``images`` or ``<split>_images``, with ``labels`` for
a class-conditional model) or a folder of pictures (one sub-folder per class for a conditional model). Train runs :func:`~napari_medimg.learn.generative.fit.fit_generator`
in a worker thread: the loss curve and a grid of samples from the current model (a napari image
layer) follow it while napari stays responsive. Stop acts within one step and keeps the model;
Train then goes on from it. Save writes a checkpoint the Generate dock (and ``napari-medimg
generate``) samples from.

torch is imported only in the worker threads.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
from magicgui.widgets import (ComboBox, FileEdit, FloatSpinBox, Label, LineEdit, ProgressBar, PushButton,
                              SpinBox, create_widget)

from .._napari.layers import layer_snapshot
from ._common import side_by_side
from ._training_dock import TrainingDock
from .plots_widget import _style_axes, _theme_colours

__all__ = ["TrainGeneratorWidget", "SOURCES"]

SOURCES = ("image layer", ".npz file", "folder of images")
SAMPLES_LAYER = "generator samples (training)"
_REFRESH_MS = 200


def _image_set(source: str, volume: Any, mask: Any, path: str, split: str, classes: str, size: int, patch_mm: float,
               patches: int, seed: int):
    """Worker: the training images as an ImageSet of ``size`` x ``size`` images."""
    from ..learn.generative.data import ImageSet, load_folder, load_npz, patches_from_volume, resized

    names = [c.strip() for c in classes.split(",") if c.strip()] or None
    if source == "folder of images":
        return load_folder(path, (size, size))
    if source == ".npz file":
        data = load_npz(path, split.strip() or None, names)
        return ImageSet(resized(data.images, (size, size)), data.labels, data.classes or None, source=data.source)
    array = np.asarray(volume.array)
    if volume.rgb:
        raise ValueError("the image is an RGB picture: a generator takes one grey-value channel")
    if mask is not None or patch_mm > 0:
        side = patch_mm if patch_mm > 0 else float(min(array.shape[-2:]) * min(volume.spacing[-2:]))
        images = patches_from_volume(array, volume.spacing, patch_mm=side, image_size=(size, size),
                                     mask=None if mask is None else mask.array, n=patches, seed=seed)
    else:
        stack = array[None] if array.ndim == 2 else array.reshape(-1, *array.shape[-2:])
        images = resized(stack, (size, size))
    return ImageSet(images, source=f"layer {volume.metadata.get('name', '')}".strip())


def _train(source_args: tuple, method: str, config: dict, seed: int, device: str, resume: Any, progress: Callable,
           cancel: Callable) -> tuple[Any, str]:
    from ..learn.device import choose_device
    from ..learn.generative.fit import fit_generator

    data = _image_set(*source_args)
    device, _ = choose_device(device)
    run = fit_generator(data, method, config, seed=seed, device=device, progress=progress, cancel=cancel,
                        preview_every=max(10, int(config["training"]["iterations"]) // 20), resume=resume,
                        training={"data": data.source}, name=f"{method}-generator")
    counts = ", ".join(f"{n} {c}" for n, c in zip(data.classes, data.class_counts()))
    return run, f"{len(data)} images of {data.image_size[0]}x{data.image_size[1]}" + (f" ({counts})" if counts else "")


class TrainGeneratorWidget(TrainingDock):
    """Train, stop, resume and save a VAE, GAN or diffusion model of 2D images.

    Parameters
    ----------
    napari_viewer : napari.Viewer
        The viewer whose layers are offered.
    """

    def __init__(self, napari_viewer: Any) -> None:
        import napari

        super().__init__(napari_viewer, "Train an image generator", refresh_ms=_REFRESH_MS)
        self.run: Any = None
        self._shown_samples: Any = None
        self._build_controls(napari)
        self._build_plot()
        self._start_training_dock()

    def _build_controls(self, napari: Any) -> None:
        from ..learn.generative import METHODS

        self.source = ComboBox(choices=list(SOURCES), value=SOURCES[0], label="images from")
        self.image_layer = create_widget(annotation=napari.layers.Image, label="image layer",
                                         options={"tooltip": "A stack of 2D images, or a volume whose slices are used"})
        self.mask_layer = create_widget(annotation=napari.layers.Labels | None, label="mask (optional)",
                                        options={"tooltip": "Patches are centred on the mask's voxels"})
        self.patch_mm = FloatSpinBox(value=0.0, min=0.0, max=1000.0, step=8.0, label="patch size (mm)",
                                     tooltip="0: whole slices; else square patches of this side, resized")
        self.patches = SpinBox(value=2000, min=16, max=1_000_000, step=500, label="patches")
        self.npz = FileEdit(mode="r", filter="*.npz", label=".npz file",
                            tooltip="images (N, H, W) and optional labels (N,); or <split>_images and <split>_labels")
        self.folder = FileEdit(mode="d", label="folder",
                               tooltip="Pictures; in one sub-folder per class for a class-conditional model")
        self.split = LineEdit(value="", label="split", tooltip="For files with <split>_images (e.g. train)")
        self.classes = LineEdit(value="", label="class names", tooltip="Comma-separated, for labels 0, 1, ...")
        self.method = ComboBox(choices=list(METHODS), value="diffusion", label="model",
                               tooltip="vae: fast, blurry; gan: sharp, can miss variety; diffusion: best, slowest")
        self.size = SpinBox(value=28, min=8, max=256, step=4, label="image size (px)",
                            tooltip="Side the images are resized to (a multiple of 4)")
        self.iterations = SpinBox(value=1000, min=1, max=1_000_000, step=100, label="iterations")
        self.batch_size = SpinBox(value=64, min=2, max=1024, label="batch size")
        self.seed = SpinBox(value=0, min=0, max=2**31 - 1, label="seed")
        self.device = ComboBox(choices=["auto", "cpu", "cuda", "mps"], value="auto", label="device")
        self.train_button = PushButton(text="Train")
        self.stop_button = PushButton(text="Stop", tooltip="Stop within one step; the model so far is kept")
        self.new_button = PushButton(text="New model")
        self.progress_bar = ProgressBar(value=0, min=0, max=1000, label="progress")
        self.checkpoint_path = FileEdit(mode="w", filter="*.safetensors", label="checkpoint")
        self.save_button = PushButton(text="Save checkpoint")
        self.status = Label(value="choose the images, then Train")
        self.status.native.setWordWrap(True)
        self.extend([self.source, self.image_layer, self.mask_layer, self.patch_mm, self.patches, self.npz, self.folder, self.split,
                     self.classes, self.method, self.size, self.iterations, self.batch_size, self.seed, self.device,
                     side_by_side(self.train_button, self.stop_button, self.new_button), self.progress_bar,
                     self.checkpoint_path, self.save_button, self.status])
        self.source.changed.connect(self._update_buttons)
        self.train_button.changed.connect(self.train)
        self.stop_button.changed.connect(self.stop)
        self.new_button.changed.connect(self.new_model)
        self.save_button.changed.connect(self.save)

    def _build_plot(self) -> None:
        from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
        from matplotlib.figure import Figure

        self._style = _theme_colours(self.viewer)
        self.figure = Figure(figsize=(4, 2.2), layout="constrained")
        self.figure.set_facecolor(self._style["face"])
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.canvas.setMinimumHeight(180)
        self.native.layout().addWidget(self.canvas)
        self.axes = self.figure.subplots(1, 1)
        self._draw_curves({})

    # ------------------------------------------------------------------ state
    def _update_buttons(self, *_: Any) -> None:
        source = self.source.value
        for widget in (self.image_layer, self.mask_layer, self.patch_mm, self.patches):
            widget.visible = source == "image layer"
        for widget in (self.npz, self.split, self.classes):
            widget.visible = source == ".npz file"
        self.folder.visible = source == "folder of images"
        has_model = self.run is not None
        for widget in (self.train_button, self.new_button, self.source, self.method):
            widget.enabled = not self.busy and (widget is not self.method or not has_model)
        self.save_button.enabled = not self.busy and has_model
        self.stop_button.enabled = self.busy
        self.train_button.text = "Train more" if has_model else "Train (new model)"

    def new_model(self) -> None:
        """Forget the current model."""
        if self.busy:
            return
        self.run, self._latest = None, None
        self._draw_curves({})
        self.progress_bar.value = 0
        self.status.value = "new model: Train starts from random weights"
        self._update_buttons()

    # ------------------------------------------------------------------ actions
    def _source_args(self) -> tuple:
        size = int(self.size.value)
        if size % 4:
            raise ValueError(f"the image size must be a multiple of 4, got {size}")
        if self.source.value != "image layer":
            from_npz = self.source.value == ".npz file"
            path = str(self.npz.value if from_npz else self.folder.value)
            if path in ("", "."):
                raise ValueError("choose an .npz file of images" if from_npz else "choose a folder of images")
            return (self.source.value, None, None, path, str(self.split.value), str(self.classes.value), size, 0.0, 0,
                    int(self.seed.value))
        image = self.image_layer.value
        if image is None:
            raise ValueError("choose an image layer")
        volume = layer_snapshot(image)
        volume.metadata["name"] = image.name
        mask = self.mask_layer.value
        return ("image layer", volume, None if mask is None else layer_snapshot(mask), "", "", "", size,
                float(self.patch_mm.value), int(self.patches.value), int(self.seed.value))

    def train(self, *, start_thread: bool = True) -> Any:
        """Train a new model, or go on training the current one, in a worker (returns the worker)."""
        if self.busy:
            return None
        try:
            args = self._source_args()
        except ValueError as exc:
            return self._fail(exc)
        method = self.run.card["method"] if self.run is not None else self.method.value
        config = {"training": {"iterations": int(self.iterations.value), "batch_size": int(self.batch_size.value)}}
        self._stop.clear()
        self._latest = None
        worker = self._start(_train, args, method, config, int(self.seed.value), self.device.value, self.run,
                             on_result=self._trained, title="Train image generator", progress=self._report,
                             cancel=self._stop.is_set)
        self.status.value = f"training a {method} model ..."
        return self._go(worker, start_thread)

    def save(self, *, start_thread: bool = True) -> Any:
        """Save the model to the checkpoint file, in a worker."""
        from ..learn.checkpoint import save_checkpoint

        path = str(self.checkpoint_path.value)
        if self.busy or self.run is None:
            return None
        if path in ("", "."):
            return self._fail(ValueError("choose a checkpoint file to save to"))
        worker = self._start(save_checkpoint, path, self.run.model, self.run.card, title="Save checkpoint",
                             on_result=lambda written: setattr(self.status, "value", f"saved {written}"))
        return self._go(worker, start_thread)

    # ------------------------------------------------------------------ reports
    def _refresh(self) -> None:
        """GUI thread: progress bar, loss curve and sample grid from the latest report."""
        latest = self._latest
        if latest is None:
            return
        fraction, history = latest
        self.progress_bar.value = int(round(1000 * fraction))
        if history.get("iterations"):
            self.status.value = f"training: {history['iterations'][-1]} iterations, loss {history['loss'][-1]:.4f}"
            self._draw_curves(history)
        samples = history.get("samples")
        if samples is not None and samples is not self._shown_samples:
            self._shown_samples = samples
            self._show_samples(samples)

    def _show_samples(self, samples: np.ndarray) -> None:
        from ..learn.generative.data import tile

        grid = tile(np.asarray(samples, np.float32))
        if SAMPLES_LAYER in self.viewer.layers:
            self.viewer.layers[SAMPLES_LAYER].data = grid
        else:
            self.viewer.add_image(grid, name=SAMPLES_LAYER, colormap="gray", contrast_limits=(0.0, 1.0))

    def _draw_curves(self, history: dict) -> None:
        style = self._style
        axes = self.axes
        axes.clear()
        _style_axes(axes, style)
        axes.set_title("training loss", fontsize="small", color=style["text"], loc="left")
        x = history.get("iterations", [])
        if len(x):
            axes.plot(x, history["loss"], "-", color=style["single"], linewidth=1.2, label="loss")
            for key, colour in (("reconstruction", "#e8a33d"), ("kl", "#6cc04a"), ("critic", "#e8a33d"),
                                ("generator", "#6cc04a")):
                if key in history:
                    axes.plot(x, history[key], "-", color=colour, linewidth=1.0, label=key)
            axes.legend(fontsize="x-small", frameon=False, labelcolor=style["text"])
        axes.set_xlabel("iterations")
        self.canvas.draw_idle()

    def _trained(self, result: tuple[Any, str]) -> None:
        run, summary = result
        self.run = run
        if run.stopped != "cancelled":
            self.progress_bar.value = 1000
        self._latest = None  # shown now: the timer's last tick leaves the status as it is
        self._draw_curves(run.history)
        if run.history.get("samples") is not None:
            self._show_samples(run.history["samples"])
        how = "stopped; the model so far is kept" if run.stopped == "cancelled" else "done"
        self.status.value = (f"{how}: {run.iterations} iterations in {run.seconds:.1f} s on {summary}. Save the "
                             f"checkpoint, then sample it in Generate images")
