"""The Batch dock: run a workflow on a cohort from napari, with progress, Cancel and the results at hand.

The same run as ``napari-medimg batch`` (:func:`napari_medimg.pipeline.run_batch` on a
dask.distributed local cluster): the workflow is a YAML file or the one recorded in this
viewer (Workflow dock); the cases are a folder (one per DICOM series or image file) or a CSV.
Each finished case is one line of the log and one step of the progress bar (also shown in
napari's activity dock); Cancel stops within a second, keeping every finished case, so that
Run goes on from there. A finished case's image and outputs open as layers.

The workers are separate processes started the ``spawn`` way: napari started from its
command or a notebook needs nothing more; a script that starts napari itself must do so
under ``if __name__ == "__main__":`` (as for any multiprocessing), or each worker would run
the script again.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from magicgui.widgets import ComboBox, Container, FileEdit, Label, LineEdit, ProgressBar, PushButton, SpinBox

from ._common import ProgressPoller, read_only_text, run_in_worker, side_by_side

__all__ = ["BatchWidget"]


def _path_or_none(value: Any) -> Path | None:
    text = str(value)
    return None if text in ("", ".") else Path(text)


class BatchWidget(Container):
    """Run a workflow on every case of a folder or CSV, off the GUI thread.

    Parameters
    ----------
    napari_viewer : napari.Viewer
        Where finished cases are opened.
    """

    def __init__(self, napari_viewer: Any) -> None:
        super().__init__(labels=True)
        self.viewer = napari_viewer
        self._done_cases: list[str] = []  # before the case list asks for them
        cores = os.cpu_count() or 1
        self.workflow_file = FileEdit(mode="r", filter="*.yaml *.yml", label="workflow",
                                      tooltip="A workflow YAML file; empty: the workflow recorded in this viewer")
        self.inputs = FileEdit(mode="d", label="cases",
                               tooltip="A folder (one case per DICOM series or image file, searched recursively), "
                                       "or type the path of a CSV with an 'image' column")
        self.output = FileEdit(mode="d", label="output folder")
        self.workers = SpinBox(value=min(2, cores), min=1, max=cores, label="workers",
                               tooltip="Worker processes; each runs one case at a time")
        self.memory = LineEdit(value="", label="memory per worker",
                               tooltip="e.g. 4GB; empty: the machine's memory shared among the workers. "
                                       "A case that needs more is refused with the figure.")
        self.memory.native.setPlaceholderText("auto (the machine's memory / workers), or e.g. 4GB")
        self.run_button, self.cancel_button = PushButton(text="Run"), PushButton(text="Cancel", enabled=False)
        self.progress_bar = ProgressBar(value=0, min=0, max=100, label="progress")
        self.log = read_only_text("log", height=140)
        self.case = ComboBox(label="case", choices=lambda _w: self._done_cases)
        self.open_button = PushButton(text="Open case")
        self.status = Label(value="")
        self.extend([
            self.workflow_file, self.inputs, self.output, self.workers, self.memory,
            side_by_side(self.run_button, self.cancel_button), self.progress_bar, self.log,
            side_by_side(self.case, self.open_button), self.status,
        ])
        self.run_button.changed.connect(self.start)
        self.cancel_button.changed.connect(self.cancel)
        self.open_button.changed.connect(self.open_case)
        self._manifest: dict | None = None
        self._lines: list[str] = []
        self._lock = threading.Lock()
        self._cancelled = threading.Event()
        self._napari_progress = None
        self.worker = None
        self._progress = ProgressPoller(self, self.progress_bar, also=self._show_log)

    # ------------------------------------------------------------------ running
    def _workflow(self) -> Any:
        """The chosen workflow: the YAML file, else a copy of the one recorded in this viewer."""
        from .._napari.recorder import recorder_for
        from ..pipeline.workflow import Workflow, load_workflow

        path = _path_or_none(self.workflow_file.value)
        if path is not None:
            return load_workflow(path)
        recorded = recorder_for().workflow
        if not recorded.steps:
            raise ValueError("choose a workflow file, or record steps first (Workflow dock)")
        return Workflow.from_dict(recorded.to_dict(), source="the recorded workflow")

    def start(self, *, start_thread: bool = True) -> Any:
        """Check the inputs, then run the batch in a worker thread; returns the worker (None when refused)."""
        from napari.utils.notifications import show_error

        from ..pipeline.workflow import WorkflowError

        inputs, output = _path_or_none(self.inputs.value), _path_or_none(self.output.value)
        try:
            if inputs is None or output is None:
                raise ValueError("choose the cases (a folder or CSV) and an output folder")
            if not inputs.exists():
                raise ValueError(f"{inputs} does not exist")
            workflow = self._workflow()
            memory = str(self.memory.value).strip() or None
            if memory is not None:
                from dask.utils import parse_bytes

                try:
                    parse_bytes(memory)
                except ValueError:
                    raise ValueError(f"memory per worker {memory!r}: give a size such as 4GB or 1500MB") from None
        except (ValueError, WorkflowError, OSError) as exc:
            show_error(f"Batch: {exc}")
            self.status.value = str(exc)
            return None
        self._cancelled.clear()
        self._lines, self._manifest = [], None
        self.log.value = ""
        self.status.value = f"{workflow.name}: finding the cases in {inputs.name} ..."
        worker = run_in_worker(
            self._run, workflow, str(inputs), output, int(self.workers.value), memory,
            on_result=self._finished, title="Batch", busy=[self.run_button], status=self.status,
            on_finished=self._stopped,
        )
        self.cancel_button.enabled = True
        self.worker = worker
        self._start_napari_progress()
        self._progress.start()
        if start_thread:
            worker.start()
        return worker

    def _run(self, workflow: Any, inputs: str, output: Path, workers: int, memory: str | None) -> dict:
        """In the worker thread: find the cases and run them (lines and progress go through ``_say``)."""
        from ..pipeline import find_cases, run_batch

        cases = find_cases(inputs)
        self._say(f"batch: {workflow.name}: {len(cases)} case(s) from {inputs}")
        return run_batch(workflow, cases, output, workers=workers, memory_per_worker=memory, say=self._say,
                         progress=self._progress.set, cancel=self._cancelled.is_set)

    def _say(self, line: str) -> None:
        with self._lock:
            self._lines.append(line)

    def cancel(self) -> None:
        """Stop the batch: the running cases are abandoned, the finished ones kept (within a second)."""
        self._cancelled.set()
        self.status.value = "cancelling ..."

    def _start_napari_progress(self) -> None:
        from napari.utils import progress

        self._napari_progress = progress(total=100, desc="Batch")

    def _show_log(self) -> None:
        """Each tick of the progress bar: new log lines, and napari's activity bar."""
        with self._lock:
            lines, self._lines = self._lines, []
        if lines:
            self.log.value = "\n".join(filter(None, [self.log.value, *lines]))
            self.status.value = lines[-1]
        if self._napari_progress is not None:
            self._napari_progress.update(self.progress_bar.value - self._napari_progress.n)

    def _stopped(self) -> None:
        self._progress.stop()
        self.cancel_button.enabled = False
        if self._napari_progress is not None:
            self._napari_progress.close()
            self._napari_progress = None
        if self._manifest is None:  # cancelled or failed: what was finished is on disk
            self._load_manifest()

    def _finished(self, manifest: dict) -> None:
        self._manifest = manifest
        self._list_cases(manifest)
        s = manifest["summary"]
        self.status.value = f"{s['done']} done, {s['skipped']} skipped, {s['failed']} failed"

    def _load_manifest(self) -> None:
        import json

        output = _path_or_none(self.output.value)
        try:
            manifest = json.loads((output / "manifest.json").read_text(encoding="utf-8"))
        except (OSError, ValueError, TypeError):
            return
        self._list_cases(manifest)

    def _list_cases(self, manifest: dict) -> None:
        self._manifest = manifest
        self._done_cases = [c["id"] for c in manifest["cases"] if c["status"] in ("done", "skipped")]
        self.case.reset_choices()

    # ------------------------------------------------------------------ results
    def open_case(self) -> list[Any]:
        """Open the chosen case's image and its image / labels outputs as layers."""
        from napari.utils.notifications import show_error

        if self._manifest is None or self.case.value is None:
            show_error("Batch: run a batch first, then choose a finished case")
            return []
        record = next(c for c in self._manifest["cases"] if c["id"] == self.case.value)
        output = _path_or_none(self.output.value)
        from .._napari.layers import add_layer
        from .._napari.reader import read_layers

        layers = []
        try:  # the plugin's reader on every format a batch takes (pictures included)
            layers += [add_layer(self.viewer, *data) for data in read_layers([record["input"]])]
            for name, item in record.get("outputs", {}).items():
                if not item["path"].endswith(".csv"):
                    for data, kwargs, kind in read_layers([str(output / item["path"])]):
                        layers.append(add_layer(self.viewer, data, {**kwargs, "name": f"{record['id']} {name}"}, kind))
        except Exception as exc:  # noqa: BLE001 - a moved, deleted or damaged file: say so, keep the dock
            show_error(f"Batch: cannot open {record['id']}: {exc}")
            self.status.value = f"cannot open {record['id']}: {exc}"
            return layers
        self.viewer.reset_view()
        self.status.value = f"opened {record['id']}: {len(layers)} layer(s)"
        return layers
