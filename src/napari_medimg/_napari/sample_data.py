"""napari sample-data contributions: real images bundled with the package."""

from __future__ import annotations

from typing import Any

from ..sample_data import SAMPLES, load_sample
from .radiological_view import follow_current_viewer
from .layers import volume_to_layer_data
from .display import image_display_kwargs

__all__ = ["chest_ct", "brain_mr", "chest_xray", "ultrasound", "sample_layers"]


def sample_layers(name: str) -> list[tuple[Any, dict[str, Any], str]]:
    """Layer data tuples (image, then labels if any) of a bundled sample."""
    image, labels = load_sample(name)
    sample = SAMPLES[name]
    follow_current_viewer()
    layers = [volume_to_layer_data(image, name=name, **image_display_kwargs(image))]
    if labels is not None:
        layers.append(
            volume_to_layer_data(labels, name=f"{name} {sample.labels_name}", layer_type="labels", opacity=0.5)
        )
    return layers


def chest_ct() -> list[tuple[Any, dict[str, Any], str]]:
    """Chest CT (pyradiomics lung1 at half resolution) with its nodule label."""
    return sample_layers("chest_ct")


def brain_mr() -> list[tuple[Any, dict[str, Any], str]]:
    """Brain MR with a tumour label (pyradiomics brain1)."""
    return sample_layers("brain_mr")


def chest_xray() -> list[tuple[Any, dict[str, Any], str]]:
    """Chest radiograph with a manual lung mask (Montgomery set)."""
    return sample_layers("chest_xray")


def ultrasound() -> list[tuple[Any, dict[str, Any], str]]:
    """Curvilinear B-mode ultrasound frame (PLUS toolkit)."""
    return sample_layers("ultrasound")
