"""Dock widget: axial, coronal and sagittal planes linked by one crosshair, as ITK-SNAP shows them.

The three pictures pass through the viewer's current point (or the cursor, when
*follow the cursor* is on), drawn in physical proportions with the layer's contrast
limits, superior up and the patient's right on the left. A click in a picture moves the
viewer's point there, so the main canvas and the other two planes follow.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
from magicgui.widgets import CheckBox, Container, create_widget
from qtpy.QtCore import QPointF, Qt
from qtpy.QtGui import QColor, QImage, QPainter, QPen, QPixmap
from qtpy.QtWidgets import QLabel

from .._napari.planes import PLANES, plane_image, plane_pixel_size, plane_position
from ._viewer_events import follow_viewer

__all__ = ["ThreeViewsWidget", "PlaneView"]

_SIZE = 240  # longest side of a picture on screen, pixels


class PlaneView(QLabel):
    """One plane's picture; a click reports the picture position ``(row, column)`` in voxels."""

    def __init__(self, plane: str, on_click: Callable[[str, float, float], None]) -> None:
        super().__init__()
        self.plane = plane
        self._on_click = on_click
        self._voxel_size = (1.0, 1.0)  # screen pixels per picture row, column
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setMinimumSize(_SIZE // 2, _SIZE // 2)
        self.setToolTip(f"{plane}: click to move the crosshair here")
        self.picture: np.ndarray | None = None

    def show_picture(self, picture: np.ndarray, pixel_mm: tuple[float, float], cross: tuple[float, float]) -> None:
        """Draw ``picture`` (uint8) in physical proportions with a crosshair at ``cross``."""
        self.picture = picture
        rows, columns = picture.shape
        height_mm, width_mm = rows * pixel_mm[0], columns * pixel_mm[1]
        zoom = _SIZE / max(height_mm, width_mm)
        width, height = max(1, round(width_mm * zoom)), max(1, round(height_mm * zoom))
        self._voxel_size = (height / rows, width / columns)
        data = np.ascontiguousarray(picture)
        image = QImage(data.data, columns, rows, columns, QImage.Format.Format_Grayscale8)
        pixmap = QPixmap.fromImage(image.scaled(width, height)).copy()
        painter = QPainter(pixmap)
        painter.setPen(QPen(QColor("yellow"), 1))
        y = (cross[0] + 0.5) * self._voxel_size[0]
        x = (cross[1] + 0.5) * self._voxel_size[1]
        painter.drawLine(QPointF(0, y), QPointF(width, y))
        painter.drawLine(QPointF(x, 0), QPointF(x, height))
        painter.end()
        self.setPixmap(pixmap)

    def mousePressEvent(self, event: Any) -> None:  # noqa: N802 - Qt's name
        pixmap = self.pixmap()
        if self.picture is None or pixmap is None or pixmap.isNull():
            return
        position = event.position() if hasattr(event, "position") else event.pos()
        left = (self.width() - pixmap.width()) / 2
        top = (self.height() - pixmap.height()) / 2
        row = (position.y() - top) / self._voxel_size[0] - 0.5
        column = (position.x() - left) / self._voxel_size[1] - 0.5
        self._on_click(self.plane, row, column)


class ThreeViewsWidget(Container):
    """Axial, coronal and sagittal planes of an image layer with a shared crosshair.

    Parameters
    ----------
    napari_viewer : napari.Viewer
        The viewer whose point (slice position) the planes follow and set.
    """

    def __init__(self, napari_viewer: Any) -> None:
        import napari

        super().__init__(labels=True)
        self.viewer = napari_viewer
        self.image_layer = create_widget(annotation=napari.layers.Image, label="image")
        self.follow_cursor = CheckBox(text="follow the cursor", value=False)
        self.extend([self.image_layer, self.follow_cursor])
        self.views = {plane: PlaneView(plane, self.click) for plane in PLANES}
        for view in self.views.values():
            self.native.layout().addWidget(view)
        self.image_layer.changed.connect(self.refresh)
        follow_viewer(self, napari_viewer.dims.events.point, self.refresh)
        follow_viewer(self, napari_viewer.cursor.events.position, self._cursor_moved)
        follow_viewer(self, napari_viewer.layers.events.inserted, self.reset_choices)
        follow_viewer(self, napari_viewer.layers.events.removed, self.reset_choices)
        self.reset_choices()
        self.refresh()

    def _layer(self) -> Any:
        layer = self.image_layer.value
        if layer is None or layer.rgb or layer.ndim < 3:
            return None
        return layer

    def _index_at(self, world: Any) -> tuple[int, int, int]:
        layer = self._layer()
        data_index = np.asarray(layer.world_to_data(world))[-3:]
        shape = layer.data.shape[-3:]
        return tuple(int(np.clip(round(v), 0, n - 1)) for v, n in zip(data_index, shape))

    def _cursor_moved(self, *_: Any) -> None:
        if self.follow_cursor.value:
            self.refresh(world=self.viewer.cursor.position)

    def refresh(self, *_: Any, world: Any = None) -> None:
        """Redraw the three planes through the viewer's point (or ``world``)."""
        layer = self._layer()
        if layer is None:
            return
        index = self._index_at(self.viewer.dims.point if world is None else world)
        volume = layer.data[tuple(self.viewer.dims.current_step[: layer.ndim - 3])] if layer.ndim > 3 else layer.data
        low, high = layer.contrast_limits
        spacing = tuple(abs(float(s)) for s in layer.scale[-3:])
        for plane, view in self.views.items():
            picture = plane_image(volume, index, plane).astype(np.float32)
            grey = np.clip((picture - low) * (255.0 / max(high - low, 1e-9)), 0, 255).astype(np.uint8)
            view.show_picture(grey, plane_pixel_size(spacing, plane), plane_position(index, volume.shape, plane))

    def click(self, plane: str, row: float, column: float) -> None:
        """Move the viewer's point to a position picked in ``plane``'s picture."""
        layer = self._layer()
        if layer is None:
            return
        shape = layer.data.shape[-3:]
        index = list(self._index_at(self.viewer.dims.point))
        _cut, rows, columns, flip = PLANES[plane]
        index[rows] = (shape[rows] - 1 - row) if flip else row
        index[columns] = column
        lead = list(self.viewer.dims.current_step[: layer.ndim - 3])
        world = np.asarray(layer.data_to_world(lead + index))[-3:]
        offset = self.viewer.dims.ndim - 3
        self.viewer.dims.set_point(tuple(range(offset, offset + 3)), tuple(float(w) for w in world))
