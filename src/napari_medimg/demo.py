"""The main job: a small end-to-end pipeline on the bundled chest CT.

Headless, it reads the sample, smooths it (1 mm gaussian), segments the lungs with the
chest CT recipe from the operation registry, measures the lungs (mL) and the nodule
(size, shape, HU, GLCM texture), writes the results with the CT's geometry, and renders
a picture with napari on a virtual display. With a display, it opens napari with the sample and the plugin's
widgets instead.

Every result file is written atomically (a temporary file beside it, then a rename), and
existing results are replaced only when asked (``overwrite=True``; on the command line
``--overwrite``, implied for the default folder ``./medimg-demo`` so that the README's
command can be run again). The check is made before any work, for all files at once.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from .io import write
from .operations import get_operation
from .sample_data import load_sample
from .volume import Volume

__all__ = ["lung_pipeline", "run_demo"]

SMOOTHING_MM = 1.0
#: The files the headless demo writes into its output folder.
RESULT_FILES = ("chest_ct_smoothed.nii.gz", "chest_ct_lungs.nii.gz", "chest_ct_demo.png", "summary.json")


def _volume_ml(labels: Volume, value: int | None = None) -> float:
    mask = labels.array != 0 if value is None else labels.array == value
    return float(np.count_nonzero(mask) * np.prod(labels.spacing) / 1000.0)


def lung_pipeline(ct: Volume) -> dict[str, Volume]:
    """Smooth a chest CT and segment both lungs, using registered operations only.

    Parameters
    ----------
    ct : Volume
        Chest CT in HU.

    Returns
    -------
    dict
        ``smoothed`` (float32) and ``lungs`` (uint8 mask of both lungs).
    """
    smoothed = get_operation("gaussian").run(ct, {"sigma": SMOOTHING_MM})
    lungs = get_operation("chest_ct_lungs").run(smoothed)
    return {"smoothed": smoothed, "lungs": lungs}


def _nodule_measurements(ct: Volume, nodule: Volume) -> dict[str, float]:
    """Size, shape, position and HU of the nodule, and two radiomics texture features."""
    from .analysis.measure import measure_labels
    from .analysis.radiomics import extract

    table = measure_labels(nodule, ct)
    keep = ("volume_ml", "surface_area_mm2", "sphericity", "maximum_3d_diameter_mm", "mean_HU", "std_HU")
    values = {key: round(float(table[key][0]), 3) for key in keep}
    values.update({f"centroid_{axis}_mm": round(float(table[f"centroid_{axis}_mm"][0]), 2) for axis in "zyx"})
    texture = extract(ct, nodule, {"binWidth": 25}, feature_classes=["glcm"])
    for name in ("original_glcm_Contrast", "original_glcm_JointEntropy"):
        values[name] = round(float(texture[name]), 4)
    return values


def _headless(out: Path, overwrite: bool) -> int:
    from ._napari.virtual_display import virtual_display
    from .io.atomic import atomic_write, refuse_existing

    if not overwrite:  # before any work: nothing is computed only to be refused
        refuse_existing([out / name for name in RESULT_FILES])
    out.mkdir(parents=True, exist_ok=True)
    ct, nodule = load_sample("chest_ct")
    results = lung_pipeline(ct)
    smoothed_name, lungs_name, picture_name, summary_name = RESULT_FILES
    paths = {
        "smoothed": write(results["smoothed"], out / smoothed_name, overwrite=overwrite),
        "lungs": write(results["lungs"], out / lungs_name, overwrite=overwrite),
    }
    summary: dict[str, Any] = {
        "input": "bundled sample chest_ct (pyradiomics lung1, half resolution)",
        "spacing_mm_xyz": list(ct.spacing[::-1]),
        "lung_volume_ml": round(_volume_ml(results["lungs"]), 1),
        "nodule_volume_ml": round(_volume_ml(nodule), 3),
        "nodule": _nodule_measurements(ct, nodule),
        "outputs": {k: str(v) for k, v in paths.items()},
    }
    try:
        with virtual_display():
            from ._napari.render import render_pipeline_png

            png = atomic_write(
                out / picture_name,
                lambda temporary: render_pipeline_png(ct, results["lungs"], nodule, temporary),
                overwrite=overwrite,
            )
        summary["outputs"]["picture"] = str(png)
    except RuntimeError as exc:  # no Xvfb: the numbers are still worth having
        summary["picture_error"] = str(exc)
        # a picture from an earlier run would pass for this one's (overwrite allowed here:
        # without it an existing picture was refused before any work)
        (out / picture_name).unlink(missing_ok=True)
    text = json.dumps(summary, indent=1)
    atomic_write(out / summary_name, lambda temporary: temporary.write_text(text), overwrite=overwrite)
    print(json.dumps(summary, indent=1))
    return 0 if "picture_error" not in summary else 1


# The widgets the GUI demo docks; every other operation is in the Layers and Plugins menus.
DEMO_OPERATIONS = ("window_preset", "non_local_means", "chest_ct_lungs", "region_grow")


def _open_napari() -> int:
    import napari

    from ._napari.layers import add_layer
    from ._napari.sample_data import chest_ct
    from ._qt.features_table import FeaturesTableWidget
    from ._qt.measure_widget import MeasureWidget
    from ._qt.operation_widget import make_operation_widget
    from .operations import get_operation

    viewer = napari.Viewer(title="napari-medimg demo")
    for data, kwargs, layer_type in chest_ct():
        add_layer(viewer, data, kwargs, layer_type)
    for name in DEMO_OPERATIONS:
        widget = make_operation_widget(viewer, name)
        viewer.window.add_dock_widget(widget, name=get_operation(name).title, tabify=True)
    viewer.window.add_dock_widget(MeasureWidget(viewer), name="Measure objects", area="right", tabify=True)
    viewer.window.add_dock_widget(FeaturesTableWidget(viewer), name="Features table", area="bottom")
    napari.run()
    return 0


def run_demo(out: Path, gui: str = "auto", *, overwrite: bool = False) -> int:
    """Run the demo: ``gui`` is ``"yes"``, ``"no"`` or ``"auto"`` (napari when a display exists).

    Headless, the results go to ``out``; existing result files there (:data:`RESULT_FILES`)
    are replaced only with ``overwrite=True``, otherwise an
    :class:`~napari_medimg.io.errors.ImageWriteError` names the first one before any work.
    """
    from ._napari.virtual_display import has_display

    if gui == "yes" or (gui == "auto" and has_display()):
        return _open_napari()
    return _headless(Path(out), overwrite)
