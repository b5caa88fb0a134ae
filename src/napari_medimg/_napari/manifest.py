"""Builds ``napari.yaml`` from the operation registry and the sample list.

The manifest at the repository top level is generated, never edited by hand:
``python -m napari_medimg._napari.manifest > napari.yaml``. A test checks that the file
in the repository equals what this module builds, so menus cannot drift from the
registry.
"""

from __future__ import annotations

import sys
from typing import Any

from ..operations import OPERATIONS
from ..sample_data import SAMPLES

PLUGIN = "napari-medimg"
WRITE_EXTENSIONS = [".nii.gz", ".nii", ".nrrd", ".mha"]
# What the reader really reads (matched case-insensitively by npe2); folders are offered
# through ``accepts_directories``. Pictures (PNG, JPEG, TIFF) are left to napari's own
# reader, which reads them as well without a choice dialog; ``read()`` still takes them.
READ_PATTERNS = ["*.nii", "*.nii.gz", "*.nrrd", "*.nhdr", "*.mha", "*.mhd", "*.dcm", "*.dicom", "*.ima"]
# Operation menu group -> (napari's Layers menu it sits in, the submenu's label). Groups
# are ordered as a radiologist works: look, clean, find edges, segment, tidy, measure.
MENUS = {
    "Enhance": ("napari/layers/filter", "Enhance (contrast)"),
    "Denoise": ("napari/layers/filter", "Denoise and smooth"),
    "Bias field": ("napari/layers/filter", "Bias-field correction (MR)"),
    "Edges": ("napari/layers/filter", "Edges and gradients"),
    "Threshold": ("napari/layers/segment", "Threshold"),
    "Cluster": ("napari/layers/segment", "Cluster"),
    "Grow": ("napari/layers/segment", "Grow from seeds"),
    "Objects": ("napari/layers/segment", "Objects (label, split, keep)"),
    "Clean up": ("napari/layers/segment", "Clean up masks"),
    "Recipes": ("napari/layers/segment", "Recipes"),
    "Learn": ("napari/layers/classify", "Learned models"),
    "Texture": ("napari/layers/measure", "Texture maps and keypoints"),
    "Geometry": ("napari/layers/transform", "Resample and crop"),
}


def submenu_id(group: str) -> str:
    """The npe2 submenu id of an operation group: ``"Clean up"`` -> ``"napari-medimg.clean_up"``."""
    return f"{PLUGIN}." + group.lower().replace(" ", "_")


def widget_class_name(operation_name: str) -> str:
    """The class that docks an operation's widget: ``"gaussian"`` -> ``"GaussianWidget"``."""
    return "".join(part.capitalize() for part in operation_name.split("_")) + "Widget"


DOCK_WIDGETS = (
    ("dicom_browser", "Open a DICOM series", "dicom_widget:DicomSeriesWidget"),
    ("features_table", "Features table", "features_table:FeaturesTableWidget"),
    ("measure", "Measure objects", "measure_widget:MeasureWidget"),
    ("results", "Results", "results_widget:ResultsWidget"),
    ("classify_objects", "Classify objects", "classify_widget:ObjectClassifierWidget"),
    ("feature_selection", "Feature selection", "selection_widget:FeatureSelectionWidget"),
    ("feature_plots", "Feature plots", "plots_widget:PlotsWidget"),
    ("scribble_classifier", "Pixel classifier (paint scribbles)", "scribble_widget:ScribbleClassifierWidget"),
    ("classify_images", "Classify images (stack)", "image_classifier_widget:ImageClassifierWidget"),
    ("display", "Window, level and 3D rendering", "display_widget:DisplayWidget"),
    ("three_views", "Three views (axial, coronal, sagittal)", "three_views:ThreeViewsWidget"),
    ("train_segmentation", "Train a segmentation model (U-Net)", "train_widget:TrainWidget"),
    ("train_landmarks", "Train a landmark detector (points)", "landmark_widget:LandmarkWidget"),
    ("train_generator", "Train an image generator (VAE, GAN, diffusion)", "generator_train_widget:TrainGeneratorWidget"),
    ("generate_images", "Generate images (sample, interpolate, reconstruct)", "generate_widget:GenerateWidget"),
    ("classify_slices", "Classify slices of a volume (CNN + GRU)", "slice_classifier_widget:SliceClassifierWidget"),
    ("deidentify_dicom", "De-identify DICOM (PS3.15 basic profile)", "dicom_export_widget:DeidentifyWidget"),
    ("export_dicom_seg", "Export labels as DICOM SEG + measurement SR", "dicom_export_widget:DicomExportWidget"),
    ("workflow", "Workflow (record, edit, save, replay)", "workflow_widget:WorkflowWidget"),
    ("batch", "Batch: run a workflow on a cohort", "batch_widget:BatchWidget"),
    ("recipe", "Clinical recipe with report (chest CT study ...)", "recipe_widget:RecipeWidget"),
)
"""The plugin's dock widgets besides the operations': (key, menu title, ``_qt`` module:class)."""


def build_manifest() -> dict[str, Any]:
    """The manifest as plain data."""
    commands: list[dict[str, Any]] = [
        {"id": f"{PLUGIN}.get_reader", "title": "Open medical images", "python_name": "napari_medimg._napari.reader:get_reader"},
        {"id": f"{PLUGIN}.write_image", "title": "Save image with geometry", "python_name": "napari_medimg._napari.writer:write_image"},
        {"id": f"{PLUGIN}.write_labels", "title": "Save labels with geometry", "python_name": "napari_medimg._napari.writer:write_labels"},
    ]
    sample_data = []
    for key, sample in SAMPLES.items():
        commands.append(
            {"id": f"{PLUGIN}.sample_{key}", "title": f"Load sample: {sample.title}", "python_name": f"napari_medimg._napari.sample_data:{key}"}
        )
        sample_data.append({"key": key, "display_name": sample.title, "command": f"{PLUGIN}.sample_{key}"})
    commands.append(
        {
            "id": f"{PLUGIN}.radiological_view",
            "title": "Radiological view on/off (superior up, orientation letters)",
            "python_name": "napari_medimg._napari.radiological_view:toggle_radiological_view",
        }
    )
    commands.append(
        {
            "id": f"{PLUGIN}.prefer_reader",
            "title": "Open medical files with napari-medimg (no reader dialog)",
            "python_name": "napari_medimg._napari.preferences:prefer_medimg_reader",
        }
    )
    widgets = []
    for key, title, target in DOCK_WIDGETS:
        commands.append({"id": f"{PLUGIN}.{key}", "title": title, "python_name": f"napari_medimg._qt.{target}"})
        widgets.append({"command": f"{PLUGIN}.{key}", "display_name": title})
    menus: dict[str, list[dict[str, str]]] = {
        "napari/file/io_utilities": [
            {"command": f"{PLUGIN}.dicom_browser"},
            {"command": f"{PLUGIN}.prefer_reader"},
            {"command": f"{PLUGIN}.deidentify_dicom"},
            {"command": f"{PLUGIN}.export_dicom_seg"},
            {"command": f"{PLUGIN}.workflow"},
            {"command": f"{PLUGIN}.batch"},
        ],
        "napari/layers/measure": [
            {"command": f"{PLUGIN}.measure"},
            {"command": f"{PLUGIN}.results"},
            {"command": f"{PLUGIN}.features_table"},
            {"command": f"{PLUGIN}.feature_plots"},
            {"command": f"{PLUGIN}.feature_selection"},
        ],
        "napari/layers/classify": [{"command": f"{PLUGIN}.classify_objects"}, {"command": f"{PLUGIN}.classify_images"}],
        "napari/layers/annotate": [{"command": f"{PLUGIN}.scribble_classifier"}],
        "napari/layers/visualize": [
            {"command": f"{PLUGIN}.display"},
            {"command": f"{PLUGIN}.three_views"},
            {"command": f"{PLUGIN}.radiological_view"},
        ],
    }
    submenus = []
    for group, (parent, label) in MENUS.items():
        submenus.append({"id": submenu_id(group), "label": label})
        menus.setdefault(parent, []).append({"submenu": submenu_id(group), "group": "1_medimg"})
    for op in OPERATIONS:
        command = f"{PLUGIN}.widget_{op.name}"
        commands.append(
            {"id": command, "title": op.title, "python_name": f"napari_medimg._qt.operation_widget:{widget_class_name(op.name)}"}
        )
        widgets.append({"command": command, "display_name": op.title})
        menus.setdefault(submenu_id(op.menu), []).append({"command": command})
    menus[submenu_id("Recipes")].insert(0, {"command": f"{PLUGIN}.recipe"})
    menus.setdefault(submenu_id("Learn"), []).append({"command": f"{PLUGIN}.train_segmentation"})
    for key in ("train_landmarks", "classify_slices", "train_generator", "generate_images"):
        menus[submenu_id("Learn")].append({"command": f"{PLUGIN}.{key}"})
    return {
        "name": PLUGIN,
        "display_name": "napari-medimg",  # napari adds it to every menu title: keep it short
        "contributions": {
            "commands": commands,
            "readers": [
                {"command": f"{PLUGIN}.get_reader", "accepts_directories": True, "filename_patterns": READ_PATTERNS}
            ],
            "writers": [
                {"command": f"{PLUGIN}.write_image", "layer_types": ["image"], "filename_extensions": WRITE_EXTENSIONS, "display_name": "medical image"},
                {"command": f"{PLUGIN}.write_labels", "layer_types": ["labels"], "filename_extensions": WRITE_EXTENSIONS, "display_name": "medical labels"},
            ],
            "sample_data": sample_data,
            "widgets": widgets,
            "menus": menus,
            "submenus": submenus,
        },
    }


def manifest_yaml() -> str:
    """The manifest as YAML text, with a header saying it is generated."""
    import yaml

    header = "# Generated by `python -m napari_medimg._napari.manifest > napari.yaml`; do not edit by hand.\n"
    return header + yaml.safe_dump(build_manifest(), sort_keys=False, width=120)


if __name__ == "__main__":
    sys.stdout.write(manifest_yaml())
