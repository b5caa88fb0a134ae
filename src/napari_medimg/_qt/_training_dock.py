"""The base of the docks that train a model in a worker thread: Stop, a refresh timer, errors in the dock.

A training dock keeps its worker in :attr:`TrainingDock.worker` (one at a time), lets the worker
report ``(fraction, history)`` through :meth:`TrainingDock._report` (the worker never touches a
Qt widget), and shows the latest report from a GUI-thread timer in :meth:`TrainingDock._refresh`.
Subclasses build their controls (with a ``status`` label and a ``progress_bar``), then call
:meth:`TrainingDock._start_training_dock`, and provide ``_refresh`` and ``_update_buttons``.
"""

from __future__ import annotations

import threading
from typing import Any, Callable

from magicgui.widgets import Container

from ._viewer_events import follow_viewer

__all__ = ["TrainingDock"]


class TrainingDock(Container):
    """A dock whose work (training, saving, loading, predicting) runs in one worker thread at a time.

    Parameters
    ----------
    napari_viewer : napari.Viewer
        The viewer whose layers the dock offers.
    title : str
        Names the dock in error notifications.
    refresh_ms : int
        How often the latest report is shown while a worker runs.
    """

    def __init__(self, napari_viewer: Any, title: str, refresh_ms: int = 150) -> None:
        super().__init__(labels=True)
        self.viewer = napari_viewer
        self.worker: Any = None
        self._title = title
        self._stop = threading.Event()
        self._latest: tuple[float, dict] | None = None
        self._refresh_ms = refresh_ms

    def _start_training_dock(self) -> None:
        """After the controls exist: the refresh timer, layer choices that follow the viewer, the buttons."""
        from qtpy.QtCore import QTimer

        self._timer = QTimer(self.native)  # parented: deleted with the dock, never fires after it
        self._timer.setInterval(self._refresh_ms)
        self._timer.timeout.connect(self._refresh)
        self.reset_choices()
        follow_viewer(self, self.viewer.layers.events.inserted, self.reset_choices)
        follow_viewer(self, self.viewer.layers.events.removed, self.reset_choices)
        self._update_buttons()

    @property
    def busy(self) -> bool:
        """Whether a worker runs."""
        return self.worker is not None

    def stop(self) -> None:
        """Stop the running work within one step (training keeps its model)."""
        self._stop.set()

    def _start(self, function: Callable, *args: Any, title: str, on_result: Callable, **kwargs: Any) -> Any:
        """An unstarted worker running ``function`` (errors shown in the dock); :meth:`_go` starts it."""
        from ._common import run_in_worker

        self.progress_bar.value = 0
        return run_in_worker(function, *args, on_result=on_result, title=title, busy=[], status=self.status,
                             on_finished=self._finished, **kwargs)

    def _go(self, worker: Any, start_thread: bool) -> Any:
        self.worker = worker
        self._update_buttons()
        self._timer.start()
        if start_thread:
            worker.start()
        return worker

    def _fail(self, exc: Exception) -> None:
        from napari.utils.notifications import show_error

        self.status.value = str(exc)
        show_error(f"{self._title}: {exc}")
        return None

    def _report(self, fraction: float, history: dict) -> None:
        """Worker thread: keep the latest progress; the GUI timer shows it."""
        self._latest = (float(fraction), history)

    def _finished(self) -> None:
        self._timer.stop()
        self._refresh()
        self.worker = None
        self._update_buttons()

    def _refresh(self) -> None:  # pragma: no cover - every dock shows its own reports
        raise NotImplementedError

    def _update_buttons(self) -> None:  # pragma: no cover
        raise NotImplementedError
