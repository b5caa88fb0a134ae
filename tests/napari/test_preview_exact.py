"""Every operation's slice preview equals the full run on that slice (no GUI).

Parametrized over the whole registry: a previewable operation runs through
:func:`napari_medimg._napari.preview.preview_result` (the path the operation widget
takes) on real CT (a crop of the bundled chest CT, 5 mm slices), once with its default
parameters and once with the parameters that set its reach scaled up, at a slice in
the middle and one next to the volume's edge. An operation without a preview must say so.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest

from napari_medimg._napari.preview import preview_result, slab_around
from napari_medimg.operations import OPERATIONS, Operation
from napari_medimg.sample_data import load_sample
from napari_medimg.volume import Volume

SAME_GRID = [op for op in OPERATIONS if op.geometry == "same" and op.output_kind != "points"]
PREVIEWABLE = [op for op in SAME_GRID if op.previewable]
SLICES = (33, 2)  # through the nodule; next to the first slice


@functools.lru_cache(maxsize=None)
def _chest_ct() -> tuple[Volume, Volume]:
    """A 48 x 120 x 120 crop of the bundled chest CT around the nodule, and the nodule."""
    image, nodule = load_sample("chest_ct")
    crop = (slice(None), slice(110, 230), slice(50, 170))

    def cut(volume: Volume) -> Volume:
        origin = tuple(volume.index_to_world([0, crop[1].start, crop[2].start]))
        return Volume(np.ascontiguousarray(volume.array[crop]), volume.spacing, origin, volume.direction, dict(volume.metadata))

    return cut(image), cut(nodule)


@functools.lru_cache(maxsize=None)
def _clicked(image: str, mask: str) -> tuple[Volume, dict]:
    """An image of ../shared/data with a click at the centre of its reference mask."""
    from napari_medimg import read

    data = Path(__file__).parents[2].parent / "shared/data"
    volume = read(data / image)
    inside = read(data / mask).array > 0
    return volume, {"seeds": volume.index_to_world(np.round(np.argwhere(inside).mean(axis=0)))[np.newaxis]}


def _inputs(operation: Operation) -> tuple[Volume, dict]:
    """The input and second inputs of ``operation`` on the chest CT crop (the chest X-ray for 2D recipes)."""
    if operation.name == "chest_xray_lung_fields":
        return load_sample("chest_xray")[0], {}
    if operation.name == "brain_tumour_from_click":  # a FLAIR with a click in its tumour
        return _clicked("mr/brats_tumour/brats_2013_pat0001_1/Flair_subtrMeanDivStd.nii.gz",
                        "mr/brats_tumour/brats_2013_pat0001_1/OTMultiClass.nii.gz")
    if operation.name == "breast_lesion_from_click":  # an ultrasound picture with a click in its lesion
        return _clicked("ultrasound/busi_breast/images/benign_002.png", "ultrasound/busi_breast/masks/benign_002.png")
    image, nodule = _chest_ct()
    lungs = image.with_array((image.array < -400).view(np.uint8), kind="labels")
    values: dict = {}
    for parameter in operation.parameters:
        if parameter.layer_kind == "points":  # a click in the nodule, in world mm
            values[parameter.name] = image.index_to_world(np.round(np.argwhere(nodule.array).mean(axis=0)))[np.newaxis]
        elif parameter.layer_kind == "labels":
            seeds = nodule.array.astype(np.uint8)
            seeds[30:37, 5:15, 5:15] = 2  # background: scribbles, markers
            values[parameter.name] = lungs if parameter.name == "mask" else image.with_array(seeds, kind="labels")
        elif parameter.layer_kind == "image":
            values[parameter.name] = image
    return (lungs if operation.input_kind == "labels" else image), values


def _scaled_reach(operation: Operation) -> dict:
    """Values with every reach parameter at three times its default (within its range)."""
    values = {}
    for term in operation.preview_reach:
        if isinstance(term, tuple):
            parameter = operation.parameter(term[0])
            value = 3 * parameter.default
            values[parameter.name] = min(value, parameter.maximum) if parameter.maximum is not None else value
    return values


def _assert_same_slice(operation: Operation, volume: Volume, values: dict, z: int) -> None:
    preview, keep = preview_result(operation, volume, values, z)
    full = operation.run(volume, values).array
    shown, expected = (preview.array, full) if keep < 0 else (preview.array[keep], full[z])
    assert shown.shape == expected.shape and shown.dtype == expected.dtype
    if operation.output_kind == "labels":
        np.testing.assert_array_equal(shown, expected)
    else:
        np.testing.assert_allclose(shown, expected, rtol=1e-5, atol=1e-5 * float(np.nanmax(np.abs(expected)) or 1.0))


@pytest.mark.parametrize("operation", PREVIEWABLE, ids=lambda op: op.name)
@pytest.mark.parametrize("z", SLICES)
def test_preview_equals_the_full_run_on_that_slice(operation: Operation, z: int) -> None:
    volume, values = _inputs(operation)
    z = -1 if volume.spatial_ndim == 2 else z
    _assert_same_slice(operation, volume, values, z)
    scaled = _scaled_reach(operation)
    if scaled:
        _assert_same_slice(operation, volume, {**values, **scaled}, z)


@pytest.mark.parametrize("operation", [op for op in PREVIEWABLE if op.preview == "slab"], ids=lambda op: op.name)
def test_slab_previews_run_on_a_slab_not_the_volume(operation: Operation) -> None:
    volume, values = _inputs(operation)
    halo = operation.preview_halo(volume.spacing[0], operation.resolve(values))
    assert halo <= 3  # default parameters on 5 mm slices: at most 7 of the 48 slices
    slab, keep = slab_around(volume, 33, halo)
    assert slab.spatial_shape[0] == 2 * halo + 1 and keep == halo
    np.testing.assert_allclose(slab.index_to_world([keep, 0, 0]), volume.index_to_world([33, 0, 0]))


def test_the_registry_names_how_each_operation_previews() -> None:
    modes = {op.name: op.preview for op in SAME_GRID}
    # global statistics, thresholds and connectivity: the preview runs on the whole volume
    assert modes["confidence_connected"] == modes["region_grow"] == modes["threshold_auto"] == "whole"
    # local filters: a slab as thick as the kernel
    assert modes["gaussian"] == modes["median_filter"] == modes["closing"] == "slab"
    unavailable = [op for op in SAME_GRID if not op.previewable]
    assert {"n4_bias_correction", "kmeans", "pixel_classifier"} <= {op.name for op in unavailable}
    for op in unavailable:
        assert op.preview_note.startswith("no preview: the result depends on the whole volume")
        with pytest.raises(ValueError, match="no preview"):
            preview_result(op, *_inputs(op), 33)
    keypoints = next(op for op in OPERATIONS if op.output_kind == "points")
    assert not keypoints.previewable and keypoints.preview_note.startswith("no preview")


def test_the_confidence_connected_preview_is_its_own_result_not_a_flood() -> None:
    """The reported failure: the preview flooded the slab (Dice 0.22 against the result)."""
    operation = next(op for op in OPERATIONS if op.name == "confidence_connected")
    volume, values = _inputs(operation)
    preview, keep = preview_result(operation, volume, values, 33)
    full = operation.run(volume, values).array[33]
    shown = preview.array[keep]
    dice = 2 * np.logical_and(shown, full).sum() / (shown.astype(bool).sum() + full.astype(bool).sum())
    assert full.any() and dice == 1.0
    # with 2.5 SD (its former default) the range holds the chest wall: 60 % of the crop, refused, not shown
    with pytest.raises(ValueError, match="leaked: it fills 60 %"):
        operation.run(volume, {**values, "multiplier": 2.5})
