"""Pieces shared by the classification widgets: worker start-up, report text, layout."""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
from magicgui.widgets import Container, ProgressBar, TextEdit

__all__ = [
    "run_in_worker",
    "ProgressPoller",
    "read_only_text",
    "side_by_side",
    "plain",
    "confusion_text",
    "counts_text",
    "save_model_file",
    "report_save",
    "load_model_file",
]


def plain(value: Any) -> Any:
    """A numpy scalar as the Python value (JSON-friendly metadata and text)."""
    return value.item() if isinstance(value, np.generic) else value


def confusion_text(confusion: np.ndarray, classes: Sequence[Any], how: str = "out-of-fold") -> str:
    """A confusion matrix as aligned text (rows: tagged class, columns: predicted; ``how`` they were predicted)."""
    names = [str(plain(c)) for c in classes]
    width = max(6, *(len(n) + 2 for n in names), *(len(str(int(v))) + 2 for v in confusion.ravel()))
    lines = [f"confusion (rows: tagged class, columns: predicted; {how})"]
    lines.append(" " * width + "".join(n.rjust(width) for n in names))
    for name, values in zip(names, confusion):
        lines.append(name.rjust(width) + "".join(str(int(v)).rjust(width) for v in values))
    return "\n".join(lines)


def counts_text(values: np.ndarray, what: str) -> str:
    """``"what: class: count, ..."`` (``"what: none"`` for no values)."""
    if len(values) == 0:
        return f"{what}: none"
    classes, counts = np.unique(values, return_counts=True)
    return f"{what}: " + ", ".join(f"{plain(c)}: {n}" for c, n in zip(classes, counts))


def side_by_side(*widgets: Any) -> Container:
    """Widgets side by side."""
    return Container(widgets=list(widgets), layout="horizontal", labels=False)


#: The last entry of a dock's model picker: a checkpoint file chosen beside it.
CHECKPOINT_CHOICE = "checkpoint file ..."


def chosen_model(choice: str, checkpoint: Any, what: str) -> str:
    """The model a dock's picker names: a shipped model's name, or the checkpoint file chosen beside it.

    Raises
    ------
    ValueError
        When the picker says checkpoint and no file is chosen.
    """
    if choice != CHECKPOINT_CHOICE:
        return choice
    path = str(checkpoint.value)
    if path in ("", "."):
        raise ValueError(f"choose a {what} checkpoint (.safetensors)")
    return path


def run_in_worker(
    function: Callable[..., Any],
    *args: Any,
    on_result: Callable[[Any], None],
    title: str,
    busy: list[Any],
    status: Any = None,
    on_finished: Callable[[], None] | None = None,
    **kwargs: Any,
) -> Any:
    """An unstarted worker running ``function``; errors become notifications; ``busy`` widgets disabled."""
    from ._workers import create_worker
    from napari.utils.notifications import show_error, show_info

    worker = create_worker(function, *args, _start_thread=False, _ignore_errors=True, **kwargs)

    def failed(exc: BaseException) -> None:
        from ..progress import OperationCancelled

        text = f"{title} cancelled" if isinstance(exc, OperationCancelled) else f"{title} failed: {exc}"
        (show_info if isinstance(exc, OperationCancelled) else show_error)(text)
        if status is not None:
            status.value = text

    def finished() -> None:
        if on_finished is not None:
            on_finished()
        for widget in busy:
            if isinstance(widget, ProgressBar):
                widget.max = 1
                widget.visible = False
            else:
                widget.enabled = True

    worker.returned.connect(on_result)
    worker.errored.connect(failed)
    worker.finished.connect(finished)
    for widget in busy:
        if isinstance(widget, ProgressBar):
            widget.max = 0  # busy indicator: the library calls report no progress
            widget.visible = True
        else:
            widget.enabled = False
    return worker


def read_only_text(label: str, *, height: int = 120) -> TextEdit:
    """A read-only, unwrapped, fixed-width text box for reports (tables line up)."""
    from qtpy.QtGui import QFontDatabase
    from qtpy.QtWidgets import QTextEdit

    box = TextEdit(value="", label=label)
    box.native.setReadOnly(True)
    box.native.setMinimumHeight(height)
    box.native.setLineWrapMode(QTextEdit.LineWrapMode.NoWrap)
    box.native.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
    return box


def save_model_file(model: Any, metadata: dict, path: Any, *, missing: str) -> Any:
    """Save ``model`` in the safe format; ``missing`` says what to do when there is none."""
    from ..analysis.model_io import save_model

    if model is None:
        raise ValueError(missing)
    if str(path) in ("", "."):
        raise ValueError("choose a file to save the model to")
    return save_model(model, path, metadata=metadata)


def report_save(save: Callable[[Any], Any], path: Any) -> None:
    """Run ``save(path)`` for a button: the outcome becomes a notification."""
    from napari.utils.notifications import show_error, show_info

    try:
        written = save(path)
    except Exception as exc:  # noqa: BLE001 - shown to the user
        show_error(f"Save model failed: {exc}")
        return
    show_info(f"model saved to {written}")


def load_model_file(path: Any) -> tuple[Any, dict] | None:
    """Load a model file safely; an unreadable or unsafe file becomes a notification and None."""
    from napari.utils.notifications import show_error

    from ..analysis.model_io import load_model

    try:
        return load_model(path, with_metadata=True)
    except Exception as exc:  # noqa: BLE001 - unreadable / unsafe files are reported
        show_error(f"Load model failed: {exc}")
        return None


class ProgressPoller:
    """A progress bar fed from a worker thread: the worker sets :attr:`fraction`, a timer shows it.

    Qt widgets may only be touched on the GUI thread; the worker writes a float, and a timer
    parented to ``owner`` (so it never fires after the dock is gone) copies it into ``bar``
    five times a second, then calls ``also`` (e.g. to flush a log).

    Parameters
    ----------
    owner : magicgui Container
        The dock (its native widget parents the timer).
    bar : magicgui ProgressBar
        Shows 0 to 100.
    also : callable, optional
        Called on each tick, on the GUI thread.
    """

    def __init__(self, owner: Any, bar: ProgressBar, also: Callable[[], None] | None = None) -> None:
        from qtpy.QtCore import QTimer

        self.fraction = 0.0
        self.bar = bar
        self.also = also
        self._timer = QTimer(owner.native)
        self._timer.setInterval(200)
        self._timer.timeout.connect(self.show)

    def set(self, fraction: float) -> None:
        """The worker's progress callback."""
        self.fraction = float(fraction)

    def start(self) -> None:
        self.fraction = 0.0
        self.bar.value = 0
        self._timer.start()

    def show(self) -> None:
        """Copy the fraction into the bar (GUI thread)."""
        self.bar.value = int(round(100 * min(max(self.fraction, 0.0), 1.0)))
        if self.also is not None:
            self.also()

    def stop(self) -> None:
        self.show()
        self._timer.stop()
