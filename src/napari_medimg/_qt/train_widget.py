"""Dock widget: train a segmentation U-Net from painted labels (work in progress)."""

from __future__ import annotations

from typing import Any

from magicgui.widgets import Container, Label

__all__ = ["TrainWidget"]


class TrainWidget(Container):
    """Train a segmentation model from an image layer and a partly painted labels layer.

    Parameters
    ----------
    napari_viewer : napari.Viewer
        The viewer whose layers are offered.
    """

    def __init__(self, napari_viewer: Any) -> None:
        super().__init__(labels=False)
        self.viewer = napari_viewer
        self.status = Label(value="")
        self.append(self.status)
