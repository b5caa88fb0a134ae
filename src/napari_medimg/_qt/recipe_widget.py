"""The Recipes dock: one click runs a clinical recipe on the chosen study and writes its report.

A recipe (:mod:`napari_medimg.recipes`) is a shipped workflow with a report section. A recipe
that needs a click (``seeds``: the lesion of a breast ultrasound) offers a Points layer for it.
Run takes a snapshot of the image layer (and the click) and runs every step in a worker thread, with progress
and Cancel; the labels come back as layers (with their names and colours), point outputs as
Points layers (circles of their diameter, the table as features), measurement tables as the
labels' features and as text here. *Save report* writes the study report (HTML and PDF) with
napari's own picture of the canvas (as the user left it; after a run it shows the slice of
the first point, e.g. the best nodule candidate), and each table as CSV.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
from magicgui.widgets import ComboBox, Container, FileEdit, Label, ProgressBar, PushButton, create_widget

from ._common import ProgressPoller, read_only_text, run_in_worker, side_by_side
from ._viewer_events import follow_viewer

__all__ = ["RecipeWidget"]

_INDEX_COLUMNS = ("z", "row", "col")


class RecipeWidget(Container):
    """Run a shipped recipe on an image layer; show its results; save its report.

    Parameters
    ----------
    napari_viewer : napari.Viewer
        The viewer with the study.
    """

    def __init__(self, napari_viewer: Any) -> None:
        import napari

        from ..recipes import recipe_names

        super().__init__(labels=True)
        self.viewer = napari_viewer
        self.recipe = ComboBox(choices=recipe_names(), label="recipe")
        self.about = Label(value="")
        self.about.native.setWordWrap(True)
        self.image_layer = create_widget(annotation=napari.layers.Image, label="study")
        self.inputs = Container(labels=True)  # one layer picker per input the recipe needs besides the image
        self._layer_types = {"points": napari.layers.Points, "labels": napari.layers.Labels,
                             "image": napari.layers.Image}
        self.run_button, self.cancel_button = PushButton(text="Run"), PushButton(text="Cancel", enabled=False)
        self.progress_bar = ProgressBar(value=0, min=0, max=100, label="progress")
        self.results = read_only_text("results", height=120)
        self.report_folder = FileEdit(mode="d", label="report folder")
        self.report_button = PushButton(text="Save report", enabled=False)
        self.status = Label(value="")
        self.extend([self.recipe, self.about, self.image_layer, self.inputs, side_by_side(self.run_button, self.cancel_button),
                     self.progress_bar, self.results, self.report_folder, self.report_button, self.status])
        self.recipe.changed.connect(self._describe)
        self.run_button.changed.connect(self.start)
        self.cancel_button.changed.connect(self._cancelled_set)
        self.report_button.changed.connect(self.save_report)
        self._cancelled = threading.Event()
        self._progress = ProgressPoller(self, self.progress_bar)
        self.workflow = None
        self.result = None
        self.worker = None
        self._describe()
        follow_viewer(self, napari_viewer.layers.events.inserted, self.reset_choices)
        follow_viewer(self, napari_viewer.layers.events.removed, self.reset_choices)

    def _describe(self, *_: Any) -> None:
        from ..pipeline import load_workflow

        if self.recipe.value:
            self.workflow = load_workflow(self.recipe.value)
            self.about.value = self.workflow.description
            self.inputs.clear()
            for name, kind in self.workflow.case_inputs().items():
                label = f"{name} (a click: Points layer)" if kind == "points" else f"{name} ({kind})"
                self.inputs.append(create_widget(annotation=self._layer_types[kind], label=label, name=name))
            self.inputs.visible = len(self.inputs) > 0
            self.inputs.reset_choices()

    def _cancelled_set(self) -> None:
        self._cancelled.set()
        self.status.value = "cancelling ..."

    # ------------------------------------------------------------------ run
    def start(self, *, start_thread: bool = True) -> Any:
        """Run the recipe on the chosen layer in a worker thread; returns the worker."""
        from napari.utils.notifications import show_error

        from .._napari.layers import layer_snapshot

        layer = self.image_layer.value
        if layer is None or self.workflow is None:
            show_error("Recipes: open a study and choose it")
            return None
        image = _with_spacing_note(layer, layer_snapshot(layer))
        workflow = self.workflow
        try:
            extras = self._extras(layer, image)
        except ValueError as exc:
            show_error(f"Recipes: {exc}")
            self.status.value = str(exc)
            return None
        self._cancelled.clear()
        worker = run_in_worker(workflow.run, image, extras, progress=self._progress.set, cancel=self._cancelled.is_set,
                               on_result=lambda result: self._show(result, layer), title=f"Recipe {workflow.name}",
                               busy=[self.run_button, self.report_button], status=self.status,
                               on_finished=self._stopped)
        self.cancel_button.enabled = True
        self.status.value = f"{workflow.name} on {layer.name} ..."
        self.worker = worker
        self._progress.start()
        if start_thread:
            worker.start()
        return worker

    def _extras(self, layer: Any, image: Any) -> dict[str, Any]:
        """The recipe's other inputs from their layers: clicks as world coordinates of the study's Volume."""
        from .._napari.layers import layer_snapshot, points_in_volume_world

        extras = {}
        for picker in self.inputs:
            chosen = picker.value
            if chosen is None:
                raise ValueError(f"{self.workflow.name} needs {picker.label}: add one and choose it")
            if picker.annotation is self._layer_types["points"]:
                points = points_in_volume_world(chosen, layer, image)
                if points is None:
                    raise ValueError(f"{self.workflow.name}: place a point in {chosen.name} ({picker.name}), then Run")
                extras[picker.name] = points
            else:
                extras[picker.name] = layer_snapshot(chosen)
        return extras

    def _stopped(self) -> None:
        self._progress.stop()
        self.cancel_button.enabled = False
        self.report_button.enabled = self.result is not None

    def _show(self, result: Any, layer: Any) -> None:
        from ..analysis.measure import to_layer_features
        from .._napari.layers import add_volumes

        self.result = result
        labels_layers = add_volumes(self.viewer, result.volumes, layer.name)
        lines = []
        for name, table in result.tables.items():
            if all(c in table for c in _INDEX_COLUMNS[-layer.ndim:]) and "label" not in table:
                self._add_points(layer, name, table)
                lines.append(f"{name}: {len(next(iter(table.values())))} point(s)")
                continue
            step = next(s for s in self.workflow.steps if s.name == name)
            if step.kind == "measure" and step.measure in labels_layers:
                labels_layers[step.measure].features = to_layer_features(table)
            lines += [f"{name}:"] + _table_lines(table)
        self.results.value = "\n".join(lines)
        self._go_to_first_point(layer)
        self.status.value = f"{self.workflow.name}: done on {layer.name}; save the report below"

    def _go_to_first_point(self, layer: Any) -> None:
        """Show the slice of the first point drawn (the best nodule candidate), as the report's picture does."""
        from napari.layers import Points

        shown = (self.workflow.report or {}).get("show", [])
        for candidate in self.viewer.layers:
            if isinstance(candidate, Points) and len(candidate.data) and candidate.name.endswith(tuple(shown)):
                world = candidate.data_to_world(candidate.data[0])
                for axis in range(layer.ndim - 2):
                    self.viewer.dims.set_point(axis, world[axis])
                return

    def _add_points(self, layer: Any, name: str, table: dict) -> None:
        """A Points layer at the table's voxel indices, through the study layer's own transform."""
        from .._napari.layers import add_points_at

        index = np.stack([np.asarray(table[c], float) for c in _INDEX_COLUMNS[-layer.ndim:]], axis=1)
        add_points_at(self.viewer, layer, index, {k: np.asarray(v) for k, v in table.items()}, f"{layer.name} {name}")

    # ------------------------------------------------------------------ report
    def save_report(self) -> Path | None:
        """Write the report (napari's picture of the canvas) and each table as CSV; returns the HTML path."""
        from napari.utils.notifications import show_error

        from ..io.csv_table import write_csv
        from ..pipeline.report import REPORT_PDF, write_report

        folder = str(self.report_folder.value)
        if self.result is None or folder in ("", "."):
            show_error("Recipes: run a recipe, then choose the report folder")
            return None
        picture = np.asarray(self.viewer.screenshot(canvas_only=True, flash=False))[..., :3]
        if np.ptp(picture) == 0:  # a hidden or minimised window gives a blank canvas: draw it instead
            picture = None
        path = write_report(self.workflow, self.result, folder, picture=picture,
                            source_sha256=self.result.image.metadata.get("source_sha256"))
        for name, table in self.result.tables.items():
            write_csv(table, Path(folder) / f"{name}.csv", overwrite=True)
        self.status.value = f"report: {path} (and {REPORT_PDF})"
        return path


def _with_spacing_note(layer: Any, image: Any) -> Any:
    """The snapshot, noting (for the report) that sizes assume 1 mm per pixel when the layer gives no spacing.

    A layer opened by another reader (napari's own for PNG / JPEG) carries no geometry of this
    plugin; with a scale of 1 its sizes are in pixels, and the report must say so.
    """
    from .._napari.layers import MEDIMG_KEY
    from ..io.warnings_codes import NO_SPACING, make_warning, warning_codes

    warnings = list(image.metadata.get("warnings", []))
    if MEDIMG_KEY in (layer.metadata or {}) or NO_SPACING in warning_codes(warnings) \
            or not np.allclose(layer.scale[-2:], 1.0):
        return image
    warnings.append(make_warning(NO_SPACING, f"{layer.name} gives no pixel spacing; 1 mm per pixel is assumed"))
    image.metadata["warnings"] = warnings
    return image


def _table_lines(table: dict, limit: int = 12) -> list[str]:
    """A table's main figures as text lines (one per row)."""
    wanted = [c for c in table if c in ("label", "name") or c.startswith(("volume_ml", "area_mm2", "mean", "percent_below",
                                                                          "diameter_mm"))]
    rows = len(next(iter(table.values()))) if table else 0
    lines = []
    for i in range(min(rows, limit)):
        cells = []
        for c in wanted:
            value = np.asarray(table[c])[i]
            cells.append(f"{c} {value:.4g}" if isinstance(value, (float, np.floating)) else f"{c} {value}")
        lines.append("  " + ", ".join(cells))
    return lines
