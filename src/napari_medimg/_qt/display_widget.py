"""Dock widget: window / level presets, auto window and 3D rendering presets of an image layer.

Everything here changes how a layer is shown (contrast limits, colormap, rendering),
never its voxels; see :mod:`napari_medimg._napari.display`.
"""

from __future__ import annotations

from typing import Any

from magicgui.widgets import CheckBox, ComboBox, Container, FloatSpinBox, Label, PushButton, create_widget

from .._napari.display import (
    RENDER_PRESETS,
    apply_render_preset,
    apply_window,
    auto_window_limits,
    set_contrast_limits,
    window_limits,
)
from ..processing.enhance import WINDOW_PRESETS
from ._viewer_events import follow_viewer

__all__ = ["DisplayWidget"]


class DisplayWidget(Container):
    """Window presets, a custom window, an auto window and 3D rendering presets.

    Parameters
    ----------
    napari_viewer : napari.Viewer
        The viewer whose image layers are offered.
    """

    def __init__(self, napari_viewer: Any) -> None:
        import napari

        super().__init__(labels=True)
        self.viewer = napari_viewer
        self.image_layer = create_widget(annotation=napari.layers.Image, label="image")
        self.window_preset = ComboBox(
            choices=list(WINDOW_PRESETS), value="soft_tissue", label="CT window",
            tooltip="Standard CT windows (centre/width in HU); sets the layer's contrast limits.",
        )
        self.window_center = FloatSpinBox(value=40.0, min=-5000.0, max=40000.0, step=10.0, label="centre")
        self.window_width = FloatSpinBox(value=400.0, min=1.0, max=40000.0, step=10.0, label="width")
        self.apply_custom = PushButton(text="Apply centre / width")
        self.lower = FloatSpinBox(value=0.5, min=0.0, max=50.0, step=0.5, label="auto: lower (%)")
        self.upper = FloatSpinBox(value=99.5, min=50.0, max=100.0, step=0.5, label="auto: upper (%)")
        self.auto = PushButton(text="Auto window (percentiles)")
        self.render_preset = ComboBox(choices=list(RENDER_PRESETS), label="3D rendering")
        self.show_3d = CheckBox(text="switch the view to 3D", value=True)
        self.apply_render = PushButton(text="Apply 3D preset")
        self.status = Label(value="")
        self.extend(
            [
                self.image_layer, self.window_preset, self.window_center, self.window_width, self.apply_custom,
                self.lower, self.upper, self.auto, self.render_preset, self.show_3d, self.apply_render,
                self.status,
            ]
        )
        self.window_preset.changed.connect(self.set_preset_window)
        self.apply_custom.changed.connect(self.set_custom_window)
        self.auto.changed.connect(self.set_auto_window)
        self.apply_render.changed.connect(self.set_render_preset)
        self.reset_choices()
        follow_viewer(self, napari_viewer.layers.events.inserted, self.reset_choices)
        follow_viewer(self, napari_viewer.layers.events.removed, self.reset_choices)

    def _layer(self) -> Any:
        layer = self.image_layer.value
        if layer is None:
            self.status.value = "open an image first"
        return layer

    def _report(self, limits: tuple[float, float]) -> None:
        low, high = limits
        self.status.value = f"contrast limits {low:g} .. {high:g} (centre {(low + high) / 2:g}, width {high - low:g})"

    def set_preset_window(self, *_: Any) -> None:
        """Show the image through the chosen CT window."""
        layer = self._layer()
        if layer is None:
            return
        center, width = WINDOW_PRESETS[self.window_preset.value]
        self.window_center.value, self.window_width.value = center, width
        self._report(apply_window(layer, self.window_preset.value))

    def set_custom_window(self, *_: Any) -> None:
        """Show the image through the centre and width typed in."""
        layer = self._layer()
        if layer is None:
            return
        self._report(set_contrast_limits(layer, window_limits(self.window_center.value, self.window_width.value)))

    def set_auto_window(self, *_: Any) -> None:
        """Contrast limits at the two percentiles of the image's values."""
        layer = self._layer()
        if layer is None:
            return
        self._report(set_contrast_limits(layer, auto_window_limits(layer.data, self.lower.value, self.upper.value)))

    def set_render_preset(self, *_: Any) -> None:
        """Apply the chosen 3D rendering preset (and switch to 3D if asked)."""
        layer = self._layer()
        if layer is None:
            return
        attributes = apply_render_preset(layer, self.render_preset.value)
        if self.show_3d.value:
            self.viewer.dims.ndisplay = 3
        self.status.value = f"{self.render_preset.value}: {attributes['rendering']}"
