"""Dock widgets for sharing and returning results: de-identify DICOM, export labels as SEG + SR.

Both run the library in a worker thread (napari stays responsive) and report what they
wrote; the de-identification can be cancelled between files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from magicgui.widgets import CheckBox, ComboBox, Container, FileEdit, Label, LineEdit, ProgressBar, PushButton, SpinBox, create_widget

from ._common import side_by_side
from ._viewer_events import follow_viewer

__all__ = ["DeidentifyWidget", "DicomExportWidget", "parse_regions"]


def parse_regions(text: str) -> tuple[tuple[int, int, int, int], ...]:
    """``"0,0,40,200; 500,0,540,100"`` -> ((0, 0, 40, 200), (500, 0, 540, 100)).

    Raises
    ------
    ValueError
        When a region is not four integers.
    """
    regions = []
    for part in (p.strip() for p in text.replace("\n", ";").split(";")):
        if not part:
            continue
        try:
            values = tuple(int(v) for v in part.split(","))
        except ValueError:
            values = ()
        if len(values) != 4:
            raise ValueError(f"mask region {part!r}: give row0,col0,row1,col1 in pixels")
        regions.append(values)
    return tuple(regions)


def _set_path(edit: FileEdit) -> Path | None:
    text = str(edit.value)
    return Path(text) if text not in ("", ".") else None


class DeidentifyWidget(Container):
    """Write a de-identified copy of a DICOM file or folder (PS3.15 basic profile + options).

    Parameters
    ----------
    napari_viewer : napari.Viewer
        The viewer (the widget opens the copy in it when asked).
    """

    def __init__(self, napari_viewer: Any) -> None:
        super().__init__(labels=True)
        self.viewer = napari_viewer
        self.source = FileEdit(mode="d", label="DICOM folder")
        self.output = FileEdit(mode="d", label="copy to (new folder)")
        self.retain_dates = CheckBox(text="keep dates (full dates option)")
        self.shift_dates = CheckBox(text="shift dates by (days)")
        self.shift_days = SpinBox(value=-100, min=-36500, max=36500)
        self.keep_uids = CheckBox(text="keep UIDs")
        self.retain_device = CheckBox(text="keep device identity (serial, station)")
        self.retain_institution = CheckBox(text="keep institution")
        self.retain_patient = CheckBox(text="keep sex, age, size, weight")
        self.remove_private = CheckBox(text="remove all private attributes (mosaics lose geometry)")
        self.regions = LineEdit(label="blank pixels", value="", tooltip="row0,col0,row1,col1; ... (burned-in text)")
        self.key_file = FileEdit(mode="r", label="UID key file (optional)", value="")
        self.run_button = PushButton(text="De-identify")
        self.cancel_button = PushButton(text="Cancel", enabled=False)
        self.progress = ProgressBar(value=0, max=100, visible=False)
        self.status = Label(value="")
        self.extend([
            self.source, self.output, self.retain_dates, side_by_side(self.shift_dates, self.shift_days), self.keep_uids,
            self.retain_device, self.retain_institution, self.retain_patient, self.remove_private, self.regions,
            self.key_file, self.run_button, self.cancel_button, self.progress, self.status,
        ])
        self.run_button.changed.connect(self.start)
        self.cancel_button.changed.connect(self._cancel)
        self.worker = None
        self.report = None
        self._cancelled = False
        self._fraction = 0.0
        from qtpy.QtCore import QTimer

        self._timer = QTimer()  # the worker sets a number; the GUI thread shows it
        self._timer.setInterval(100)
        self._timer.timeout.connect(lambda: setattr(self.progress, "value", int(100 * self._fraction)))

    def options(self) -> Any:
        """The chosen options (raises ValueError on contradictory or malformed choices)."""
        from ..io.deidentify import DeidentifyOptions

        return DeidentifyOptions(
            retain_dates=bool(self.retain_dates.value),
            shift_dates_days=int(self.shift_days.value) if self.shift_dates.value else None,
            keep_uids=bool(self.keep_uids.value),
            retain_device_identity=bool(self.retain_device.value),
            retain_institution_identity=bool(self.retain_institution.value),
            retain_patient_characteristics=bool(self.retain_patient.value),
            retain_safe_private=not self.remove_private.value,
            mask_regions=parse_regions(self.regions.value),
        )

    def _cancel(self) -> None:
        self._cancelled = True
        self.status.value = "cancelling ..."

    def _check_cancel(self) -> None:
        from ..progress import OperationCancelled

        if self._cancelled:
            raise OperationCancelled("de-identification cancelled; the files written so far are complete")

    def start(self, *, start_thread: bool = True) -> Any:
        """Check the choices and de-identify in a worker thread; returns the worker."""
        from napari.utils.notifications import show_error

        from ..io.deidentify import deidentify
        from ._common import run_in_worker

        source, output = _set_path(self.source), _set_path(self.output)
        if source is None or output is None:
            show_error("De-identify: choose the DICOM folder and a new folder for the copy")
            return None
        try:
            options = self.options()
            key_path = _set_path(self.key_file)
            key = key_path.read_bytes() if key_path is not None else None
        except (ValueError, OSError) as exc:
            show_error(f"De-identify: {exc}")
            self.status.value = str(exc)
            return None
        self._cancelled = False
        self.status.value = f"de-identifying {source.name} ..."
        worker = run_in_worker(
            deidentify, source, output, options, key=key, progress=self._set_fraction,
            cancel=self._check_cancel, on_result=self._done, title="De-identify",
            busy=[self.run_button], status=self.status, on_finished=self._finished,
        )
        self._fraction = 0.0
        self.progress.visible = True
        self.progress.value = 0
        self._timer.start()
        self.cancel_button.enabled = True
        self.worker = worker
        if start_thread:
            worker.start()
        return worker

    def _set_fraction(self, fraction: float) -> None:
        self._fraction = float(fraction)  # worker thread: only a number changes hands

    def _finished(self) -> None:
        self._timer.stop()
        self.cancel_button.enabled = False

    def _done(self, report: Any) -> None:
        from napari.utils.notifications import show_info

        from ..io.deidentify import report_path_for

        self.report = report
        self.progress.value = 100
        text = f"{report.summary()}; report: {report_path_for(report.output).name}"
        self.status.value = text
        show_info(f"De-identify: {text}")


class DicomExportWidget(Container):
    """Export a labels layer drawn on a DICOM series as DICOM SEG (+ measurements as SR, CSV, JSON).

    Parameters
    ----------
    napari_viewer : napari.Viewer
        The viewer whose labels and image layers are offered.
    """

    def __init__(self, napari_viewer: Any) -> None:
        import napari

        super().__init__(labels=True)
        self.viewer = napari_viewer
        self.labels_layer = create_widget(annotation=napari.layers.Labels, label="labels")
        self.source = FileEdit(mode="d", label="source DICOM series", tooltip="the folder the image was opened from")
        self.output = FileEdit(mode="w", filter="*.dcm", label="SEG file")
        self.algorithm_type = ComboBox(choices=["MANUAL", "SEMIAUTOMATIC", "AUTOMATIC"], value="MANUAL", label="made by")
        self.algorithm_name = LineEdit(value="napari-medimg", label="algorithm")
        self.measurements = CheckBox(text="also measurements: SR (TID 1500), CSV and JSON beside the SEG", value=True)
        self.identifiers = CheckBox(text="keep patient and study identifiers (for the PACS)")
        self.run_button = PushButton(text="Export")
        self.progress = ProgressBar(value=0, max=1, visible=False)
        self.status = Label(value="")
        self.extend([
            self.labels_layer, self.source, self.output, self.algorithm_type, self.algorithm_name,
            self.measurements, self.identifiers, self.run_button, self.progress, self.status,
        ])
        self.run_button.changed.connect(self.start)
        self.labels_layer.changed.connect(self._guess_source)
        self.worker = None
        self.written: list[Path] = []
        self.reset_choices()
        self._guess_source()
        follow_viewer(self, napari_viewer.layers.events.inserted, self.reset_choices)
        follow_viewer(self, napari_viewer.layers.events.removed, self.reset_choices)

    def _guess_source(self, *_: Any) -> None:
        """The DICOM folder an image layer was opened from (napari remembers each layer's path)."""
        if _set_path(self.source) is not None:
            return
        for layer in self.viewer.layers:
            path = getattr(getattr(layer, "source", None), "path", None)
            medimg = (layer.metadata or {}).get("medimg") or {}
            if path and medimg.get("source_format") == "dicom" and medimg.get("modality") != "SEG":
                path = Path(path)
                self.source.value = path if path.is_dir() else path.parent
                return

    def start(self, *, start_thread: bool = True) -> Any:
        """Snapshot the layers and export in a worker thread; returns the worker."""
        from napari.utils.notifications import show_error

        from .._napari.label_names import label_names
        from .._napari.layers import layer_source_volume
        from ..io.label_map import LabelClass
        from ._common import run_in_worker

        layer = self.labels_layer.value
        source, output = _set_path(self.source), _set_path(self.output)
        if layer is None or source is None or output is None:
            show_error("Export DICOM SEG: choose the labels layer, the source DICOM folder and the SEG file")
            return None
        labels = layer_source_volume(layer, labels=True)  # the source grid, as File > Save writes it
        names = label_names(layer)
        present = [int(v) for v in np.unique(labels.array) if v != 0]
        classes = {
            v: LabelClass(v, names.get(v) or f"Label {v}", tuple(float(c) for c in np.asarray(layer.get_color(v))[:3]))
            for v in present
        }
        worker = run_in_worker(
            export_seg_and_measurements, labels, source, output, classes,
            str(self.algorithm_type.value), str(self.algorithm_name.value), bool(self.measurements.value),
            bool(self.identifiers.value), on_result=self._done, title="Export DICOM SEG",
            busy=[self.run_button, self.progress], status=self.status,
        )
        self.status.value = f"writing {output.name} ..."
        self.worker = worker
        if start_thread:
            worker.start()
        return worker

    def _done(self, written: list[Path]) -> None:
        from napari.utils.notifications import show_info

        self.written = written
        self.status.value = "wrote " + ", ".join(p.name for p in written)
        show_info(f"Export DICOM SEG: {self.status.value}")


def export_seg_and_measurements(
    labels: Any, source: Path, output: Path, classes: dict, algorithm_type: str, algorithm_name: str,
    measurements: bool, identifiers: bool,
) -> list[Path]:
    """The SEG, then (when asked) the SR, CSV and JSON of its objects; runs in the worker.

    The SEG is overwritten when it exists (napari's file dialog asked already); the SR and
    tables go beside it as ``<name>_sr.dcm``, ``<name>_measurements.csv`` / ``.json``. The
    objects are measured on the SEG as read back, over the source series (HU for CT).
    """
    from ..analysis.measure import measure_labels, write_csv
    from ..io import read
    from ..io.dicom_seg import read_seg, write_seg
    from ..io.measurement_report import write_measurement_json, write_measurement_sr

    output = output if output.suffix.lower() == ".dcm" else output.with_suffix(".dcm")
    written = [write_seg(labels, source, output, classes=classes, algorithm_type=algorithm_type,
                         algorithm_name=algorithm_name, identifiers=identifiers, overwrite=True)]
    if measurements:
        stem = output.with_suffix("")
        image = read(source)
        table = measure_labels(read_seg(output, grid=image), image)
        sr = write_measurement_sr(table, output, source, Path(f"{stem}_sr.dcm"), identifiers=identifiers, overwrite=True)
        csv = write_csv(table, Path(f"{stem}_measurements.csv"), overwrite=True)
        js = write_measurement_json(table, Path(f"{stem}_measurements.json"), parameters={"percentiles": [10, 50, 90]},
                                    inputs={"seg": output.name, "image": source.name}, overwrite=True)
        written += [sr, csv, js]
    return written
