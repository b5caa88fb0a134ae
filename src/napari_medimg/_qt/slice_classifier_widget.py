"""Dock widget: classify every slice of a volume with a CNN + GRU slice classifier (tumour in this slice?).

The model is a shipped slice classifier (``napari-medimg models``; ``brain-tumour-slices``) or
a checkpoint of one. Run reads the image layer's slices along its axis nearest to axial in a
worker; the table lists each slice's class and probabilities, a click on a row (or *Go to the
most likely slice*) shows that slice, and the summary gives the slices found and the volume's
probability (its most likely slice's).

torch is imported only in the worker thread.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from magicgui.widgets import ComboBox, Container, FileEdit, Label, ProgressBar, PushButton, Table, create_widget

from ._common import CHECKPOINT_CHOICE, chosen_model, run_in_worker, side_by_side
from ._viewer_events import follow_viewer

__all__ = ["SliceClassifierWidget"]



def _models() -> list[str]:
    from ..learn.registry import shipped_names

    return shipped_names("slice_classifier") + [CHECKPOINT_CHOICE]


class SliceClassifierWidget(Container):
    """Per-slice classes of a volume from a CNN + GRU model, with a table that navigates.

    Parameters
    ----------
    napari_viewer : napari.Viewer
        Where the image layers are.
    """

    def __init__(self, napari_viewer: Any) -> None:
        import napari

        super().__init__(labels=True)
        self.viewer = napari_viewer
        self.worker: Any = None
        self.result: Any = None
        self._layer: Any = None
        choices = _models()
        self.image_layer = create_widget(annotation=napari.layers.Image, label="volume")
        self.model = ComboBox(choices=choices, value=choices[0], label="model",
                              tooltip="A shipped slice classifier, or a checkpoint of one")
        self.checkpoint = FileEdit(mode="r", filter="*.safetensors", label="checkpoint", visible=len(choices) == 1)
        self.card_info = Label(value="", label="about")
        self.card_info.native.setWordWrap(True)
        self.run_button = PushButton(text="Classify slices")
        self.go_button = PushButton(text="Go to the most likely slice", enabled=False)
        self.progress_bar = ProgressBar(value=0, min=0, max=1, label="progress", visible=False)
        self.summary = Label(value="")
        self.summary.native.setWordWrap(True)
        self.table = Table(value={"slice": [], "class": [], "probability": []}, label="slices")
        self.table.read_only = True
        self.extend([self.image_layer, self.model, self.checkpoint, self.card_info,
                     side_by_side(self.run_button, self.go_button), self.progress_bar, self.summary, self.table])
        self.model.changed.connect(self._model_changed)
        self.checkpoint.changed.connect(self._model_changed)
        self.run_button.changed.connect(self.start)
        self.go_button.changed.connect(self.go_to_most_likely)
        self.table.native.cellClicked.connect(lambda row, _column: self.go_to(row))
        self.reset_choices()
        follow_viewer(self, napari_viewer.layers.events.inserted, self.reset_choices)
        follow_viewer(self, napari_viewer.layers.events.removed, self.reset_choices)
        self._model_changed()

    # ------------------------------------------------------------------ model
    def _source(self) -> str:
        return chosen_model(self.model.value, self.checkpoint, "slice classifier")

    def _model_changed(self, *_: Any) -> None:
        from ..learn.checkpoint import read_card
        from ..learn.registry import model_summary, resolve

        self.checkpoint.visible = self.model.value == CHECKPOINT_CHOICE
        try:
            summary = model_summary(read_card(resolve(self._source())))
        except (ValueError, OSError):
            self.card_info.value = "choose a checkpoint"
            return
        if summary["kind"] != "slice_classifier":
            self.card_info.value = f"{summary['name'] or 'this model'} is a {summary['kind']} model, not a slice classifier"
            return
        self.card_info.value = f"{summary['task']}; {summary['modality']}. Validation: {summary['validation']}"

    # ------------------------------------------------------------------ run
    def start(self, *_: Any, start_thread: bool = True) -> Any:
        """Classify the chosen layer's slices in a worker (returned; started unless ``start_thread`` is False)."""
        from napari.utils.notifications import show_error

        from .._napari.layers import layer_snapshot

        layer = self.image_layer.value
        if layer is None:
            show_error("Classify slices: open a volume first")
            return None
        try:
            source = self._source()
        except ValueError as exc:
            show_error(f"Classify slices: {exc}")
            return None
        volume = layer_snapshot(layer)
        self._layer = layer
        self.summary.value = "classifying ..."
        self.worker = run_in_worker(_classify, source, volume, on_result=self._show, title="Classify slices",
                                    busy=[self.run_button, self.progress_bar], status=self.summary)
        if start_thread:
            self.worker.start()
        return self.worker

    def _show(self, result: Any) -> None:
        from napari.utils.notifications import show_info

        self.result = result
        table = result.table()
        rows = len(table["slice"])
        self.table.value = {"slice": [int(v) for v in table["slice"]], "class": [str(v) for v in table["class"]],
                            "probability": [round(float(v), 3) for v in table["probability"]],
                            **{n: [round(float(v), 3) for v in table[n]] for n in result.class_names}}
        self.summary.value = f"{self._layer.name}: {result.summary()} ({rows} slices along axis {result.axis})"
        self.go_button.enabled = rows > 0
        show_info(f"Classify slices: {self.summary.value}")

    # ------------------------------------------------------------------ navigation
    def go_to(self, slice_index: int) -> None:
        """Show slice ``slice_index`` (along the classified axis) of the classified layer."""
        if self.result is None or self._layer is None:
            return
        layer = self._layer
        axis = self.result.axis
        index = np.asarray(layer.data.shape[: layer.ndim], float) / 2  # the middle of the other axes
        index[axis] = slice_index
        world = np.asarray(layer.data_to_world(index), float)
        offset = self.viewer.dims.ndim - layer.ndim  # the layer's axes are the viewer's last ones
        self.viewer.dims.set_point(offset + axis, world[axis])
        if self.table.native.currentRow() != slice_index:  # the row shown in the table too
            self.table.native.selectRow(slice_index)

    def go_to_most_likely(self, *_: Any) -> None:
        """Show the slice most likely to hold the last class (tumour)."""
        if self.result is not None:
            self.go_to(int(np.argmax(self.result.probabilities[:, -1])))


def _classify(source: str, volume: Any):
    """Load the model (checked) and classify the volume's slices (runs in the worker)."""
    from ..learn.registry import load_model, model_kind
    from ..learn.sequence import classify_volume_slices

    model, card = load_model(source)
    if model_kind(card) != "slice_classifier":
        raise ValueError(f"{card.get('name') or source} is a {model_kind(card)} model, not a slice classifier")
    return classify_volume_slices(model, card, volume)
