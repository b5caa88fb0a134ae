"""Viewer events connected to a dock widget for as long as the widget lives."""

from __future__ import annotations

from typing import Any, Callable

__all__ = ["follow_viewer"]


def follow_viewer(widget: Any, emitter: Any, callback: Callable[..., Any]) -> None:
    """Connect a viewer event to a widget's callback; disconnect when the widget is deleted.

    napari deletes a dock widget when it is closed or the viewer quits, while the viewer's
    events (a layer removed, the slice moved) may still fire; a callback reaching into
    the deleted Qt widgets would raise in napari's event loop.

    Parameters
    ----------
    widget : magicgui.widgets.Widget
        The dock widget (its ``native`` QWidget tells when it is deleted).
    emitter : napari.utils.events.EventEmitter
        E.g. ``viewer.layers.events.inserted``.
    callback : callable
        Called with the event.
    """
    emitter.connect(callback)

    def disconnect(*_: Any) -> None:
        try:
            emitter.disconnect(callback)
        except (RuntimeError, ValueError):  # the viewer went first
            pass

    widget.native.destroyed.connect(disconnect)
