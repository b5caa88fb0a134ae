"""A dock widget that shows a labels layer's features table and links it to the view.

Clicking a row selects that object in the viewer (shown alone, and the view moves to
the slice through its centre); clicking an object in the viewer, or choosing it anywhere
else (the layer's selected label, e.g. a click in the feature plots), selects its row.
Columns sort by clicking their header; the table exports to CSV.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from magicgui.widgets import Container, FileEdit, PushButton, create_widget
from qtpy.QtWidgets import QAbstractItemView, QTableWidget, QTableWidgetItem
from ._viewer_events import follow_viewer

__all__ = ["FeaturesTableWidget", "MIN_TABLE_HEIGHT"]

#: Pixels: about eight rows, kept when docks are stacked in one dock area.
MIN_TABLE_HEIGHT = 200


class _NumberItem(QTableWidgetItem):
    """A table cell that sorts by number, not by text."""

    def __init__(self, value: Any) -> None:
        text = f"{value:.6g}" if isinstance(value, (float, np.floating)) else str(value)
        super().__init__(text)
        self.number = value

    def __lt__(self, other: QTableWidgetItem) -> bool:
        try:
            return float(self.number) < float(other.number)  # type: ignore[attr-defined]
        except (TypeError, ValueError, AttributeError):
            return super().__lt__(other)


class FeaturesTableWidget(Container):
    """Features of the objects of a labels layer, linked both ways to the viewer.

    Parameters
    ----------
    napari_viewer : napari.Viewer
        The viewer whose labels layers are offered.
    """

    def __init__(self, napari_viewer: Any) -> None:
        import napari

        super().__init__(labels=False)
        self.viewer = napari_viewer
        self.layer_picker = create_widget(annotation=napari.layers.Labels, label="labels")
        self.export_path = FileEdit(mode="w", filter="*.csv", label="CSV file")
        self.export_button = PushButton(text="Export CSV")
        self.table = QTableWidget()
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSortingEnabled(True)
        self.table.setMinimumHeight(MIN_TABLE_HEIGHT)  # stays usable when docks are stacked
        self.extend([self.layer_picker, self.export_path, self.export_button])
        self.native.layout().addWidget(self.table)
        self._layer: Any = None
        self._updating = False
        self.layer_picker.changed.connect(self._set_layer)
        self.export_button.changed.connect(lambda: self.export_csv(self.export_path.value))
        self.table.itemSelectionChanged.connect(self._row_selected)
        self.reset_choices()
        follow_viewer(self, napari_viewer.layers.events.inserted, self.reset_choices)
        follow_viewer(self, napari_viewer.layers.events.removed, self.reset_choices)
        self._set_layer(self.layer_picker.value)

    # ------------------------------------------------------------------ layer
    def _set_layer(self, layer: Any) -> None:
        if self._layer is not None:
            self._layer.events.features.disconnect(self.refresh)
            self._layer.events.selected_label.disconnect(self._label_selected)
            if self._on_click in self._layer.mouse_drag_callbacks:
                self._layer.mouse_drag_callbacks.remove(self._on_click)
        self._layer = layer
        if layer is not None:
            layer.events.features.connect(self.refresh)
            layer.events.selected_label.connect(self._label_selected)
            layer.mouse_drag_callbacks.append(self._on_click)
        self.refresh()

    def refresh(self, *_: Any) -> None:
        """Fill the table from the layer's features (background row left out)."""
        features = self._features()
        self._updating = True
        self.table.setSortingEnabled(False)
        self.table.clear()
        if features is None:
            self.table.setRowCount(0)
            self.table.setColumnCount(0)
        else:
            columns = list(features.columns)
            self.table.setColumnCount(len(columns))
            self.table.setHorizontalHeaderLabels(columns)
            self.table.setRowCount(len(features))
            for row, values in enumerate(features.itertuples(index=False)):
                for column, value in enumerate(values):
                    self.table.setItem(row, column, _NumberItem(value))
            self.table.resizeColumnsToContents()
        self.table.setSortingEnabled(True)
        self._updating = False

    def _features(self) -> Any:
        layer = self._layer
        if layer is None or layer.features is None or layer.features.shape[1] == 0:
            return None
        features = layer.features
        if "index" in features:
            features = features[features["index"] != 0]
        return features.reset_index(drop=True)

    # -------------------------------------------------------------- linking
    def _label_column(self) -> int | None:
        for column in range(self.table.columnCount()):
            if self.table.horizontalHeaderItem(column).text() in ("index", "label"):
                return column
        return None

    def _row_selected(self) -> None:
        if self._updating or self._layer is None:
            return
        rows = self.table.selectionModel().selectedRows()
        column = self._label_column()
        if not rows or column is None:
            return
        label = int(self.table.item(rows[0].row(), column).number)
        self.select_label(label)

    def select_label(self, label: int) -> None:
        """Show ``label`` alone in the viewer and move to the slice through its centre."""
        layer = self._layer
        layer.selected_label = label
        layer.show_selected_label = True
        data = np.asarray(layer.data)
        where = np.argwhere(data == label)
        if len(where):
            centre = layer.data_to_world(where.mean(axis=0))
            for axis in range(layer.ndim - self.viewer.dims.ndisplay):
                self.viewer.dims.set_point(axis, centre[axis])

    def _label_selected(self, *_: Any) -> None:
        """The layer's selected label changed (plot click, label picker): follow it."""
        if not self._updating and self._layer is not None:
            self.select_row_of(int(self._layer.selected_label))

    def _on_click(self, layer: Any, event: Any) -> None:
        value = layer.get_value(event.position, view_direction=event.view_direction, dims_displayed=event.dims_displayed, world=True)
        if value:
            self.select_row_of(int(value))

    def select_row_of(self, label: int) -> None:
        """Select the table row of ``label`` (when it has one)."""
        column = self._label_column()
        if column is None:
            return
        for row in range(self.table.rowCount()):
            item = self.table.item(row, column)
            if item is not None and int(item.number) == label:
                self._updating = True
                self.table.selectRow(row)
                self.table.scrollToItem(item)
                self._updating = False
                return

    # --------------------------------------------------------------- export
    def export_csv(self, path: str | Path) -> Path:
        """Write the features (without the background row) to a CSV file."""
        features = self._features()
        if features is None:
            raise ValueError("the chosen labels layer has no features to export")
        path = Path(path)
        features.to_csv(path, index=False)
        return path
