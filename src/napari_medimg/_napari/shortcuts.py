"""Keyboard shortcuts of the frequent tools, bound on a viewer that shows a study.

napari does not bind the key bindings a plugin manifest declares, so they are bound on the
viewer (its public ``bind_key``) when the plugin first opens a study in it. A key napari or
another plugin already uses is left to them.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..processing.enhance import WINDOW_PRESETS
from .display import apply_window, window_limits
from .manifest import PLUGIN

__all__ = ["SHORTCUTS", "install_shortcuts"]

_WINDOW_CYCLE = ("soft_tissue", "lung", "bone", "brain")
_PLANES = {"axial": (0, 1, 2), "coronal": (1, 0, 2), "sagittal": (2, 0, 1)}


def _show_plane(plane: str) -> Callable[[Any], None]:
    def show(viewer: Any) -> None:
        if viewer.dims.ndim >= 3:
            lead = tuple(range(viewer.dims.ndim - 3))
            viewer.dims.order = lead + tuple(len(lead) + axis for axis in _PLANES[plane])

    show.__doc__ = f"Show the {plane} plane."
    return show


def _next_window(viewer: Any) -> None:
    """Cycle the active CT image through the soft-tissue, lung, bone and brain windows."""
    from napari.utils.notifications import show_info

    layer = viewer.layers.selection.active
    if layer is None or layer.__class__.__name__ != "Image":
        return
    limits = np.asarray(layer.contrast_limits, dtype=float)
    current = next(
        (i for i, name in enumerate(_WINDOW_CYCLE) if np.allclose(window_limits(*WINDOW_PRESETS[name]), limits)),
        -1,
    )
    name = _WINDOW_CYCLE[(current + 1) % len(_WINDOW_CYCLE)]
    apply_window(layer, name)
    show_info(f"{layer.name}: {name.replace('_', ' ')} window")


def _open(widget_name: str) -> Callable[[Any], None]:
    def open_widget(viewer: Any) -> None:
        viewer.window.add_plugin_dock_widget(PLUGIN, widget_name)

    open_widget.__doc__ = f"Open {widget_name!r}."
    return open_widget


# key -> (what it does, action(viewer))
SHORTCUTS: dict[str, tuple[str, Callable[[Any], None]]] = {
    "Alt-1": ("axial plane", _show_plane("axial")),
    "Alt-2": ("coronal plane", _show_plane("coronal")),
    "Alt-3": ("sagittal plane", _show_plane("sagittal")),
    "Alt-W": ("next CT window (soft tissue, lung, bone, brain)", _next_window),
    "Alt-G": ("region growing from points", _open("Region growing from points (connected threshold)")),
    "Alt-P": ("pixel classifier (paint scribbles)", _open("Pixel classifier (paint scribbles)")),
    "Alt-R": ("results of the active labels layer", _open("Results (objects of the active labels layer)")),
}


def install_shortcuts(viewer: Any) -> list[str]:
    """Bind :data:`SHORTCUTS` on ``viewer`` where the keys are free.

    Returns
    -------
    list of str
        The keys bound.
    """
    bound = []
    for key, (_, action) in SHORTCUTS.items():
        try:
            viewer.bind_key(key, action, overwrite=False)
        except ValueError:  # already bound by napari or another plugin
            continue
        bound.append(key)
    return bound
