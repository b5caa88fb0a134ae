"""Cancel acts within 1.5 s on runs that would take several seconds or more, opened as napari opens them.

Each case docks the operation's widget through ``add_plugin_dock_widget``, runs it on a
synthetic volume with parameters that make the run last several seconds (most ten or more) on two
cores (``CASES``; measured figures in the comments), waits until it has run about a
second and reported progress, presses Cancel and times ``worker.finished``. Nothing
runs to the end, so each case costs a few seconds.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from _widgets import open_widget
from napari_medimg.operations import get_operation
from napari_medimg.progress import OperationCancelled

SHAPE = (160, 320, 320)  # 16 M voxels, 1 mm
SECOND_SHAPE = (40, 320, 320)

#: operation -> (parameters, volume shape): every run lasts 3.5 s or more on 2 cores (most >= 10 s)
CASES: dict[str, tuple[dict, tuple[int, int, int]]] = {
    "anisotropic_diffusion": ({"iterations": 20}, SHAPE),
    "fast_marching": ({"volume_ml": 2000.0, "sigma": 3.0}, SHAPE),
    "mean_filter": ({"radius": 5.0, "footprint": "ball"}, SHAPE),
    "maximum_filter": ({"radius": 6.0, "footprint": "ball"}, SHAPE),
    "glcm_map": ({"window": 9.0, "levels": 16}, SHAPE),
    "lbp_map": ({"radius": 3.0, "points": 24}, SHAPE),
    # measured alone on 2 cores (first progress report / Cancel to finished, library call);
    # stencil filters (run_blocks) report per plane and check Cancel before each block
    "gaussian": ({"sigma": 12.0}, SHAPE),  # 160 plane steps, 6.3 s in all: 0.4-0.85 s / 0.5 s
    "unsharp_mask": ({"radius": 12.0}, SHAPE),  # 160 steps + 10 % to combine, 7 s: 0.5-0.8 s / 0.4 s
    "minimum_filter": ({"radius": 6.0, "footprint": "ball"}, SHAPE),  # 160 plane steps, 5.6 s: 0.5-0.9 s / 0.5 s
    "median_filter": ({"radius": 3.0}, SHAPE),  # 160 plane steps (3 s each), Cancel per block: 3.1 s / 0.03 s
    "bilateral": ({"sigma_spatial": 2.0}, SHAPE),  # 160 plane steps, Cancel every 512 offsets: 2.7 s / 0.2 s
    # the fit on 200 k sampled voxels one k-means initialisation / a few EM steps at a time,
    # then prediction in >= 10 chunks (8 s / 25 s in all; Cancel 0.4 s / 0.5 s)
    "kmeans": ({"n_classes": 8, "position_weight": 1.0}, SHAPE),
    "gaussian_mixture": ({"n_classes": 8, "position_weight": 1.0}, SHAPE),
    # skimage's 3D CLAHE arithmetic run one row of regions and one corner map at a time:
    # 83 steps of <= 3 %, 3.9 s in all, Cancel 0.015 s
    "clahe": ({}, SHAPE),
    # N4 reports after each of its iterations (a level converging early jumps to its end:
    # steps up to 0.9 / levels) and Cancel is raised from the iteration event (15.7 s in
    # all, Cancel 0.16 s)
    "n4_bias_correction": ({}, SHAPE),
    "n4_bias_correction_masked": ({}, SHAPE),
    "non_local_means": ({}, SHAPE),  # 40 steps of 4 planes (80 s in all), Cancel per block: 2.3 s / 0.12 s
    # scipy's gaussian_filter pass by pass, each 1D pass in 8 pieces across another axis (no
    # halo; bit-identical): 72 steps of 1.4 %, first report 0.13 s, 3.3 s in all at sigma 12
    "gradient_magnitude": ({"sigma": 20.0}, SHAPE),
    "laplacian_of_gaussian": ({"sigma": 20.0}, SHAPE),
    # skimage's flood is one indivisible call: it runs in a child process (napari_medimg._killable,
    # forkserver, image in shared memory) that Cancel terminates. Flooding the image itself (30 %
    # at once) takes 27 s in all (+0.3 s for the child; +1.4 s for the session's first, while the
    # fork server imports); Cancel 0.05-0.09 s. The gradient before it reports per pass piece (as
    # gradient_magnitude)
    "watershed_markers": ({"use_gradient": False}, SHAPE),
    # the per-slice SIFT loop in a child process (napari_medimg._killable) that sends progress per
    # slice (0.6 %) and is terminated on Cancel: 35 s in all, first report 1.7-2.4 s (the fork
    # server's start), Cancel 0.03-0.05 s
    "keypoints": ({}, SHAPE),
    # 3D canny: smoothing by gradient_magnitude's pass pieces, Sobel + magnitude in 16 slabs,
    # suppression in 64 slabs, the gradients kept for the edge pass (bit-identical): 106 steps,
    # none over 0.3 s; 3.6-4.0 s in all (8.3-9.1 s before), Cancel 0.04-0.11 s
    "canny": ({"sigma": 10.0, "per_slice": False}, SHAPE),
    # a slice model: progress after each of the 160 slices, Cancel checked before each slice
    # and each sliding-window pass
    "segment_with_model": ({"model": "brats-flair-tumour"}, SHAPE),
    "brain_tumour_centres": ({}, SHAPE),  # the same model's map first: the same checks
}

#: Operations that report progress but still run long single calls (left to do): none now.
NOT_YET: dict[str, str] = {}


def _volume(shape) -> np.ndarray:
    rng = np.random.default_rng(0)
    grid = np.ogrid[tuple(slice(0, n) for n in shape)]
    distance = np.sqrt(sum(((g - n / 2) / n) ** 2 for g, n in zip(grid, shape)))
    image = (100 * (distance < 0.3) + 50 * (distance < 0.15)).astype(np.float32)
    image += rng.normal(0, 20, shape).astype(np.float32)
    return image


@pytest.fixture(scope="module")
def volumes():
    return {shape: _volume(shape) for shape in {shape for _, shape in CASES.values()}}


def _second_inputs(viewer, widget, operation, shape) -> None:
    for parameter in operation.parameters:
        if parameter.layer_kind == "points":
            widget.parameter_widgets[parameter.name].value = viewer.add_points([[n // 2 for n in shape]], name="seeds")
        elif parameter.is_layer:
            labels = np.zeros(shape, np.uint8)
            labels[shape[0] // 2, shape[1] // 2, shape[2] // 2] = 1
            labels[2, 2, 2] = 2
            layer = viewer.add_labels(labels, name=parameter.name)
            widget.parameter_widgets[parameter.name].reset_choices()
            widget.parameter_widgets[parameter.name].value = layer


@pytest.mark.parametrize("name", sorted(CASES))
def test_cancel_stops_a_long_run_within_1_5_s(name, make_napari_viewer, qtbot, volumes):
    parameters, shape = CASES[name]
    operation = get_operation(name)
    viewer = make_napari_viewer()
    layer = viewer.add_image(volumes[shape], name="volume")
    widget = open_widget(viewer, name)
    _second_inputs(viewer, widget, operation, shape)
    widget.input_layer.value = layer
    for key, value in parameters.items():
        widget.parameter_widgets[key].value = value
    count = len(viewer.layers)
    worker = widget.start(start_thread=False)
    started = time.perf_counter()
    worker.start()
    qtbot.waitUntil(lambda: widget._fraction > 0 and time.perf_counter() - started > 1.0, timeout=30_000)
    fraction = widget._fraction
    assert 0 < fraction < 1, f"{name}: progress {fraction} after {time.perf_counter() - started:.1f} s"
    qtbot.waitUntil(lambda: widget.progress_bar.value > 0, timeout=2_000)  # the bar shows it
    pressed = time.perf_counter()
    with qtbot.waitSignal(worker.finished, timeout=15_000):
        widget.cancel()
    latency = time.perf_counter() - pressed
    assert latency < 1.5, f"{name}: finished {latency:.2f} s after Cancel"
    assert widget.error is None or isinstance(widget.error, OperationCancelled), widget.error  # no other failure
    assert not worker.is_running  # finished: the function itself returned, it was not abandoned
    assert len(viewer.layers) == count  # no result layer
    assert widget.progress_bar.value != 100 and widget.run_button.enabled


def test_operations_that_report_progress_are_covered_or_listed():
    from napari_medimg.operations import OPERATIONS

    long_ones = {op.name for op in OPERATIONS if op.reports_progress}
    quick = {  # runs of a second or less at 16 M voxels with any parameter
        "equalize_histogram", "sobel", "threshold_local", "region_grow", "confidence_connected", "smooth_labels",
        "split_objects", "pixel_classifier", "resample_isotropic", "resample_labels_isotropic", "resample_to_reference",
        "resample_labels_to_reference", "resample_axis_aligned", "brain_tumour_from_click", "breast_lesion_from_click",
    }
    # need a chest CT (this file's synthetic volume has no lungs): Cancel through the menu is
    # tested on pyradiomics' lung1 in tests/apps/test_nodules.py, the lungs' cancel checks in
    # tests/apps/test_chest_ct_study.py
    chest_ct = {"lung_nodule_candidates", "chest_ct_lungs_left_right"}
    assert long_ones - set(CASES) - set(NOT_YET) - quick - chest_ct == set()


def test_a_failed_run_shows_failure_not_100_percent(make_napari_viewer, qtbot):
    from napari.utils.notifications import notification_manager

    viewer = make_napari_viewer()
    image = np.random.default_rng(0).normal(0, 1, (3, 8, 8)).astype(np.float32)  # fast marching needs 4 slices
    viewer.add_image(image, name="thin")
    seeds = viewer.add_points([[1, 4, 4]], name="seeds")
    widget = open_widget(viewer, "fast_marching")
    widget.input_layer.value = viewer.layers["thin"]
    widget.parameter_widgets["seeds"].value = seeds
    count = len(viewer.layers)
    worker = widget.start(start_thread=False)
    before = len(notification_manager.records)
    with qtbot.waitSignal(worker.finished, timeout=30_000):
        worker.start()
    assert isinstance(widget.error, ValueError) and "4 voxels" in str(widget.error)
    assert widget.progress_bar.value == 0 and widget.progress_bar.label == "failed"
    assert "4 voxels" in widget.progress_bar.tooltip
    assert any("failed" in str(n.message) for n in notification_manager.records[before:])
    assert len(viewer.layers) == count and widget.run_button.enabled
