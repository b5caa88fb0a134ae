"""Views as a radiology workstation shows them: superior up, orientation letters on the edges.

Layers from this plugin live in LPS world millimetres in the display frame ``(S, P, L)``
(see :mod:`napari_medimg._napari.layers`): the last three world axes point to the
patient's superior, posterior and left. napari draws the first displayed axis downwards,
which is right for an axial slice (anterior at the top, patient's right on the screen's
left) but puts the feet at the top of coronal and sagittal slices. The view follows the
displayed axes: when the superior axis is the vertical one, the camera's vertical
orientation is turned up (the data are never flipped). Letters on the canvas edges (R/L,
A/P, S/I) are computed from the camera in 2D and 3D, so they stay right when the user
rolls the axes, flips the camera or rotates a 3D view.
"""

from __future__ import annotations

import weakref
from typing import Any

import numpy as np

from .layers import MEDIMG_KEY

__all__ = ["RadiologicalView", "radiological_view", "follow_current_viewer", "toggle_radiological_view", "edge_letters", "LETTERS"]

# world axes of the display frame (S, P, L) -> (letter of the negative, of the positive direction)
LETTERS = (("I", "S"), ("A", "P"), ("R", "L"))
EDGES = {"top": "top_center", "bottom": "bottom_center", "left": "middle_left", "right": "middle_right"}
_OVERLAY_KEY = "medimg_orientation_{}"
# a screen direction is named by every world axis it follows at least this much (cos 68 deg)
_MIN_COMPONENT = 0.38
# one view per open viewer (napari holds its event callbacks weakly): dropped with the viewer
_VIEWS: dict[int, RadiologicalView] = {}


def _letters_of(direction: np.ndarray, roles: list[int | None]) -> str:
    """Letters of a screen direction given in displayed-axes coordinates ("S", "SL", ...)."""
    order = np.argsort(-np.abs(direction))
    letters = []
    for k in order:
        if abs(direction[k]) < _MIN_COMPONENT or roles[k] is None:
            continue
        letters.append(LETTERS[roles[k]][int(direction[k] > 0)])
    return "".join(letters)


def edge_letters(roles: list[int | None], up: np.ndarray, right: np.ndarray) -> dict[str, str]:
    """The letters of the four canvas edges.

    Parameters
    ----------
    roles : list of int or None
        For each displayed axis, its world role: 0 = S, 1 = P, 2 = L (None for an axis
        that is not spatial, e.g. time).
    up, right : numpy.ndarray
        Unit vectors, in displayed-axes coordinates, pointing to the top and to the
        right of the screen.

    Returns
    -------
    dict
        ``{"top": "S", "bottom": "I", "left": "R", "right": "L"}`` and so on.
    """
    up, right = np.asarray(up, float), np.asarray(right, float)
    return {
        "top": _letters_of(up, roles),
        "bottom": _letters_of(-up, roles),
        "left": _letters_of(-right, roles),
        "right": _letters_of(right, roles),
    }


def _spatial_offset(viewer: Any) -> int | None:
    """Index of the first of the three patient axes among the viewer's dims (None: no 3D study)."""
    for layer in viewer.layers:
        medimg = (layer.metadata or {}).get(MEDIMG_KEY) or {}
        if int(medimg.get("spatial_ndim", 0)) == 3 and viewer.dims.ndim >= 3:
            return viewer.dims.ndim - 3
    return None


class RadiologicalView:
    """Keeps a viewer's camera and orientation letters radiological.

    Parameters
    ----------
    viewer : napari.Viewer
        The viewer to follow; its events drive the updates.
    """

    def __init__(self, viewer: Any) -> None:
        from napari.components.overlays import TextOverlay

        self._viewer = weakref.ref(viewer)  # the viewer owns this view, not the other way
        self.enabled = True
        for edge, position in EDGES.items():
            key = _OVERLAY_KEY.format(edge)
            if key not in viewer.canvas.overlays:
                viewer.canvas.overlays[key] = TextOverlay(
                    visible=False, position=position, text="", font_size=14, color="yellow"
                )
        viewer.dims.events.order.connect(self._orient)
        viewer.dims.events.ndisplay.connect(self._orient)
        viewer.layers.events.inserted.connect(self._orient)
        viewer.layers.events.removed.connect(self.update_letters)
        viewer.camera.events.orientation.connect(self.update_letters)
        viewer.camera.events.angles.connect(self.update_letters)
        self._orient()

    @property
    def viewer(self) -> Any:
        """The followed viewer."""
        return self._viewer()

    def _overlay(self, edge: str) -> Any:
        return self.viewer.canvas.overlays[_OVERLAY_KEY.format(edge)]

    def _orient(self, *_: Any) -> None:
        """In 2D, turn the vertical axis up when it is the superior axis; then the letters."""
        offset = _spatial_offset(self.viewer)
        if self.enabled and offset is not None and self.viewer.dims.ndisplay == 2:
            vertical = self.viewer.dims.displayed[0] - offset
            wanted = "up" if vertical == 0 else "down"
            camera = self.viewer.camera
            if camera.orientation2d[0] != wanted:
                camera.orientation2d = (wanted, camera.orientation2d[1])
        self.update_letters()

    def screen_directions(self) -> tuple[np.ndarray, np.ndarray]:
        """Unit vectors to the top and to the right of the screen, in displayed-axes coordinates."""
        camera = self.viewer.camera
        if self.viewer.dims.ndisplay == 3:
            view = np.asarray(camera.view_direction, float)
            up = np.asarray(camera.up_direction, float)
            return up, np.cross(view, up)
        vertical, horizontal = camera.orientation2d
        return (
            np.array([1.0 if vertical == "up" else -1.0, 0.0]),
            np.array([0.0, 1.0 if horizontal == "right" else -1.0]),
        )

    def letters(self) -> dict[str, str] | None:
        """The current edge letters, None when no 3D study is shown."""
        offset = _spatial_offset(self.viewer)
        if offset is None:
            return None
        roles = [axis - offset if axis >= offset else None for axis in self.viewer.dims.displayed]
        return edge_letters(roles, *self.screen_directions())

    def update_letters(self, *_: Any) -> None:
        """Write the letters into the canvas overlays (hidden when off or nothing to name)."""
        letters = self.letters() if self.enabled else None
        for edge in EDGES:
            overlay = self._overlay(edge)
            overlay.text = (letters or {}).get(edge, "")
            overlay.visible = bool(overlay.text)


def radiological_view(viewer: Any = None) -> RadiologicalView | None:
    """The viewer's :class:`RadiologicalView`, made on first use (one per viewer).

    The first use also binds the plugin's keyboard shortcuts on the viewer
    (:mod:`napari_medimg._napari.shortcuts`).

    Parameters
    ----------
    viewer : napari.Viewer, optional
        Default: the current viewer (None when there is none, e.g. headless reading).
    """
    if viewer is None:
        import napari

        viewer = napari.current_viewer()
        if viewer is None:
            return None
    view = _VIEWS.get(id(viewer))
    if view is None or view.viewer is not viewer:
        from .shortcuts import install_shortcuts

        view = RadiologicalView(viewer)
        _VIEWS[id(viewer)] = view
        install_shortcuts(viewer)
        weakref.finalize(viewer, _VIEWS.pop, id(viewer), None)
    return view


def follow_current_viewer() -> None:
    """Make the current viewer radiological, if there is one (called by the reader and samples).

    Reading never fails because of the view: outside napari's GUI there is nothing to do.
    """
    try:
        radiological_view()
    except Exception:  # noqa: BLE001 - a display nicety must not stop a file from opening
        pass


def toggle_radiological_view(viewer: Any = None) -> bool:
    """Menu command: switch the radiological orientation and letters off, or back on.

    Returns
    -------
    bool
        True when the view is radiological afterwards.
    """
    view = radiological_view(viewer)
    if view is None:
        return False
    view.enabled = not view.enabled
    if not view.enabled:
        view.viewer.camera.orientation2d = ("down", "right")
    view._orient()
    return view.enabled
