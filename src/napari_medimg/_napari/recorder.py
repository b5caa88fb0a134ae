"""The viewer's workflow: every operation run from the plugin's widgets, and every Measure, becomes a step.

Steps refer to layers by role: the first input image is ``image``; a layer made by an
earlier recorded step is referred to by that step's name; any other layer used as a second
input (a mask, seed points) becomes an extra input of that name, which a batch takes from a
CSV column. No Qt here: the Workflow dock shows and edits :func:`recorder_for`'s workflow.
"""

from __future__ import annotations

import re
from typing import Any, Callable

from ..pipeline.workflow import Step, Workflow

__all__ = ["Recorder", "recorder_for"]


def _step_name(text: str, taken: set[str]) -> str:
    base = re.sub(r"[^a-z0-9_]+", "_", text.lower()).strip("_") or "step"
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}_{n}"
    return name


class Recorder:
    """A workflow being recorded, with the layer each step's output became."""

    def __init__(self) -> None:
        self.workflow = Workflow("recorded", [], "recorded in napari")
        self.layer_of_step: dict[str, str] = {}
        self.image_layer: str | None = None
        self._listeners: list[Any] = []

    def _role(self, layer_name: str, *, main: bool) -> str:
        for step, layer in self.layer_of_step.items():
            if layer == layer_name:
                return step
        if main and (self.image_layer is None or self.image_layer == layer_name):
            self.image_layer = layer_name
            return "image"
        return _step_name(layer_name, {s.name for s in self.workflow.steps} | {"image"})

    def record(self, operation: str, input_layer: str, params: dict[str, Any], layer_params: dict[str, str],
               output_layer: str) -> Step:
        """Append one operation run: ``params`` by value, ``layer_params`` by layer name."""
        params = dict(params)
        for key, layer_name in layer_params.items():
            params[key] = self._role(layer_name, main=False)
        taken = {s.name for s in self.workflow.steps} | {"image"}
        step = Step(_step_name(operation, taken), operation=operation, input=self._role(input_layer, main=True),
                    params=params, label=f"{operation} on {input_layer}")
        self.workflow.steps.append(step)
        self.layer_of_step[step.name] = output_layer
        self.changed()
        return step

    def record_measure(self, labels_layer: str, image_layer: str | None, params: dict[str, Any]) -> Step:
        """Append a measurement of ``labels_layer`` (intensities from ``image_layer``) as a table step."""
        taken = {s.name for s in self.workflow.steps} | {"image"}
        labels = self._role(labels_layer, main=False)
        image = None if image_layer is None else self._role(image_layer, main=True)
        step = Step(_step_name(f"{labels}_table", taken), measure=labels, image=image, params=dict(params),
                    label=f"measure {labels_layer}" + (f" on {image_layer}" if image_layer else ""))
        self.workflow.steps.append(step)
        self.changed()
        return step

    def listen(self, method: Callable[[], None]) -> None:
        """Call the bound ``method`` after every change, for as long as its object lives."""
        import weakref

        self._listeners.append(weakref.WeakMethod(method))

    def changed(self) -> None:
        """Tell the docks showing this workflow (closed docks are forgotten)."""
        alive = [ref for ref in self._listeners if ref() is not None]
        self._listeners = alive
        for ref in alive:
            method = ref()
            if method is not None:
                try:
                    method()
                except RuntimeError:  # its Qt widget was deleted
                    pass

    def clear(self) -> None:
        """Forget every step (and a loaded recipe's outputs and report section)."""
        self.workflow.steps.clear()
        self.workflow.outputs = self.workflow.report = self.workflow.inputs = None
        self.layer_of_step.clear()
        self.image_layer = None
        self.changed()


_RECORDERS: dict[int, Recorder] = {}


def recorder_for() -> Recorder:
    """The recorder of napari's current viewer (the one the user works in), made on first use.

    Keyed by the viewer itself: widgets hold a proxy of it, whose identity differs.
    """
    import napari

    key = id(napari.current_viewer())
    if key not in _RECORDERS:
        _RECORDERS[key] = Recorder()
    return _RECORDERS[key]
