"""Pixel classifier from scribbles, with a live preview while the user paints.

Paint a few strokes of each class in a labels layer (1 = object, 2 = background, ...)
with a brush sized in mm. After each stroke, and whenever the slice in view changes, a
worker fits a small random forest (:data:`PixelClassifier.PREVIEW`) on the painted
voxels and classifies the slice in view; the preview appears as one slice at its true
depth. The features of each slice painted on or looked at are computed once and kept
(:class:`SliceFeatureCache`, emptied when the image or the scales change), and the
slice in view is prefetched as soon as the user arrives on it, so a stroke costs the
forest only (about 0.15 s on a BraTS FLAIR, 0.3 s on a 512 x 512 CT; see
``benchmarks/bench_interactive.py``). One preview worker runs at a time; strokes made
meanwhile are taken together by the next one, and results of an older stroke are
dropped. The GUI never waits. "Segment volume" trains the full forest (features of the
painted slices from the cache) and classifies everything in a worker
with progress and cancel, optionally keeping only the regions that touch their own
scribbles, and adds a labels layer and a probability map. Preview and result show the
object classes in colour over the image: the background class is 0 there (transparent,
also in 3D), and the status and the layer's features give each object's volume in mL.
Adding layers never takes the active layer away from the one being painted. With a
labels layer chosen in "add objects to", the object classes are added to it under new
ids instead (earlier objects kept, one undo entry; see :class:`.objects_target.ObjectsTarget`).
The trained classifier saves to a safe ``.npz`` file and applies to other images (features
are in mm).
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
from magicgui.widgets import CheckBox, Container, FileEdit, FloatSpinBox, Label, ProgressBar, PushButton, SpinBox, create_widget
from qtpy.QtCore import QTimer

from .._napari.display import image_display_kwargs
from .._napari.layers import MEDIMG_KEY, add_layer, brush_size_pixels, labels_features, layer_snapshot, volume_to_layer_data
from .._napari.preview import preview_layer_data
from ..progress import OperationCancelled
from ._viewer_events import follow_viewer
from .objects_target import ObjectsTarget

__all__ = ["ScribbleClassifierWidget"]

_BROWSE_DELAY_MS = 100  # the slice in view settles before its preview (a stroke's starts at once)
PREVIEW_NAME = "scribble classifier (preview)"


def _fit_and_preview(
    image: Any, scribbles: np.ndarray | None, z: int | None, options: dict, classifier: Any, background: int, cache: Any
) -> tuple | None:
    """Worker: fit the preview forest (unless ``classifier`` is given) and classify slice
    ``z``, background class at 0. Without two painted classes (``scribbles`` None) only
    prefetch the slice's features and return None."""
    from ..analysis.pixel_classifier import PixelClassifier, objects_only

    z = 0 if z is None else z
    if scribbles is None:
        PixelClassifier(**options).prefetch(image, z, cache)
        return None
    if classifier is None:
        classifier = PixelClassifier(**options, **PixelClassifier.PREVIEW).fit(image, scribbles, cache=cache)
    labels = objects_only(classifier.predict_slice(image, z, cache=cache), background)
    return classifier, labels


def _segment(
    image: Any, scribbles: np.ndarray, classifier: Any, options: dict, clean_up: bool, background: int, cache: Any, **callbacks: Any
) -> tuple:
    """Worker: fit the full forest if needed, classify the whole volume, optionally clean
    up; background class at 0, and the objects' features (volumes in mL)."""
    from ..analysis.pixel_classifier import PixelClassifier, keep_connected_to_scribbles, objects_only

    if classifier is None:
        classifier = PixelClassifier(**options).fit(image, scribbles, cache=cache, cancel=callbacks.get("cancel"))
    labels, proba = classifier.predict_with_proba(image, **callbacks)
    if clean_up:
        labels = keep_connected_to_scribbles(labels, scribbles, opening=2.0, spacing=image.spacing)
    labels = objects_only(labels, background)
    return classifier, labels, proba, labels_features(labels, image.spacing)


class ScribbleClassifierWidget(Container):
    """Train a pixel classifier from painted scribbles and segment the volume.

    Parameters
    ----------
    napari_viewer : napari.Viewer
        The viewer whose layers are offered.
    """

    def __init__(self, napari_viewer: Any) -> None:
        import napari

        super().__init__(labels=True)
        self.viewer = napari_viewer
        self.image_layer = create_widget(annotation=napari.layers.Image, label="image")
        self.scribbles_layer = create_widget(annotation=napari.layers.Labels, label="scribbles")
        self.new_scribbles = PushButton(text="New scribbles layer (1 = object, 2 = background)")
        self.brush_mm = FloatSpinBox(
            value=3.0, min=0.1, max=200.0, step=0.5, label="brush size (mm)",
            tooltip="Diameter of the paint brush on the image, whatever its pixel size.",
        )
        self.background_class = SpinBox(
            value=2, min=0, max=255, label="background class",
            tooltip="Scribble class shown transparent and left out of the volumes (0: none).",
        )
        self.smallest_scale = FloatSpinBox(value=1.0, min=0.1, max=50.0, step=0.5, label="smallest scale (mm)")
        self.largest_scale = FloatSpinBox(value=4.0, min=0.1, max=50.0, step=0.5, label="largest scale (mm)")
        self.live = CheckBox(text="live preview while painting", value=True)
        self.clean_up = CheckBox(text="keep regions touching their scribbles", value=True)
        self.objects = ObjectsTarget(napari_viewer)
        self.segment_button = PushButton(text="Segment volume")
        self.cancel_button = PushButton(text="Cancel", enabled=False)
        self.progress_bar = ProgressBar(value=0, min=0, max=100, label="progress")
        self.model_path = FileEdit(mode="w", filter="*.npz", label="classifier file")
        self.save_button = PushButton(text="Save classifier")
        self.load_button = PushButton(text="Load classifier")
        self.status = Label(value="paint at least two classes")
        self.extend(
            [
                self.image_layer, self.scribbles_layer, self.new_scribbles, self.brush_mm, self.background_class,
                self.smallest_scale, self.largest_scale,
                self.live, self.clean_up, *self.objects.widgets, self.segment_button, self.cancel_button, self.progress_bar,
                self.model_path, self.save_button, self.load_button, self.status,
            ]
        )
        from ..analysis.pixel_classifier import SliceFeatureCache

        self.classifier: Any = None  # the preview forest, or the full one after Segment / Load
        self._full = False  # whether self.classifier is the full forest
        self.cache = SliceFeatureCache()
        self._generation = 0  # bumped by each stroke: results of older fits are dropped
        self._fitted_generation = -1
        self.preview_worker: Any = None
        self._preview_pending = False  # a preview was asked for while one was running
        self.worker: Any = None
        self._cancelled = threading.Event()
        self._fraction = 0.0
        self._watched: Any = None
        self._timer = QTimer(self.native)  # parented: deleted with the dock, never fires after it
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.update_preview)
        self._progress_timer = QTimer(self.native)  # parented: deleted with the dock, never fires after it
        self._progress_timer.setInterval(100)
        self._progress_timer.timeout.connect(lambda: setattr(self.progress_bar, "value", int(100 * self._fraction)))
        self.new_scribbles.changed.connect(self.add_scribbles_layer)
        self.brush_mm.changed.connect(self._apply_brush)
        self.background_class.changed.connect(self._invalidate)
        self.scribbles_layer.changed.connect(self._watch)
        self._watched_image: Any = None
        self.image_layer.changed.connect(self._watch_image)
        for widget in (self.smallest_scale, self.largest_scale):
            widget.changed.connect(self._new_features)
        self.live.changed.connect(self._schedule)
        follow_viewer(self, napari_viewer.dims.events.current_step, self._browse)
        self.segment_button.changed.connect(self.segment)
        self.cancel_button.changed.connect(self.cancel)
        self.save_button.changed.connect(self.save)
        self.load_button.changed.connect(self.load)
        self.reset_choices()
        follow_viewer(self, napari_viewer.layers.events.inserted, self.reset_choices)
        follow_viewer(self, napari_viewer.layers.events.removed, self.reset_choices)
        self._watch(self.scribbles_layer.value)
        self._watch_image(self.image_layer.value)

    # ------------------------------------------------------------ inputs
    def _options(self) -> dict:
        from ..analysis.pixel_classifier import scales_between

        small, large = float(self.smallest_scale.value), float(self.largest_scale.value)
        return {"scales_mm": scales_between(small, max(small, large))}

    def add_scribbles_layer(self) -> Any:
        """A labels layer on the image's grid, carrying its geometry for saving."""
        image = self.image_layer.value
        if image is None:
            return None
        shape = image.data.shape[:-1] if image.rgb else image.data.shape
        layer = self.viewer.add_labels(
            np.zeros(shape, np.uint8),
            name=f"{image.name} scribbles",
            scale=image.scale,
            translate=image.translate,
            units=image.units,
            axis_labels=image.axis_labels,
            metadata={MEDIMG_KEY: dict(image.metadata.get(MEDIMG_KEY, {}))},
        )
        layer.mode = "paint"
        self.scribbles_layer.value = layer  # sizes its brush (see _watch)
        return layer

    def _apply_brush(self, *_: Any) -> None:
        """Set the scribbles layer's brush (data pixels) to ``brush_mm`` across."""
        layer = self.scribbles_layer.value
        if layer is not None:
            layer.brush_size = brush_size_pixels(layer, self.brush_mm.value)

    def _watch(self, layer: Any) -> None:
        if self._watched is not None:
            self._watched.events.paint.disconnect(self._stroke)
        self._watched = layer
        if layer is not None:
            layer.events.paint.connect(self._stroke)
            self._apply_brush()
        self._invalidate()

    def _watch_image(self, layer: Any) -> None:
        """Follow the image layer's data: new data, new features."""
        if self._watched_image is not None:
            self._watched_image.events.data.disconnect(self._new_features)
        self._watched_image = layer
        if layer is not None:
            layer.events.data.connect(self._new_features)
        self._new_features()

    def _new_features(self, *_: Any) -> None:
        """The image or the scales changed: cached features and the fitted forest are void."""
        self.cache.clear()
        self._invalidate()

    def _stroke(self, *_: Any) -> None:
        self._invalidate()

    def _invalidate(self, *_: Any) -> None:
        self._generation += 1
        self._schedule()

    def _schedule(self, *_: Any, delay_ms: int = 0) -> None:
        if self.live.value:
            self._timer.start(delay_ms)

    def _browse(self, *_: Any) -> None:
        self._schedule(delay_ms=_BROWSE_DELAY_MS)

    def _current_z(self, image_layer: Any) -> int | None:
        if image_layer.ndim - (1 if image_layer.rgb else 0) < 3:
            return None
        index = image_layer.world_to_data(np.asarray(self.viewer.dims.point)[-image_layer.ndim :])
        return int(np.clip(np.round(index[-3]), 0, image_layer.data.shape[-3] - 1))

    def _painted(self) -> np.ndarray | None:
        """A copy of the scribbles (painting goes on) when two classes are painted, else None."""
        scribbles = np.array(self.scribbles_layer.value.data)
        # classes present, read from the painted slices only (a 2D image is one slice)
        values = scribbles[scribbles.reshape(scribbles.shape[0], -1).any(axis=1)] if scribbles.ndim == 3 else scribbles
        if np.count_nonzero(np.unique(values)) < 2:
            self.status.value = "paint at least two classes (e.g. 1 = object, 2 = background)"
            return None
        return scribbles

    def _inputs(self) -> tuple[Any, np.ndarray] | None:
        image_layer, scribbles_layer = self.image_layer.value, self.scribbles_layer.value
        if image_layer is None or scribbles_layer is None:
            return None
        scribbles = self._painted()
        return None if scribbles is None else (layer_snapshot(image_layer), scribbles)

    # ------------------------------------------------------------ preview
    def update_preview(self, *, start_thread: bool = True) -> Any:
        """Fit the preview forest (when the scribbles changed) and classify the slice in view,
        in a worker; without two painted classes yet, prefetch the slice's features."""
        from ._workers import create_worker

        image_layer = self.image_layer.value
        if image_layer is None:
            return None
        if self.preview_worker is not None:  # one at a time: the next one takes every stroke since
            self._preview_pending = True
            return None
        scribbles = self._painted() if self.scribbles_layer.value is not None else None
        image = layer_snapshot(image_layer)
        generation = self._generation
        reuse = self.classifier if self._fitted_generation == generation else None
        z = self._current_z(image_layer)
        worker = create_worker(
            _fit_and_preview, image, scribbles, z, self._options(), reuse, int(self.background_class.value), self.cache,
            _start_thread=False, _ignore_errors=True,
        )
        worker.returned.connect(lambda result: self._show_preview(result, image, z, generation))
        worker.errored.connect(lambda exc: setattr(self.status, "value", f"preview: {exc}"))
        worker.finished.connect(self._preview_done)
        self.preview_worker = worker
        if scribbles is not None:
            self.status.value = "training ..." if reuse is None else "classifying the slice ..."
        if start_thread:
            worker.start()
        return worker

    def _preview_done(self) -> None:
        self.preview_worker = None
        if self._preview_pending:
            self._preview_pending = False
            self.update_preview()

    def _show_preview(self, result: tuple | None, image: Any, z: int | None, generation: int) -> None:
        if result is None:
            return  # features prefetched; nothing to show yet
        classifier, labels = result
        if generation != self._generation:
            return  # painted again since: a newer preview is on its way
        if classifier is not self.classifier:
            self.classifier, self._full = classifier, False
        self._fitted_generation = generation
        from ..volume import Volume

        if z is None:
            volume = image.with_array(labels)
            keep = -1
        else:
            volume = Volume(labels[np.newaxis], image.spacing, tuple(image.index_to_world([z, 0, 0])), image.direction, dict(image.metadata))
            volume.metadata["display_origin"] = tuple(np.asarray(image.origin) + np.asarray(image.spacing) * [z, 0, 0])
            keep = 0
        data, kwargs, layer_type = preview_layer_data(volume, keep, "labels", PREVIEW_NAME)
        if PREVIEW_NAME in self.viewer.layers:
            layer = self.viewer.layers[PREVIEW_NAME]
            layer.data = data
            layer.translate = kwargs["translate"]
        else:
            with self._keeping_active_layer():
                add_layer(self.viewer, data, kwargs, layer_type)
        area = labels_features(labels, image.spacing[-labels.ndim :])["volume_mm3"][1:]  # mm² of a slice
        where = f"slice {z}" if z is not None else "the image"
        self.status.value = f"preview of {where}: objects {np.sum(area) / 100.0:.2f} cm²"

    def _keeping_active_layer(self) -> Any:
        """Context in which added layers do not take the active layer (the one painted on)."""
        import contextlib

        @contextlib.contextmanager
        def keep() -> Any:
            active = self.viewer.layers.selection.active or self.scribbles_layer.value or self.image_layer.value
            yield
            if active is not None and active in self.viewer.layers:
                self.viewer.layers.selection.active = active

        return keep()

    # ------------------------------------------------------------ whole volume
    def segment(self, *, start_thread: bool = True) -> Any:
        """Classify the whole image in a worker (progress, cancel); returns the worker."""
        from ._workers import create_worker
        from napari.utils.notifications import show_error

        inputs = self._inputs()
        if inputs is None:
            show_error("Pixel classifier: " + self.status.value)
            return None
        image, scribbles = inputs
        reuse = self.classifier if self._full and self._fitted_generation == self._generation else None
        self._cancelled.clear()
        self._fraction = 0.0
        worker = create_worker(
            _segment, image, scribbles, reuse, self._options(), bool(self.clean_up.value), int(self.background_class.value),
            self.cache, progress=lambda f: setattr(self, "_fraction", float(f)), cancel=self._cancelled.is_set,
            _start_thread=False, _ignore_errors=True,
        )
        worker.returned.connect(lambda result: self._add_result(result, image))
        worker.errored.connect(self._report_error)
        worker.finished.connect(self._finished)
        self.worker = worker
        self.segment_button.enabled, self.cancel_button.enabled = False, True
        self._progress_timer.start()
        if start_thread:
            worker.start()
        return worker

    def cancel(self) -> None:
        """Stop the running segmentation; nothing is added."""
        self._cancelled.set()

    def _report_error(self, exc: BaseException) -> None:
        from napari.utils.notifications import show_error, show_info

        if isinstance(exc, OperationCancelled):
            show_info("Pixel classifier cancelled")
            self.status.value = "cancelled"
        else:
            show_error(f"Pixel classifier failed: {exc}")
            self.status.value = str(exc)

    def _finished(self) -> None:
        self._progress_timer.stop()
        self.segment_button.enabled, self.cancel_button.enabled = True, False
        self.progress_bar.value = 0 if self._cancelled.is_set() else 100

    def _add_result(self, result: tuple, image: Any) -> None:
        if self._cancelled.is_set():
            return
        classifier, labels, proba, features = result
        self.classifier, self._full = classifier, True
        if self.objects.chosen is not None:
            with self._keeping_active_layer():
                if PREVIEW_NAME in self.viewer.layers:
                    self.viewer.layers.remove(PREVIEW_NAME)
            ids = self.objects.add(labels, tuple(image.spacing), "Pixel classifier")
            self.status.value = f"segmented; object(s) {ids} added to {self.objects.chosen.name}" if ids else "segmented; nothing added"
            return
        name = self.image_layer.value.name if self.image_layer.value is not None else "image"
        first = image.with_array(proba[0])
        with self._keeping_active_layer():
            if PREVIEW_NAME in self.viewer.layers:
                self.viewer.layers.remove(PREVIEW_NAME)
            add_layer(
                self.viewer,
                *volume_to_layer_data(first, name=f"{name} probability of class {classifier.classes_[0]}", **image_display_kwargs(first), visible=False)
            )
            add_layer(
                self.viewer,
                *volume_to_layer_data(image.with_array(labels), name=f"{name} classes", layer_type="labels", features=features, opacity=0.6),
            )
        volumes = ", ".join(f"class {i}: {v:.2f} mL" for i, v in zip(features["index"][1:], features["volume_ml"][1:]))
        self.status.value = f"segmented; {volumes or 'no object voxels'}"

    # ------------------------------------------------------------ files
    def save(self) -> None:
        """Save the trained classifier to the chosen .npz file."""
        from napari.utils.notifications import show_error

        if self.classifier is None:
            show_error("Pixel classifier: train it first (paint, or segment the volume)")
            return
        if not self._full:  # the preview's small forest: save the full one (painted slices' features are cached)
            from ..analysis.pixel_classifier import PixelClassifier

            inputs = self._inputs()
            if inputs is None:
                show_error("Pixel classifier: " + self.status.value)
                return
            image, scribbles = inputs
            self.classifier = PixelClassifier(**self._options()).fit(image, scribbles, cache=self.cache)
            self._full, self._fitted_generation = True, self._generation
        path = self.classifier.save(self.model_path.value)
        self.status.value = f"saved {path.name}"

    def load(self) -> None:
        """Load a classifier (safe format); it is used until the scribbles change."""
        from napari.utils.notifications import show_error

        from ..analysis.pixel_classifier import PixelClassifier

        try:
            self.classifier = PixelClassifier.load(self.model_path.value)
        except (OSError, ValueError) as exc:
            show_error(f"Pixel classifier: {exc}")
            return
        self._fitted_generation, self._full = self._generation, True
        self.status.value = f"loaded; classes {list(self.classifier.classes_)}"
