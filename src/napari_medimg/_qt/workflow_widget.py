"""The Workflow dock: the steps recorded in this viewer, edited, saved, loaded and replayed.

Every operation run from the plugin's widgets appends a step (see
:mod:`napari_medimg._napari.recorder`). Here the user renames, re-parameterises, reorders or
removes steps, saves the workflow as YAML (for ``napari-medimg batch``), loads one, and
replays it on another image layer in a worker thread.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from magicgui.widgets import ComboBox, Container, FileEdit, Label, LineEdit, PushButton, create_widget

from ._common import read_only_text, side_by_side
from ._viewer_events import follow_viewer

__all__ = ["WorkflowWidget"]


class WorkflowWidget(Container):
    """Show, edit, save, load and replay the viewer's recorded workflow.

    Parameters
    ----------
    napari_viewer : napari.Viewer
        The viewer whose operations are recorded.
    """

    def __init__(self, napari_viewer: Any) -> None:
        import napari

        from .._napari.recorder import recorder_for

        super().__init__(labels=True)
        self.viewer = napari_viewer
        self.recorder = recorder_for()
        self.steps_text = read_only_text("steps", height=160)
        self._step_names: list[str] = []
        self.step = ComboBox(label="step", choices=lambda _w: self._step_names)
        self.up_button, self.down_button = PushButton(text="Up"), PushButton(text="Down")
        self.remove_button = PushButton(text="Remove")
        self.new_name = LineEdit(label="rename to")
        self.rename_button = PushButton(text="Rename")
        self.params = LineEdit(label="parameters", tooltip="YAML mapping, e.g. {sigma: 2.0}")
        self.params_button = PushButton(text="Set parameters")
        self.path = FileEdit(mode="w", filter="*.yaml *.yml", label="workflow file")
        self.save_button, self.load_button = PushButton(text="Save"), PushButton(text="Load")
        self.image_layer = create_widget(annotation=napari.layers.Image, label="replay on")
        self.replay_button = PushButton(text="Replay")
        self.clear_button = PushButton(text="Clear")
        self.status = Label(value="")
        self.extend([
            self.steps_text, self.step, side_by_side(self.up_button, self.down_button, self.remove_button),
            side_by_side(self.new_name, self.rename_button), side_by_side(self.params, self.params_button),
            self.path, side_by_side(self.save_button, self.load_button), self.image_layer,
            side_by_side(self.replay_button, self.clear_button), self.status,
        ])
        self.up_button.changed.connect(lambda: self.move(-1))
        self.down_button.changed.connect(lambda: self.move(1))
        self.remove_button.changed.connect(self.remove)
        self.rename_button.changed.connect(self.rename)
        self.params_button.changed.connect(self.set_params)
        self.save_button.changed.connect(self.save)
        self.load_button.changed.connect(self.load)
        self.replay_button.changed.connect(self.replay)
        self.clear_button.changed.connect(self.recorder.clear)
        self.step.changed.connect(self._show_params)
        self.recorder.listen(self.refresh)
        self.worker = None
        self.refresh()
        follow_viewer(self, napari_viewer.layers.events.inserted, self.reset_choices)
        follow_viewer(self, napari_viewer.layers.events.removed, self.reset_choices)

    # ------------------------------------------------------------------ view
    @property
    def workflow(self) -> Any:
        return self.recorder.workflow

    def refresh(self) -> None:
        """Show the steps (called whenever a step is recorded or edited)."""
        steps = self.workflow.steps
        lines = []
        for i, s in enumerate(steps, start=1):
            what = s.operation or s.model or f"measure {s.measure}"
            params = ", ".join(f"{k}={v}" for k, v in s.params.items())
            lines.append(f"{i}. {s.name}: {what}({s.input if s.kind != 'measure' else s.image or ''}) {params}")
        self.steps_text.value = "\n".join(lines) or "(no steps yet: run an operation from the plugin's menus)"
        self._step_names = [s.name for s in steps]
        self.step.reset_choices()
        self._show_params()

    def _selected(self) -> int | None:
        name = self.step.value
        return self._step_names.index(name) if name in self._step_names else None

    def _show_params(self, *_: Any) -> None:
        import yaml

        index = self._selected()
        if index is not None:
            params = self.workflow.steps[index].params
            self.params.value = yaml.safe_dump(params, default_flow_style=True).strip() if params else "{}"
            self.new_name.value = self.workflow.steps[index].name

    def _edited(self, message: str) -> None:
        from napari.utils.notifications import show_error

        from ..pipeline.workflow import WorkflowError

        try:
            self.workflow.validate(extras=tuple(self.workflow.case_inputs()))
            self.status.value = message
        except WorkflowError as exc:
            self.status.value = f"{message}; check: {exc}"
            show_error(f"Workflow: {exc}")
        self.recorder.changed()

    # ------------------------------------------------------------------ edits
    def move(self, offset: int) -> None:
        """Move the selected step up (-1) or down (+1)."""
        index = self._selected()
        steps = self.workflow.steps
        if index is None or not 0 <= index + offset < len(steps):
            return
        steps[index], steps[index + offset] = steps[index + offset], steps[index]
        self._edited(f"moved {steps[index + offset].name}")
        self.step.value = steps[index + offset].name

    def remove(self) -> None:
        index = self._selected()
        if index is not None:
            step = self.workflow.steps.pop(index)
            self.recorder.layer_of_step.pop(step.name, None)
            self._edited(f"removed {step.name}")

    def rename(self) -> None:
        """Rename the selected step and every reference to it."""
        index = self._selected()
        new = str(self.new_name.value).strip()
        if index is None or not new.isidentifier() or new in self._step_names or new == "image":
            self.status.value = "give a new, unused name (letters, digits, _)"
            return
        old = self.workflow.steps[index].name
        for step in self.workflow.steps:
            step.name = new if step.name == old else step.name
            step.input = new if step.input == old else step.input
            step.measure = new if step.measure == old else step.measure
            step.image = new if step.image == old else step.image
            step.params = {k: (new if v == old else v) for k, v in step.params.items()}
        if old in self.recorder.layer_of_step:
            self.recorder.layer_of_step[new] = self.recorder.layer_of_step.pop(old)
        self._edited(f"renamed {old} to {new}")

    def set_params(self) -> None:
        import yaml

        index = self._selected()
        if index is None:
            return
        try:
            params = yaml.safe_load(str(self.params.value) or "{}") or {}
            if not isinstance(params, dict):
                raise ValueError("parameters are a mapping, e.g. {sigma: 2.0}")
        except (ValueError, yaml.YAMLError) as exc:
            self.status.value = f"parameters not changed: {exc}"
            return
        step = self.workflow.steps[index]
        before = step.params
        step.params = params
        from ..pipeline.workflow import WorkflowError

        try:
            self.workflow.validate(extras=tuple(self.workflow.case_inputs()))
        except WorkflowError as exc:
            step.params = before
            self.status.value = f"parameters not changed: {exc}"
            return
        self._edited(f"parameters of {step.name} set")

    # ------------------------------------------------------------------ files
    def save(self) -> Path | None:
        """Write the workflow as YAML to the chosen file."""
        from napari.utils.notifications import show_error

        path = Path(str(self.path.value))
        if str(self.path.value) in ("", ".") or not self.workflow.steps:
            show_error("Workflow: record a step and choose a file first")
            return None
        if path.suffix.lower() not in (".yaml", ".yml"):
            path = path.with_suffix(".yaml")
        self.workflow.name = path.stem
        self.workflow.inputs = self.workflow.case_inputs() or None  # declared: the file loads and runs again
        written = self.workflow.save(path)
        self.status.value = f"saved {written.name} ({len(self.workflow.steps)} steps)"
        return written

    def load(self) -> None:
        from napari.utils.notifications import show_error

        from ..pipeline.workflow import WorkflowError, load_workflow

        try:
            loaded = load_workflow(str(self.path.value))
        except WorkflowError as exc:
            show_error(f"Workflow: {exc}")
            self.status.value = str(exc)
            return
        self.recorder.clear()
        self.recorder.workflow.name, self.recorder.workflow.description = loaded.name, loaded.description
        self.recorder.workflow.steps.extend(loaded.steps)
        self.recorder.workflow.outputs = loaded.outputs
        self.recorder.workflow.report = loaded.report  # a recipe stays a recipe when saved again
        self.recorder.workflow.inputs = loaded.inputs
        self.recorder.changed()
        self.status.value = f"loaded {loaded.name} ({len(loaded.steps)} steps)"

    # ------------------------------------------------------------------ replay
    def replay(self, *, start_thread: bool = True) -> Any:
        """Run the workflow on the chosen image layer in a worker; outputs become layers."""
        from napari.utils.notifications import show_error

        from .._napari.layers import layer_snapshot, points_in_volume_world
        from ._common import run_in_worker

        layer = self.image_layer.value
        if layer is None or not self.workflow.steps:
            show_error("Workflow: choose an image layer, and record or load steps first")
            return None
        image = layer_snapshot(layer)
        extras = {}
        for name, kind in self.workflow.case_inputs().items():
            match = next((l for l in self.viewer.layers if l.name == name or l.name.replace(" ", "_").lower() == name), None)
            if match is None:
                show_error(f"Workflow: the input {name!r} ({kind}) is no layer of this viewer")
                return None
            extras[name] = points_in_volume_world(match, layer, image) if kind == "points" else layer_snapshot(match)
        worker = run_in_worker(self.workflow.run, image, extras, on_result=lambda r: self._show(r, layer.name),
                               title="Workflow", busy=[self.replay_button], status=self.status)
        self.status.value = f"replaying on {layer.name} ..."
        self.worker = worker
        if start_thread:
            worker.start()
        return worker

    def _show(self, result: Any, input_name: str) -> None:
        from .._napari.layers import add_volumes

        add_volumes(self.viewer, result.volumes, input_name)
        self.status.value = f"replayed {len(self.workflow.steps)} steps on {input_name}"
