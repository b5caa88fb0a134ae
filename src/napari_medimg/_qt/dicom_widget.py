"""A dock widget to choose a DICOM series in a folder and open it with resampling options.

napari's File > Open reads the largest series of a folder as it is stored. This widget
lists every series first (headers only, in a worker thread), then opens the chosen one,
optionally resampled onto a regular grid when the gantry was tilted or slices are
unevenly spaced.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from magicgui.widgets import CheckBox, ComboBox, Container, FileEdit, Label, PushButton

__all__ = ["DicomSeriesWidget"]


def _series_label(info: Any) -> str:
    size = f"{info.columns}x{info.rows}" if info.rows else "no image"
    description = info.description or "(no description)"
    return f"{info.modality or '?'} | {description} | {info.n_frames} images | {size}"


class DicomSeriesWidget(Container):
    """List the series of a DICOM folder and open one.

    Parameters
    ----------
    napari_viewer : napari.Viewer
        Where the series is added.
    """

    def __init__(self, napari_viewer: Any) -> None:
        super().__init__(labels=True)
        self.viewer = napari_viewer
        self.folder = FileEdit(mode="d", label="DICOM folder")
        self.scan_button = PushButton(text="List series")
        # the list is the widget's state, offered through a callable: napari resets the
        # choices of dock widgets whenever a layer is added, which empties a static list
        self._series_choices: list[tuple[str, str]] = []
        self.series = ComboBox(label="series", choices=lambda _widget: self._series_choices)
        self.resample_tilt = CheckBox(
            text="correct gantry tilt (resample)", tooltip="Resample a tilted CT onto a regular, tilt-free grid."
        )
        self.resample_gaps = CheckBox(
            text="resample uneven slice spacing",
            tooltip="Resample slices with gaps onto a uniform grid instead of showing them at the typical spacing.",
        )
        self.open_button = PushButton(text="Open series", enabled=False)
        self.status = Label(value="")
        self.extend(
            [self.folder, self.scan_button, self.series, self.resample_tilt, self.resample_gaps, self.open_button, self.status]
        )
        self.scan_button.changed.connect(self.scan)
        self.open_button.changed.connect(self.open_selected)
        self.worker = None

    def scan(self, *, start_thread: bool = True) -> Any:
        """List the series of the chosen folder in a worker thread; returns the worker."""
        from ._workers import create_worker
        from napari.utils.notifications import show_error

        from ..io.dicom import list_series

        folder = Path(self.folder.value)
        self.status.value = f"reading headers in {folder.name} ..."
        worker = create_worker(list_series, folder, _start_thread=False, _ignore_errors=True)
        worker.returned.connect(self._show_series)
        worker.errored.connect(lambda exc: (show_error(f"DICOM: {exc}"), setattr(self.status, "value", str(exc))))
        self.worker = worker
        if start_thread:
            worker.start()
        return worker

    def _show_series(self, infos: list[Any]) -> None:
        readable = [info for info in infos if info.has_pixels]
        self._series_choices = [(_series_label(info), info.uid) for info in readable]
        self.series.reset_choices()
        self.open_button.enabled = bool(readable)
        skipped = len(infos) - len(readable)
        self.status.value = f"{len(readable)} series with images" + (f", {skipped} without" if skipped else "")

    def open_selected(self, *, start_thread: bool = True) -> Any:
        """Read the selected series in a worker thread and add it; returns the worker."""
        from ._workers import create_worker
        from napari.utils.notifications import show_error, show_warning

        from .._napari.display import image_display_kwargs
        from .._napari.layers import add_layer, volume_to_layer_data
        from ..io.dicom import read_dicom

        uid = self.series.value
        folder = Path(self.folder.value)
        options = {"resample_tilt": self.resample_tilt.value, "resample_nonuniform": self.resample_gaps.value}

        def add(volume: Any) -> None:
            name = volume.metadata.get("series_description") or folder.name
            data = volume_to_layer_data(volume, name=name, **image_display_kwargs(volume))
            add_layer(self.viewer, *data)
            for warning in data[1]["metadata"]["medimg"].get("warnings", []):
                show_warning(f"{name}: {warning}")
            self.status.value = f"opened {name}"

        self.status.value = "reading ..."
        worker = create_worker(read_dicom, folder, series_uid=uid, _start_thread=False, _ignore_errors=True, **options)
        worker.returned.connect(add)
        worker.errored.connect(lambda exc: (show_error(f"DICOM: {exc}"), setattr(self.status, "value", str(exc))))
        self.worker = worker
        if start_thread:
            worker.start()
        return worker
