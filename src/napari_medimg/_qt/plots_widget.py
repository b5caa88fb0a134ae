"""A dock widget that plots the features of a labels layer's objects (matplotlib).

A histogram of one feature column and a scatter plot of two, coloured by a class column
(``class_predicted``, ``cluster``, ``class_tag`` or any integer / text column) when the
table has one. Clicking a point selects its object in the labels layer (shown alone,
the view moves to it); selecting an object in the layer rings its point.

Needs matplotlib (``pip install matplotlib``, part of the ``napari`` extra).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from magicgui.widgets import ComboBox, Container, Label, SpinBox, create_widget

from .classify_widget import _is_untagged, class_columns, numeric_feature_columns, object_rows, select_object
from ._viewer_events import follow_viewer

__all__ = ["PlotsWidget", "NO_COLOUR"]

NO_COLOUR = "(none)"
_PICK_RADIUS = 5  # points


class PlotsWidget(Container):
    """Histogram and scatter plot of a labels layer's object features.

    Parameters
    ----------
    napari_viewer : napari.Viewer
        The viewer whose labels layers are offered.
    """

    def __init__(self, napari_viewer: Any) -> None:
        import napari

        try:
            from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
            from matplotlib.figure import Figure
        except ImportError as exc:  # pragma: no cover - optional dependency
            raise ImportError("the feature plots need matplotlib: pip install matplotlib") from exc

        super().__init__(labels=True)
        self.viewer = napari_viewer
        self._numeric: list[str] = []
        self._classes: list[str] = []
        self.labels_layer = create_widget(annotation=napari.layers.Labels, label="labels")
        self.x_column = ComboBox(choices=self._numeric_choices, label="x (histogram)")
        self.y_column = ComboBox(choices=self._numeric_choices, label="y")
        self.colour_column = ComboBox(choices=self._colour_choices, label="colour by")
        self.bins = SpinBox(value=20, min=2, max=500, label="bins")
        self.status = Label(value="")
        self.extend(
            [self.labels_layer, self.x_column, self.y_column, self.colour_column, self.bins, self.status]
        )
        self.figure = Figure(figsize=(4, 6), layout="constrained")
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.canvas.setMinimumHeight(420)
        self.native.layout().addWidget(self.canvas)
        self._style = _theme_colours(napari_viewer)
        self.figure.set_facecolor(self._style["face"])
        self.histogram_axes = None
        self.scatter_axes = None
        self.scatter = None
        self.highlight = None
        self.point_labels = np.zeros(0, np.int64)
        self._points = np.zeros((0, 2))
        self._layer: Any = None
        self._drawing = False
        self.canvas.mpl_connect("pick_event", self._on_pick)
        self.labels_layer.changed.connect(self._set_layer)
        for widget in (self.x_column, self.y_column, self.colour_column, self.bins):
            widget.changed.connect(self.draw)
        self.reset_choices()
        follow_viewer(self, napari_viewer.layers.events.inserted, self.reset_choices)
        follow_viewer(self, napari_viewer.layers.events.removed, self.reset_choices)
        self._set_layer(self.labels_layer.value)

    # ------------------------------------------------------------------ choices
    def _numeric_choices(self, *_: Any) -> list[str]:
        return list(self._numeric)

    def _colour_choices(self, *_: Any) -> list[str]:
        return [NO_COLOUR, *self._classes]

    def _set_layer(self, layer: Any) -> None:
        if layer is self._layer:
            return
        if self._layer is not None:
            self._layer.events.features.disconnect(self._features_changed)
            self._layer.events.selected_label.disconnect(self._show_selected)
        self._layer = layer
        if layer is not None:
            layer.events.features.connect(self._features_changed)
            layer.events.selected_label.connect(self._show_selected)
        self._features_changed(reset=True)

    def _features_changed(self, *_: Any, reset: bool = False) -> None:
        features = None if self._layer is None else self._layer.features
        old_classes = list(self._classes)
        self._numeric = numeric_feature_columns(features)
        self._classes = class_columns(features)
        self._drawing = True  # one redraw at the end, not one per combo box
        try:
            x, y, colour = self.x_column.value, self.y_column.value, self.colour_column.value
            for widget in (self.x_column, self.y_column, self.colour_column):
                widget.reset_choices()
            if reset or x not in self._numeric:
                x = _first(self._numeric, ("volume_ml", "area_mm2", "voxel_count", "pixel_count"))
            if reset or y not in self._numeric:
                y = _first([c for c in self._numeric if c != x], ("mean", "mean_HU", "sphericity"))
            new_classes = [c for c in self._classes if c not in old_classes]
            if reset or colour not in self._classes or new_classes:
                # a new class column (e.g. after training) is shown right away
                colour = (new_classes or self._classes or [NO_COLOUR])[0]
            for widget, value in ((self.x_column, x), (self.y_column, y), (self.colour_column, colour)):
                if value is not None:
                    widget.value = value
        finally:
            self._drawing = False
        self.draw()

    # ------------------------------------------------------------------ drawing
    def draw(self, *_: Any) -> None:
        """Redraw the histogram and the scatter plot from the layer's features."""
        if self._drawing:
            return
        self.figure.clear()
        self.scatter = self.highlight = None
        self.point_labels = np.zeros(0, np.int64)
        self._points = np.zeros((0, 2))
        try:
            rows = object_rows(None if self._layer is None else self._layer.features)
        except ValueError as exc:
            self.status.value = str(exc)
            self.canvas.draw_idle()
            return
        x_name, y_name = self.x_column.value, self.y_column.value
        if x_name is None or y_name is None:
            self.status.value = "the features table has no numeric column to plot"
            self.canvas.draw_idle()
            return
        style = self._style
        self.histogram_axes = self.figure.add_subplot(2, 1, 1)
        self.scatter_axes = self.figure.add_subplot(2, 1, 2)
        for axes in (self.histogram_axes, self.scatter_axes):
            _style_axes(axes, style)
        labels = rows["index"].to_numpy(np.int64)
        x = rows[x_name].to_numpy(np.float64)
        y = rows[y_name].to_numpy(np.float64)
        colour_name = self.colour_column.value
        groups, group_names = self._groups(rows, colour_name)
        colours = _palette(len(group_names))

        finite_x = np.isfinite(x)
        if len(group_names):
            data = [x[finite_x & (groups == k)] for k in range(len(group_names))]
            self.histogram_axes.hist(data, bins=int(self.bins.value), stacked=True, color=colours,
                                     label=group_names)
        else:
            self.histogram_axes.hist(x[finite_x], bins=int(self.bins.value), color=style["single"])
        self.histogram_axes.set_xlabel(x_name)
        self.histogram_axes.set_ylabel("objects")

        both = finite_x & np.isfinite(y)
        point_colours = np.array(
            [colours[g] if g >= 0 else style["unclassified"] for g in groups], dtype=object
        )
        if not len(group_names):
            point_colours[:] = style["single"]
        self.point_labels = labels[both]
        self._points = np.column_stack([x[both], y[both]])
        self.scatter = self.scatter_axes.scatter(
            x[both], y[both], c=list(point_colours[both]), s=18, picker=_PICK_RADIUS, edgecolors="none"
        )
        (self.highlight,) = self.scatter_axes.plot([], [], "o", markersize=10, markerfacecolor="none",
                                                   markeredgecolor=style["text"], markeredgewidth=1.5)
        self.scatter_axes.set_xlabel(x_name)
        self.scatter_axes.set_ylabel(y_name)
        if len(group_names):
            from matplotlib.lines import Line2D

            def marker(colour: Any, name: str) -> Any:
                return Line2D([], [], marker="o", linestyle="", color=colour, label=name)

            handles = [marker(c, n) for c, n in zip(colours, group_names)]
            if np.any(groups[both] < 0):
                handles.append(marker(style["unclassified"], "none"))
            legend = self.scatter_axes.legend(
                handles=handles, title=colour_name, fontsize="small", title_fontsize="small"
            )
            legend.get_frame().set_facecolor(style["face"])
            legend.get_frame().set_alpha(0.7)
            legend.get_title().set_color(style["text"])
            for text in legend.get_texts():
                text.set_color(style["text"])
        left_out = len(rows) - int(both.sum())
        note = f"; {left_out} without finite values left out" if left_out else ""
        self.status.value = f"{len(rows)} objects{note}"
        self._show_selected()
        self.canvas.draw_idle()

    @staticmethod
    def _groups(rows: Any, column: str | None) -> tuple[np.ndarray, list[str]]:
        """Group number per row (-1: no class) and the group names."""
        if not column or column == NO_COLOUR or column not in rows.columns:
            return np.full(len(rows), -1, np.int64), []
        values = rows[column].to_numpy()
        missing = _is_untagged(values)
        present = values[~missing]
        if present.dtype.kind == "O":
            present = present.astype(str)
            values = np.array([str(v) for v in values], dtype=object)
        names = np.unique(present)
        groups = np.full(len(rows), -1, np.int64)
        if len(names):
            lookup = {v: k for k, v in enumerate(names.tolist())}
            groups[~missing] = [lookup[v] for v in np.asarray(values[~missing]).tolist()]
        return groups, [str(n) for n in names.tolist()]

    # ------------------------------------------------------------------ linking
    def _on_pick(self, event: Any) -> None:
        if event.artist is not self.scatter or not len(event.ind) or self._layer is None:
            return
        candidates = np.asarray(event.ind)
        mouse = np.array([event.mouseevent.x, event.mouseevent.y], dtype=float)
        screen = self.scatter_axes.transData.transform(self._points[candidates])
        nearest = candidates[int(np.argmin(np.linalg.norm(screen - mouse, axis=1)))]
        self.select(int(self.point_labels[nearest]))

    def select(self, label: int) -> None:
        """Select object ``label`` in the layer (shown alone; the view moves to it)."""
        select_object(self.viewer, self._layer, label)

    def _show_selected(self, *_: Any) -> None:
        if self.highlight is None or self._layer is None:
            return
        hit = self.point_labels == int(self._layer.selected_label)
        self.highlight.set_data(self._points[hit, 0], self._points[hit, 1])
        self.canvas.draw_idle()


def _first(columns: list[str], preferred: tuple[str, ...]) -> str | None:
    for name in preferred:
        if name in columns:
            return name
    return columns[0] if columns else None


def _palette(n: int) -> list[str]:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(k % cmap.N) for k in range(n)]


def _theme_colours(viewer: Any) -> dict[str, Any]:
    """Figure colours that follow napari's theme (dark by default)."""
    colours = {
        "face": "#262930",
        "axes": "#262930",
        "text": "#f0f1f2",
        "single": "#5a9bd4",
        "unclassified": "#8c8c8c",
    }
    try:
        from napari.utils.theme import get_theme

        theme = get_theme(viewer.theme)
        colours["face"] = theme.background.as_hex()
        colours["axes"] = theme.canvas.as_hex()
        colours["text"] = theme.text.as_hex()
    except Exception:  # pragma: no cover - cosmetic only
        pass
    return colours


def _style_axes(axes: Any, style: dict[str, Any]) -> None:
    axes.set_facecolor(style["axes"])
    for spine in axes.spines.values():
        spine.set_color(style["text"])
    axes.tick_params(colors=style["text"], labelsize="small")
    axes.xaxis.label.set_color(style["text"])
    axes.yaxis.label.set_color(style["text"])
