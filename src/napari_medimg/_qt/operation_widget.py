"""One dock widget per registered operation, generated from the registry.

Each widget has a layer picker, the operation's parameters with their units and
tooltips, a live preview of the current slice, Run and Cancel buttons and a progress
bar. The input layer is snapshotted, the operation runs in a napari worker thread, and
the result becomes a new layer with the input's geometry. Errors become napari
notifications; no layer is replaced.

An operation that makes labels on the input's grid (region growing, thresholds,
watershed, ...) can instead add its objects to a chosen labels layer ("add objects to"):
each run's objects get the next free ids and never overwrite earlier ones unless
"paint over" is ticked, and "Undo last run" (or napari's own undo) takes back the last
run only. For the tools grown from clicked seeds, the first run into "a new layer"
creates the layer and chooses it, so clicking organ after organ fills one layer. Runs
added to an existing layer are not recorded as workflow steps (a workflow makes layers).
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from magicgui.widgets import CheckBox, Container, ProgressBar, PushButton, create_widget
from qtpy.QtCore import QTimer

from ..operations import OPERATIONS, Operation, get_operation
from ..progress import OperationCancelled
from .._napari.display import image_display_kwargs
from .._napari.manifest import widget_class_name
from .._napari.layers import (MEDIMG_KEY, add_layer, labels_features, layer_kind, layer_snapshot, points_in_volume_world,
                              volume_to_layer_data)
from .._napari.preview import PREVIEW_LAYER_SUFFIX, preview_input, preview_layer_data, preview_result
from ._viewer_events import follow_viewer
from .objects_target import ObjectsTarget

__all__ = ["OperationWidget", "make_operation_widget"]

_POLL_MS = 100
_PREVIEW_DELAY_MS = 250


class OperationWidget(Container):
    """A magicgui container that runs one :class:`~napari_medimg.operations.Operation`.

    Parameters
    ----------
    viewer : napari.Viewer
        The viewer whose layers are offered and receive the result.
    operation : Operation
        What to run.
    """

    def __init__(self, viewer: Any, operation: Operation) -> None:
        import napari

        super().__init__(labels=True)
        self.viewer = viewer
        self.operation = operation
        layer_type = napari.layers.Labels if operation.input_kind == "labels" else napari.layers.Image
        self.input_layer = create_widget(annotation=layer_type, label="input")
        self.parameter_widgets = {}
        for parameter in operation.parameters:
            if parameter.is_layer:
                kind = {
                    "labels": napari.layers.Labels,
                    "points": napari.layers.Points,
                }.get(parameter.layer_kind, napari.layers.Image)
                self.parameter_widgets[parameter.name] = create_widget(
                    annotation=kind, label=parameter.label, options={"tooltip": parameter.help}
                )
                continue
            options: dict[str, Any] = {"tooltip": parameter.help}
            if parameter.choices:
                options["choices"] = parameter.choices
            if parameter.minimum is not None:
                options["min"] = parameter.minimum
            if parameter.maximum is not None:
                options["max"] = parameter.maximum
            elif parameter.type is float:
                options["max"] = 1e9
            if parameter.type is float:
                options.setdefault("min", -1e9)
                options["step"] = 0.1
            widget = create_widget(
                value=parameter.default, annotation=parameter.type, label=parameter.label, options=options
            )
            self.parameter_widgets[parameter.name] = widget
        # how (or why not) the slice in view is previewed is a fact of the operation
        self.preview = CheckBox(
            text="preview current slice" if operation.previewable else operation.preview_note,
            value=False,
            enabled=operation.previewable,
            tooltip=operation.preview_note,
        )
        self.objects: ObjectsTarget | None = None  # "add objects to" (labels results on the input grid)
        self._seeded = any(p.is_layer and p.layer_kind == "points" for p in operation.parameters)
        if operation.output_kind == "labels" and operation.geometry == "same":
            self.objects = ObjectsTarget(viewer)
        self.run_button = PushButton(text=f"Run {operation.title}")
        self.cancel_button = PushButton(text="Cancel", enabled=False)
        self.progress_bar = ProgressBar(value=0, min=0, max=100, label="progress")
        self.extend(
            [
                self.input_layer,
                *self.parameter_widgets.values(),
                self.preview,
                *(self.objects.widgets if self.objects is not None else []),
                self.run_button,
                self.cancel_button,
                self.progress_bar,
            ]
        )
        self.run_button.changed.connect(self.start)
        self.cancel_button.changed.connect(self.cancel)
        self.worker = None
        self._cancelled = threading.Event()
        self._failed = False  # the last run raised (its error is on the progress bar's tooltip)
        self.error: BaseException | None = None  # what the last run raised (OperationCancelled after Cancel)
        self._fraction = 0.0
        self._timer = QTimer(self.native)  # parented: deleted with the dock, never fires after it
        self._timer.setInterval(_POLL_MS)
        self._timer.timeout.connect(self._show_progress)
        self.preview_worker = None
        self._preview_cancel = threading.Event()  # set when a newer preview replaces this one
        self._preview_timer = QTimer(self.native)  # parented: deleted with the dock, never fires after it
        self._preview_timer.setSingleShot(True)
        self._preview_timer.setInterval(_PREVIEW_DELAY_MS)
        self._preview_timer.timeout.connect(self.update_preview)
        for widget in (*self.parameter_widgets.values(), self.input_layer, self.preview):
            widget.changed.connect(self._schedule_preview)
        follow_viewer(self, viewer.dims.events.current_step, self._schedule_preview)
        self.reset_choices()
        follow_viewer(self, viewer.layers.events.inserted, self.reset_choices)
        follow_viewer(self, viewer.layers.events.removed, self.reset_choices)

    # --------------------------------------------------------------- preview
    def _schedule_preview(self, *_: Any) -> None:
        if self.preview.value:
            self._preview_timer.start()
        else:
            self._remove_preview()

    def _preview_name(self) -> str:
        return f"{self.operation.name} {PREVIEW_LAYER_SUFFIX}"

    def _remove_preview(self) -> None:
        name = self._preview_name()
        if name in self.viewer.layers:
            self.viewer.layers.remove(name)

    def update_preview(self, *, start_thread: bool = True) -> Any:
        """Compute the operation's preview of the slice in view, in a worker; returns the worker.

        The operation runs on the neighbouring slices it depends on, or on the whole
        volume when its result depends on all of it (``Operation.preview``), so the slice
        shown equals the full run's slice; it appears as one slice at its true depth. A
        newer preview cancels the one still running, and a stale result is never shown.
        """
        from ._workers import create_worker

        self._preview_timer.stop()  # this update supersedes a scheduled one
        layer = self.input_layer.value
        if layer is None or not self.preview.value or not self.operation.previewable:
            return None
        volume, z = preview_input(layer, self.viewer.dims.point)
        try:
            values = self.values()
        except ValueError:
            return None
        self._preview_cancel.set()  # the running preview, if any, is out of date
        if self.preview_worker is not None:
            self.preview_worker.quit()
        cancel = self._preview_cancel = threading.Event()
        worker = create_worker(
            preview_result, self.operation, volume, values, z, cancel=cancel.is_set, _start_thread=False, _ignore_errors=True
        )
        worker.returned.connect(lambda result: None if cancel.is_set() else self._show_preview(*result))
        worker.errored.connect(lambda exc: None if cancel.is_set() else self._remove_preview())
        self.preview_worker = worker
        if start_thread:
            worker.start()
        return worker

    def _show_preview(self, result: Any, keep: int) -> None:
        if not self.preview.value:
            return
        data, kwargs, layer_type = preview_layer_data(result, keep, self.operation.output_kind, self._preview_name())
        name = self._preview_name()
        if name in self.viewer.layers and layer_kind(self.viewer.layers[name]) == layer_type:
            existing = self.viewer.layers[name]
            existing.data = data
            existing.translate = kwargs["translate"]
            if "contrast_limits" in kwargs:
                existing.contrast_limits = kwargs["contrast_limits"]
        else:
            self._remove_preview()
            add_layer(self.viewer, data, kwargs, layer_type)

    # --------------------------------------------------------------- running
    def values(self, snapshot: Any = None) -> dict[str, Any]:
        """Current parameter values; second-input layers as Volumes (snapshotted).

        Points are given in the world of ``snapshot`` (the input's Volume): napari world
        coordinates go through the input layer's transform, so seeds land on the voxels
        under them also for scaled, translated or oblique layers.
        """
        values = {}
        for name, widget in self.parameter_widgets.items():
            value = widget.value
            kind = self.operation.parameter(name).layer_kind
            if kind not in (None, "points") and snapshot is None and self.input_layer.value is not None:
                snapshot = layer_snapshot(self.input_layer.value)
            if kind == "points":
                value = points_in_volume_world(value, self.input_layer.value, snapshot)
            elif kind is not None and value is not None:
                value = self._second_input(value, snapshot)
            values[name] = value
        return values

    def _second_input(self, layer: Any, snapshot: Any) -> Any:
        """Snapshot of a second-input layer; one drawn on the input's grid with napari's
        "new labels" button (no geometry of its own) takes the input's true direction."""
        import dataclasses

        other = layer_snapshot(layer)
        if snapshot is None or (layer.metadata or {}).get(MEDIMG_KEY):
            return other
        same_grid = (
            other.spatial_shape == snapshot.spatial_shape
            and np.allclose(other.spacing, snapshot.spacing)
            and np.allclose(other.origin, snapshot.origin)
        )
        return dataclasses.replace(other, direction=snapshot.direction) if same_grid else other

    def start(self, *, start_thread: bool = True) -> Any:
        """Snapshot the input layer and run the operation in a worker thread.

        Parameters
        ----------
        start_thread : bool
            Start the worker; False returns it unstarted, so a caller (a test) can
            connect to its signals first.

        Returns
        -------
        napari.qt.threading.FunctionWorker or None
            The started worker (tests wait on its signals), None when no input is chosen.
        """
        from ._workers import create_worker
        from napari.utils.notifications import show_error

        layer = self.input_layer.value
        if layer is None:
            show_error(f"{self.operation.title}: choose an input layer first")
            return None
        volume = layer_snapshot(layer)
        try:
            values = self.values(volume)
        except ValueError as exc:
            show_error(f"{self.operation.title}: {exc}")
            return None
        if not self._within_budget(volume, values):
            return None
        self._cancelled.clear()
        self._failed = False
        self.error = None
        self._fraction = 0.0
        self.progress_bar.value = 0
        self.progress_bar.label = "progress"
        self.progress_bar.tooltip = None
        worker = create_worker(
            _returning_errors,
            run_with_summary,
            self.operation,
            volume,
            values,
            progress=self._set_fraction,
            cancel=self._cancelled.is_set,
            _start_thread=False, _ignore_errors=True,
        )
        recorded = self._recordable_values()
        worker.returned.connect(lambda result: self._returned(result, layer.name, recorded))
        worker.errored.connect(self._report_error)
        worker.finished.connect(self._finished)
        self.worker = worker
        self.run_button.enabled = False
        self.cancel_button.enabled = True
        self._timer.start()
        if start_thread:
            worker.start()
        return worker

    def _within_budget(self, volume: Any, values: dict[str, Any]) -> bool:
        """Say before a run what it would cost: refuse one that cannot fit in memory.

        A run expected to take minutes is announced in a notification and started; one
        whose result would not fit in the memory available (or whose parameters are
        refused) is shown as an error and not started.
        """
        import warnings

        from napari.utils.notifications import show_error, show_warning

        from ..budget import SlowOperationWarning, enforce

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", SlowOperationWarning)
            try:
                enforce(self.operation.title, self.operation.estimate_cost(volume, values))
            except ValueError as exc:  # BudgetError is a ValueError, as are refused parameters
                show_error(f"{self.operation.title}: {exc}")
                return False
        for warning in caught:
            if issubclass(warning.category, SlowOperationWarning):
                show_warning(f"{warning.message}. Running; Cancel stops it.")
        return True

    def _report_error(self, exc: BaseException) -> None:
        from napari.utils.notifications import show_error, show_info

        self.error = exc
        if isinstance(exc, OperationCancelled):
            show_info(f"{self.operation.title} cancelled")
            return
        self._failed = True
        self.progress_bar.value = 0
        self.progress_bar.label = "failed"
        self.progress_bar.tooltip = f"{type(exc).__name__}: {exc}"
        show_error(f"{self.operation.title} failed: {exc}")

    def cancel(self) -> None:
        """Ask the running operation to stop; its result, if any, is discarded."""
        self._cancelled.set()
        if self.worker is not None:
            self.worker.quit()

    def _set_fraction(self, fraction: float) -> None:  # called from the worker thread
        self._fraction = float(fraction)

    def _show_progress(self) -> None:
        self.progress_bar.value = int(round(100 * min(max(self._fraction, 0.0), 1.0)))

    def _finished(self) -> None:
        self._timer.stop()
        self.run_button.enabled = True
        self.cancel_button.enabled = False
        self.progress_bar.value = 0 if self._cancelled.is_set() or self._failed else 100

    def _returned(self, result: Any, input_name: str, recorded: tuple[dict, dict] | None = None) -> None:
        if isinstance(result, _Raised):
            self._report_error(result.exception)
        else:
            name = self._add_result(result, input_name)
            if name is not None and recorded is not None:
                from .._napari.recorder import recorder_for

                recorder_for().record(self.operation.name, input_name, recorded[0], recorded[1], name)

    def _recordable_values(self) -> tuple[dict[str, Any], dict[str, str]]:
        """The run's parameters for the workflow: values, and second-input layers by name."""
        values, layers = {}, {}
        for name, widget in self.parameter_widgets.items():
            value = widget.value
            if self.operation.parameter(name).is_layer:
                if value is not None:
                    layers[name] = value.name
            else:
                values[name] = value.item() if hasattr(value, "item") else value
        return values, layers

    def _add_result(self, result: tuple[Any, dict | None], input_name: str) -> str | None:
        """Add the result as a layer; its name (None when the run was cancelled)."""
        from napari.utils.notifications import show_info

        if self._cancelled.is_set():
            return None
        volume, features = result
        self._remove_preview()
        name = f"{input_name} {self.operation.name}"
        if self.operation.output_kind == "points":
            self._add_points(volume, features, name)
            return self.viewer.layers[-1].name
        if self.objects is not None and self.objects.chosen is not None:
            self.objects.add(volume.array, tuple(volume.spacing), self.operation.title)
            return None  # not a workflow step: a workflow makes layers
        if self.operation.output_kind == "labels":
            data = volume_to_layer_data(volume, name=name, layer_type="labels", features=features)
            count = len(features["index"]) - 1
            total = float(np.nansum(features["volume_mm3"]))
            # a picture's objects have an area (mm^2 of 1 mm pixels when it carries no spacing), not a volume
            amount = f"{total / 1000.0:.2f} mL" if volume.spatial_ndim == 3 else f"{total:.0f} mm\u00b2"
            show_info(f"{name}: {count} object(s), {amount} in all")
        else:
            data = volume_to_layer_data(volume, name=name, **image_display_kwargs(volume))
        layer = add_layer(self.viewer, *data)
        if self.objects is not None and self._seeded:  # the next clicks add their objects to this layer
            self.objects.choose(layer)
        return layer.name  # napari may have made the name unique

    def _add_points(self, points: Any, features: dict, name: str) -> None:
        """A Points layer at the points' voxels, through the input layer's own transform."""
        from napari.utils.notifications import show_info

        from .._napari.layers import add_points_at

        add_points_at(self.viewer, self.input_layer.value, points.index, features, name)
        summary = points.summary() if hasattr(points, "summary") else f"{len(points)} point(s)"
        show_info(f"{name}: {summary}")


class _Raised:
    """What a worker returns instead of raising: napari 0.9.2's task-status slot on
    ``errored`` takes the wrong number of arguments and raises in the Qt event loop."""

    def __init__(self, exception: BaseException) -> None:
        self.exception = exception


def _returning_errors(function: Any, *args: Any, **kwargs: Any) -> Any:
    """``function(*args, **kwargs)``, or :class:`_Raised` holding what it raised."""
    try:
        return function(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - every failure is reported by the widget
        return _Raised(exc)


def run_with_summary(operation: Operation, volume: Any, values: dict[str, Any], **callbacks: Any) -> tuple[Any, dict | None]:
    """Run ``operation`` (in the worker thread) and, for labels, summarise each object.

    Returns
    -------
    (Volume, dict or None)
        The result and, for labels, napari features: ``index`` (0 = background),
        ``voxel_count``, ``volume_mm3`` and ``volume_ml`` per label.
    """
    result = operation.run(volume, values, **callbacks)
    if operation.output_kind == "points":
        return result, result.table()
    if operation.output_kind != "labels":
        return result, None
    return result, labels_features(result.array, result.spacing)


def make_operation_widget(napari_viewer: Any, name: str) -> OperationWidget:
    """The dock widget of the operation called ``name``."""
    return widget_class(name)(napari_viewer)


_CLASSES: dict[str, type] = {}


def widget_class(name: str) -> type:
    """The :class:`OperationWidget` subclass of one operation.

    napari builds a dock widget by calling the contributed class with the viewer passed
    to the ``__init__`` parameter called ``napari_viewer``; a factory function would get
    no viewer. One subclass per operation (made once, on first use) gives each menu
    entry a class napari can build.
    """
    if name not in _CLASSES:
        operation = get_operation(name)

        def __init__(self: OperationWidget, napari_viewer: Any) -> None:
            OperationWidget.__init__(self, napari_viewer, operation)

        _CLASSES[name] = type(
            widget_class_name(name),
            (OperationWidget,),
            {"__init__": __init__, "__doc__": f"Dock widget of {operation.title!r}.", "__module__": __name__},
        )
    return _CLASSES[name]


def __getattr__(attribute: str) -> Any:
    """The ``<Operation>Widget`` classes, one per registered operation, for the manifest."""
    for op in OPERATIONS:
        if widget_class_name(op.name) == attribute:
            return widget_class(op.name)
    raise AttributeError(f"module {__name__!r} has no attribute {attribute!r}")
