"""The "add objects to" controls of the docks that make labels (see :mod:`.._napari.objects`).

A labels layer picker (empty: a new layer), a "paint over earlier objects" box and an
"Undo last run" button. A dock puts :attr:`ObjectsTarget.widgets` in its layout and hands
each result to :meth:`ObjectsTarget.add` when a layer is chosen.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np
from magicgui.widgets import CheckBox, PushButton, create_widget

from .._napari.layers import labels_features

__all__ = ["ObjectsTarget"]


class ObjectsTarget:
    """Where a dock's objects go: a chosen labels layer under new ids, or a new layer.

    Parameters
    ----------
    viewer : napari.Viewer
        The viewer (its labels layers are offered).
    """

    def __init__(self, viewer: Any) -> None:
        import napari

        self.viewer = viewer
        self.layer = create_widget(
            annotation=Optional[napari.layers.Labels], label="add objects to",
            options={"tooltip": "A labels layer on the input's grid that collects the objects of every run under new "
                                "ids; empty: a new layer."},
        )
        self.paint_over = CheckBox(
            text="paint over earlier objects", value=False,
            tooltip="New objects may replace earlier ones where they overlap (off: they only fill voxels that are 0).",
        )
        self.undo_button = PushButton(text="Undo last run", enabled=False)
        self.undo_button.changed.connect(self.undo_last_run)
        self._undo: tuple[Any, tuple] | None = None  # (labels layer, spacing) of the last run's objects

    @property
    def widgets(self) -> list:
        """The controls, in layout order."""
        return [self.layer, self.paint_over, self.undo_button]

    @property
    def chosen(self) -> Any:
        """The labels layer receiving the objects, or None for a new layer."""
        return self.layer.value

    def choose(self, layer: Any) -> None:
        """Make ``layer`` (just added by the dock) the target of the next runs."""
        self.layer.reset_choices()
        self.layer.value = layer

    def add(self, labels: np.ndarray, spacing: tuple, source: str) -> list[int]:
        """Add the objects of ``labels`` to the chosen layer; a notification says which ids.

        Returns
        -------
        list of int
            The new ids (empty when nothing was added or the layer does not fit).
        """
        from napari.utils.notifications import show_error, show_info

        from .._napari.objects import add_objects

        layer = self.chosen
        try:
            ids = add_objects(layer, labels, paint_over=bool(self.paint_over.value))
        except ValueError as exc:
            show_error(f"{source}: {exc}")
            return []
        if not ids:
            show_info(f"{source}: nothing new to add to '{layer.name}' (the result lies under earlier objects)")
            return []
        layer.features = labels_features(np.asarray(layer.data), spacing)
        self._undo = (layer, tuple(spacing))
        self.undo_button.enabled = True
        show_info(f"{layer.name}: object {', '.join(str(i) for i in ids)} added by {source}")
        return ids

    def undo_last_run(self) -> None:
        """Take back the objects the last run added (napari's undo of that layer's last edit)."""
        undo, self._undo = self._undo, None
        self.undo_button.enabled = False
        if undo is not None and undo[0] in self.viewer.layers:
            layer, spacing = undo
            layer.undo()
            layer.features = labels_features(np.asarray(layer.data), spacing)
