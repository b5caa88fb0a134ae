"""The worker threads of the widgets: superqt's ``create_worker``.

napari's ``napari.qt.threading.create_worker`` wraps the same function and adds a task
status whose ``errored`` slot takes fewer arguments than the signal sends; PyQt6 drops the
extra argument, PySide6 raises a TypeError in the event loop each time a worker fails.
The widgets report progress and errors themselves, so they use superqt's worker directly
and behave the same on both bindings.
"""

from __future__ import annotations

from superqt.utils import create_worker

__all__ = ["create_worker"]
