"""A dock widget that measures every object of a labels layer, optionally with radiomics.

The table (volume in mL, surface, sphericity, world centroid, intensity statistics in
the image's units, and pyradiomics-named radiomics features when asked) becomes the
labels layer's ``features``: napari shows the row of the object under the cursor, and
the Features table widget sorts, links and exports it.
"""

from __future__ import annotations

from typing import Any

from magicgui.widgets import CheckBox, Container, FileEdit, Label, LineEdit, PushButton, create_widget
from ._viewer_events import follow_viewer

__all__ = ["MeasureWidget", "measure_with_radiomics"]


def measure_with_radiomics(labels: Any, image: Any, settings_path: str | None, radiomics: bool,
                           below: tuple[float, ...] = (), **callbacks: Any) -> dict:
    """Measurements of every label, plus radiomics features per label when asked.

    ``below``: thresholds in the image's units; each adds the percentage of a label's voxels
    below it (``percent_below_<t>_<units>``: -950 HU on the lungs is the emphysema index).

    Runs in the worker thread. Returns the napari features dict (``index`` column first,
    background row 0).
    """
    from ..analysis.measure import measure_objects, to_layer_features

    radiomics = radiomics and image is not None  # without an image: the measurements alone
    return to_layer_features(measure_objects(labels, image, radiomics=radiomics, radiomics_settings=settings_path,
                                             below=below if image is not None else (), **callbacks))


def parse_thresholds(text: str) -> tuple[float, ...]:
    """``"-950, -910"`` -> ``(-950.0, -910.0)``; a ValueError names what is not a number."""
    values = []
    for part in text.replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        try:
            values.append(float(part))
        except ValueError:
            raise ValueError(f"'{part}' is not a number: give thresholds like -950, -910") from None
    return tuple(values)


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
        self.below = LineEdit(value="", label="% of voxels below",
                              tooltip="Thresholds in the image's units, comma-separated (e.g. -950 on CT lungs: the "
                                      "emphysema index); each adds a percent_below column")
        self.run_button = PushButton(text="Measure")
        self.status = Label(value="")
        self.extend([self.labels_layer, self.image_layer, self.radiomics, self.settings, self.below, self.run_button,
                     self.status])
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
        try:
            below = parse_thresholds(str(self.below.value))
        except ValueError as exc:
            show_error(f"Measure: {exc}")
            self.status.value = str(exc)
            return None
        if below and self.image_layer.value is None:
            show_error("Measure: the % of voxels below a threshold needs an image")
            self.status.value = "choose the image the thresholds apply to"
            return None
        labels = layer_snapshot(layer)
        image = layer_snapshot(self.image_layer.value) if self.image_layer.value is not None else None
        settings = str(self.settings.value) if str(self.settings.value) not in ("", ".") else None
        self.status.value = "measuring ..."
        worker = create_worker(
            measure_with_radiomics, labels, image, settings, bool(self.radiomics.value), below, _start_thread=False,
            _ignore_errors=True)
        image_name = None if self.image_layer.value is None else self.image_layer.value.name
        radiomics = bool(self.radiomics.value) and image_name is not None
        step_params = {"radiomics": True, **({"radiomics_settings": settings} if settings else {})} if radiomics else {}
        if below:
            step_params["below"] = list(below)
        worker.returned.connect(lambda features: self._show(layer, features, image_name, step_params))
        worker.errored.connect(lambda exc: (show_error(f"Measure: {exc}"), setattr(self.status, "value", str(exc))))
        self.worker = worker
        self.run_button.enabled = False
        worker.finished.connect(lambda: setattr(self.run_button, "enabled", True))
        if start_thread:
            worker.start()
        return worker

    def _show(self, layer: Any, features: dict, image_name: str | None = None, step_params: dict | None = None) -> None:
        from .._napari.label_names import keep_names
        from .._napari.recorder import recorder_for

        layer.features = keep_names(layer, features)  # names given to the objects stay
        recorder_for().record_measure(layer.name, image_name, step_params or {})
        count = len(features["index"]) - 1
        self.status.value = f"{count} object(s), {len(features) - 1} columns"
