"""Helper for GUI tests: widgets are opened the way a user opens them."""

from __future__ import annotations

from typing import Any

from napari_medimg._napari.manifest import PLUGIN, build_manifest

_NAME_OF_COMMAND = {w["command"]: w["display_name"] for w in build_manifest()["contributions"]["widgets"]}


def open_widget(viewer: Any, key: str) -> Any:
    """Dock the widget ``napari-medimg.<key>`` through napari's plugin path and return it.

    ``key`` is an operation name (``"gaussian"``) or another widget's command key
    (``"scribble_classifier"``). napari builds the widget itself, injecting its viewer
    (a proxy that warns on private access, as for any plugin).
    """
    command = f"{PLUGIN}.widget_{key}" if f"{PLUGIN}.widget_{key}" in _NAME_OF_COMMAND else f"{PLUGIN}.{key}"
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, _NAME_OF_COMMAND[command])
    return widget



def prefer_medimg_reader() -> None:
    """Run File > IO utilities > *Open medical files with napari-medimg* (app-model command)."""
    from napari._app_model import get_app_model

    get_app_model().commands.execute_command(f"{PLUGIN}.prefer_reader").result()


def gui_ticks() -> tuple[Any, list]:
    """A 5 ms Qt timer counting its ticks: few ticks during a long job mean the GUI thread was blocked."""
    from qtpy.QtCore import QTimer

    ticks: list = []
    timer = QTimer()
    timer.setInterval(5)
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start()
    return timer, ticks

