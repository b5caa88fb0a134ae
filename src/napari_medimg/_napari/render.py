"""Render pictures of results with a real napari viewer (needs a display or Xvfb)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..volume import Volume
from ..processing.enhance import WINDOW_PRESETS
from .display import image_display_kwargs, looks_like_ct, window_limits
from .layers import add_layer, volume_to_layer_data

__all__ = ["render_pipeline_png"]


def render_pipeline_png(image: Volume, lungs: Volume, nodule: Volume | None, path: Path) -> Path:
    """Screenshot of the axial slice through the nodule (or the middle) with the labels on top.

    Parameters
    ----------
    image, lungs, nodule : Volume
        The CT, the lung labels and the nodule label (optional), on the same grid.
    path : Path
        PNG to write.

    Returns
    -------
    Path
        The PNG written.
    """
    import napari

    viewer = napari.Viewer(show=True)
    try:
        viewer.window.resize(900, 900)
        window = image_display_kwargs(image)
        if looks_like_ct(image):  # the lungs are the subject: the lung window
            window["contrast_limits"] = window_limits(*WINDOW_PRESETS["lung"])
        add_layer(viewer, *volume_to_layer_data(image, name="CT", **window))
        add_layer(
            viewer,
            *volume_to_layer_data(lungs, name="lungs", layer_type="labels", opacity=0.35)
        )
        focus = lungs
        if nodule is not None and nodule.array.any():
            add_layer(
            viewer,
                *volume_to_layer_data(nodule, name="nodule", layer_type="labels", opacity=0.8)
            )
            focus = nodule
        layer = viewer.layers["CT"]
        index = np.argwhere(focus.array != 0).mean(axis=0) if focus.array.any() else np.array(focus.spatial_shape) / 2
        world = layer.data_to_world(index)
        viewer.dims.set_point(0, world[0])
        viewer.reset_view()
        picture = viewer.screenshot(canvas_only=True, flash=False)
    finally:
        viewer.close()
    from skimage.io import imsave

    path.parent.mkdir(parents=True, exist_ok=True)
    imsave(path, picture, check_contrast=False)
    return path
