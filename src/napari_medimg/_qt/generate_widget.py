"""Dock widget: sample a trained image generator into a stack layer; walk a VAE's latent space; reconstruct.

The model is a shipped generator (``napari-medimg models``) or a checkpoint saved by the Train
image generator dock. Generate adds N new images as one stack layer (the class of each image in
the layer's metadata). With a VAE, Interpolate encodes two images of a layer (two slices of a
stack) and decodes the straight path between their latent codes; Reconstruct shows the VAE's
reconstruction of a layer's images (how much of them the model captures).

torch is imported only in the worker threads.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
from magicgui.widgets import ComboBox, Container, FileEdit, Label, ProgressBar, PushButton, SpinBox, create_widget

from ._common import CHECKPOINT_CHOICE, ProgressPoller, chosen_model, run_in_worker, side_by_side
from ._viewer_events import follow_viewer

__all__ = ["GenerateWidget"]

ANY_CLASS = "(training shares)"


def _generators() -> list[str]:
    from ..learn.registry import shipped_names

    return shipped_names("generator") + [CHECKPOINT_CHOICE]


def _load(source: str):
    from ..learn.generative.sample import load_generator

    return load_generator(source)


def _stack(layer: Any) -> np.ndarray:
    data = np.asarray(layer.data)
    if getattr(layer, "rgb", False):
        raise ValueError(f"{layer.name} is an RGB picture: the VAE takes grey images")
    return data[None] if data.ndim == 2 else data.reshape(-1, *data.shape[-2:])


class GenerateWidget(Container):
    """Generate images, interpolate and reconstruct with a trained generator.

    Parameters
    ----------
    napari_viewer : napari.Viewer
        Where the results go.
    """

    def __init__(self, napari_viewer: Any) -> None:
        import napari

        super().__init__(labels=True)
        self.viewer = napari_viewer
        self.worker: Any = None
        self._loaded: dict[str, tuple[Any, dict]] = {}
        self._stop = threading.Event()
        choices = _generators()
        self.model = ComboBox(choices=choices, value=choices[0], label="generator",
                              tooltip="A shipped generator, or a checkpoint saved by Train an image generator")
        self.checkpoint = FileEdit(mode="r", filter="*.safetensors", label="checkpoint", visible=len(choices) == 1)
        self.card_info = Label(value="", label="model")
        self.card_info.native.setWordWrap(True)
        self.n = SpinBox(value=16, min=1, max=100_000, label="images")
        self.seed = SpinBox(value=0, min=0, max=2**31 - 1, label="seed")
        self.class_name = ComboBox(choices=[ANY_CLASS], value=ANY_CLASS, label="class")
        self.steps = SpinBox(value=0, min=0, max=1000, label="DDIM steps",
                             tooltip="Diffusion models: sampling steps (0: the model card's)")
        self.generate_button = PushButton(text="Generate")
        self.cancel_button = PushButton(text="Cancel", enabled=False)
        self.images_layer = create_widget(annotation=napari.layers.Image, label="VAE: images",
                                          options={"tooltip": "A stack of images of the model's size"})
        self.first = SpinBox(value=0, min=0, max=1_000_000, label="from image")
        self.second = SpinBox(value=1, min=0, max=1_000_000, label="to image")
        self.between = SpinBox(value=8, min=2, max=256, label="steps between")
        self.interpolate_button = PushButton(text="Interpolate")
        self.reconstruct_button = PushButton(text="Reconstruct")
        self.progress_bar = ProgressBar(value=0, min=0, max=100, label="progress")
        self.status = Label(value="")
        self.status.native.setWordWrap(True)
        self.extend([self.model, self.checkpoint, self.card_info, self.n, self.seed, self.class_name, self.steps,
                     side_by_side(self.generate_button, self.cancel_button), self.images_layer, self.first,
                     self.second, self.between, side_by_side(self.interpolate_button, self.reconstruct_button),
                     self.progress_bar, self.status])
        self._poller = ProgressPoller(self, self.progress_bar)
        self.model.changed.connect(self._model_changed)
        self.checkpoint.changed.connect(self._model_changed)
        self.generate_button.changed.connect(self.generate)
        self.cancel_button.changed.connect(self._stop.set)
        self.interpolate_button.changed.connect(self.interpolate)
        self.reconstruct_button.changed.connect(self.reconstruct)
        self.reset_choices()
        follow_viewer(self, napari_viewer.layers.events.inserted, self.reset_choices)
        follow_viewer(self, napari_viewer.layers.events.removed, self.reset_choices)
        self._model_changed()

    # ------------------------------------------------------------------ model
    def _source(self) -> str:
        return chosen_model(self.model.value, self.checkpoint, "generator")

    def _card(self) -> dict | None:
        from ..learn.checkpoint import read_card
        from ..learn.registry import resolve

        try:
            return read_card(resolve(self._source()))
        except (ValueError, OSError):
            return None

    def _model_changed(self, *_: Any) -> None:
        from ..learn.registry import model_summary

        self.checkpoint.visible = self.model.value == CHECKPOINT_CHOICE
        card = self._card()
        if card is None:
            self.card_info.value = "choose a generator checkpoint"
            self.class_name.choices = [ANY_CLASS]
            return
        self.card_info.value = model_summary(card)["task"]
        choices = [ANY_CLASS] + [c["name"] for c in card.get("classes", [])]
        if list(self.class_name.choices) != choices:
            self.class_name.choices = choices
        is_vae = card.get("method") == "vae"
        for widget in (self.interpolate_button, self.reconstruct_button):
            widget.enabled = is_vae and self.worker is None
            widget.tooltip = "" if is_vae else "for a VAE (e.g. pneumoniamnist-vae)"

    def _model(self, source: str):
        """Worker side: the (model, card) of a generator, loaded once per version of its file."""
        from ..learn.registry import resolve

        path = resolve(source)
        key = f"{path}:{path.stat().st_mtime_ns}"  # a checkpoint saved again under its name is loaded again
        if key not in self._loaded:
            self._loaded[key] = _load(source)
        return self._loaded[key]

    # ------------------------------------------------------------------ actions
    def generate(self, *, start_thread: bool = True) -> Any:
        """Sample ``n`` images in a worker; they are added as one stack layer."""
        from ..learn.generative.sample import sample

        if self.worker is not None:
            return None
        try:
            source = self._source()
        except ValueError as exc:
            return self._fail(exc)
        class_name = None if self.class_name.value == ANY_CLASS else self.class_name.value
        options = {"class_name": class_name, "seed": int(self.seed.value), "steps": int(self.steps.value) or None}

        def work(progress, cancel):
            model, card = self._model(source)
            images, labels = sample(model, card, int(self.n.value), progress=progress, cancel=cancel, **options)
            return images, labels, card

        return self._run(work, f"generating {int(self.n.value)} images with {source} ...", self._add_samples, start_thread)

    def interpolate(self, *, start_thread: bool = True) -> Any:
        """Decode the path between two images' latent codes (a VAE) into a stack layer."""
        from ..learn.generative.sample import interpolate

        try:
            images, layer = self._vae_images()
            a, b = int(self.first.value), int(self.second.value)
            if max(a, b) >= len(images):
                raise ValueError(f"{layer.name} has {len(images)} images: choose indices below {len(images)}")
        except ValueError as exc:
            return self._fail(exc)
        first, second, n, source = images[a].copy(), images[b].copy(), int(self.between.value), self._source()

        def work(progress, cancel):
            model, card = self._model(source)
            return interpolate(model, card, first, second, n), f"{layer.name} {a} to {b} (VAE path)"

        return self._run(work, "interpolating ...", self._add_stack, start_thread)

    def reconstruct(self, *, start_thread: bool = True) -> Any:
        """The VAE's reconstruction of a layer's images, as a stack layer."""
        from ..learn.generative.sample import reconstruct

        try:
            images, layer = self._vae_images()
        except ValueError as exc:
            return self._fail(exc)
        images, source = images.copy(), self._source()

        def work(progress, cancel):
            model, card = self._model(source)
            return reconstruct(model, card, images), f"{layer.name} VAE reconstruction"

        return self._run(work, "reconstructing ...", self._add_stack, start_thread)

    def _vae_images(self) -> tuple[np.ndarray, Any]:
        layer = self.images_layer.value
        if layer is None:
            raise ValueError("choose an image layer holding the images to encode")
        card = self._card()
        if card is None or card.get("method") != "vae":
            raise ValueError("interpolation and reconstruction need a VAE (e.g. pneumoniamnist-vae)")
        images = _stack(layer)
        size = tuple(card["input"]["image_size"])
        if images.shape[1:] != size:
            raise ValueError(f"{layer.name} holds {images.shape[1]}x{images.shape[2]} images; the VAE takes "
                             f"{size[0]}x{size[1]}")
        return images, layer

    # ------------------------------------------------------------------ workers
    def _run(self, work, message: str, on_result, start_thread: bool) -> Any:
        self._stop.clear()
        self.worker = run_in_worker(work, on_result=on_result, title="Generate images", status=self.status,
                                    busy=[self.generate_button], on_finished=self._finished, progress=self._poller.set, cancel=self._stop.is_set)
        self.cancel_button.enabled = True
        self.interpolate_button.enabled = self.reconstruct_button.enabled = False
        self.status.value = message
        self._poller.start()
        if start_thread:
            self.worker.start()
        return self.worker

    def _finished(self) -> None:
        self._poller.stop()
        self.worker = None
        self.cancel_button.enabled = False
        self._model_changed()

    def _fail(self, exc: Exception) -> None:
        from napari.utils.notifications import show_error

        self.status.value = str(exc)
        show_error(f"Generate images: {exc}")
        return None

    def _add_samples(self, result: tuple) -> None:
        images, labels, card = result
        names = [c["name"] for c in card.get("classes", [])]
        per_image = [names[i] for i in labels] if labels is not None else []
        name = f"{card.get('name', 'generator')} samples"
        self.viewer.add_image(images, name=name, colormap="gray", metadata={"generated": {
            "model": card.get("name"), "method": card.get("method"), "seed": int(self.seed.value),
            "classes": per_image}})
        counts = ", ".join(f"{n} {per_image.count(n)}" for n in names) if per_image else ""
        self.status.value = f"{len(images)} images in layer '{name}'" + (f" ({counts})" if counts else "")

    def _add_stack(self, result: tuple) -> None:
        images, name = result
        self.viewer.add_image(images, name=name, colormap="gray")
        self.status.value = f"{len(images)} images in layer '{name}'"
