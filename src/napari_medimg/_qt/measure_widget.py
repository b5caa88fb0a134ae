"""A dock widget that measures every object of a labels layer, optionally with radiomics.

The table (volume in mL, surface, sphericity, world centroid, intensity statistics in
the image's units, and pyradiomics-named radiomics features when asked) becomes the
labels layer's ``features``: napari shows the row of the object under the cursor, and
the Features table widget sorts, links and exports it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from magicgui.widgets import CheckBox, Container, FileEdit, Label, PushButton, create_widget
from ._viewer_events import follow_viewer

__all__ = ["MeasureWidget", "measure_with_radiomics"]


def measure_with_radiomics(labels: Any, image: Any, settings_path: str | None, radiomics: bool, **callbacks: Any) -> dict:
    """Measurements of every label, plus radiomics features per label when asked.

    Runs in the worker thread. Returns the napari features dict (``index`` column first,
    background row 0).
    """
    from ..analysis.measure import measure_labels, to_layer_features

    table = measure_labels(labels, image, **callbacks)
    if radiomics and image is not None and len(table["label"]):
        from ..analysis.radiomics import extract, load_settings

        settings = load_settings(settings_path if settings_path else {})
        rows = []
        for value in table["label"]:
            settings["label"] = int(value)  # the file's classes and features still apply
            rows.append(extract(image, labels, settings))
        for key in rows[0]:
            table[key] = np.asarray([row.get(key, np.nan) for row in rows], dtype=np.float64)
    return to_layer_features(table)


class MeasureWidget(Container):
    """Measure the objects of a labels layer (and the image under them).

    Parameters
    ----------
    napari_viewer : napari.Viewer
        The viewer whose layers are offered.
    """

    def __init__(self, napari_viewer: Any) -> None:
        import napari

        super().__init__(labels=True)
        self.viewer = napari_viewer
        self.labels_layer = create_widget(annotation=napari.layers.Labels, label="labels")
        self.image_layer = create_widget(
            annotation=napari.layers.Image | None, label="image (optional)"
        )
        self.radiomics = CheckBox(text="radiomics features (pyradiomics definitions)", value=False)
        self.settings = FileEdit(mode="r", filter="*.yaml *.yml *.json", label="radiomics settings", value="")
        self.run_button = PushButton(text="Measure")
        self.status = Label(value="")
        self.extend([self.labels_layer, self.image_layer, self.radiomics, self.settings, self.run_button, self.status])
        self.run_button.changed.connect(self.start)
        self.worker = None
        self.reset_choices()
        follow_viewer(self, napari_viewer.layers.events.inserted, self.reset_choices)
        follow_viewer(self, napari_viewer.layers.events.removed, self.reset_choices)

    def start(self, *, start_thread: bool = True) -> Any:
        """Snapshot the layers and measure in a worker thread; returns the worker."""
        from ._workers import create_worker
        from napari.utils.notifications import show_error

        from .._napari.layers import layer_snapshot

        layer = self.labels_layer.value
        if layer is None:
            show_error("Measure: choose a labels layer")
            return None
        labels = layer_snapshot(layer)
        image = layer_snapshot(self.image_layer.value) if self.image_layer.value is not None else None
        settings = str(self.settings.value) if str(self.settings.value) not in ("", ".") else None
        self.status.value = "measuring ..."
        worker = create_worker(
            measure_with_radiomics, labels, image, settings, bool(self.radiomics.value), _start_thread=False, _ignore_errors=True
        )
        worker.returned.connect(lambda features: self._show(layer, features))
        worker.errored.connect(lambda exc: (show_error(f"Measure: {exc}"), setattr(self.status, "value", str(exc))))
        self.worker = worker
        self.run_button.enabled = False
        worker.finished.connect(lambda: setattr(self.run_button, "enabled", True))
        if start_thread:
            worker.start()
        return worker

    def _show(self, layer: Any, features: dict) -> None:
        from .._napari.label_names import keep_names

        layer.features = keep_names(layer, features)  # names given to the objects stay
        count = len(features["index"]) - 1
        self.status.value = f"{count} object(s), {len(features) - 1} columns"
