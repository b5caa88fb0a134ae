"""Every registered operation, fed arrays it cannot use, answers with its own clear error.

The arrays are the ones users meet: half floats, complex values, a single voxel, a
constant image, a zero-length axis, NaNs, booleans, slivers. Each operation must either
work or raise a ``ValueError`` / ``TypeError`` raised by napari-medimg itself (its
message names what is wrong) -- never a raw SciPy, ITK, scikit-image or scikit-learn
exception from deep inside.
"""

from __future__ import annotations

import traceback
import warnings

import numpy as np
import pytest

from napari_medimg.operations import OPERATIONS, Operation
from napari_medimg.volume import Volume

SPACING = (1.0, 1.2, 1.5)


def _base(shape=(8, 10, 12)) -> np.ndarray:
    return np.random.default_rng(0).normal(100, 20, shape).astype(np.float32)


def _nan_image() -> np.ndarray:
    image = _base()
    image[2, 3, 4] = np.nan
    return image


def _inf_image() -> np.ndarray:
    image = _base()
    image[2, 3, 4] = np.inf
    image[5, 6, 7] = -np.inf
    return image


BAD_ARRAYS = {
    "float16": lambda: _base().astype(np.float16),
    "complex64": lambda: _base().astype(np.complex64),
    "one_voxel": lambda: np.ones((1, 1, 1), np.float32),
    "constant": lambda: np.full((8, 10, 12), 5, np.float32),
    "constant_uint16": lambda: np.full((8, 10, 12), 7, np.uint16),
    "empty_axis": lambda: np.zeros((0, 10, 12), np.float32),
    "nan": _nan_image,
    "inf": _inf_image,
    "bool": lambda: _base() > 100,
    "tiny_2x2x2": lambda: _base((2, 2, 2)),
    "one_slice": lambda: _base((1, 10, 12)),
    "thin_3x3x3": lambda: _base((3, 3, 3)),
}


def _second_input(parameter, shape):
    """A seed at the centre, or a labels volume on the same grid (two labels where room)."""
    if parameter.layer_kind == "points":
        return np.array([[n // 2 for n in shape]], float) * np.asarray(SPACING)
    labels = np.zeros(shape, np.uint8)
    if labels.size:
        if parameter.name in ("mask", "labels"):
            labels[...] = 1
        else:
            labels.flat[0] = 1
            labels.flat[-1] = 2 if labels.size > 1 else 1
    return Volume(labels, SPACING, (0.0, 0.0, 0.0), np.eye(3))


def _raised_by_us(exc: BaseException) -> bool:
    """A ValueError/TypeError of a builtin or napari-medimg type, raised in napari-medimg code."""
    frames = traceback.extract_tb(exc.__traceback__)
    last = frames[-1].filename.replace("\\", "/") if frames else ""
    module = type(exc).__module__
    return (
        isinstance(exc, (ValueError, TypeError))
        and (module == "builtins" or module.startswith("napari_medimg"))
        and "/napari_medimg/" in last
    )


@pytest.mark.parametrize("case", sorted(BAD_ARRAYS))
@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.name)
def test_bad_array_gives_our_own_error(operation: Operation, case: str):
    array = BAD_ARRAYS[case]()
    volume = Volume(array, SPACING, (0.0, 0.0, 0.0), np.eye(3))
    values = {p.name: _second_input(p, array.shape) for p in operation.parameters if p.is_layer}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            result = operation.run(volume, values)
        except Exception as exc:  # noqa: BLE001 - the point is to classify every exception
            assert _raised_by_us(exc), (
                f"{operation.name} on a {case} array raised a raw {type(exc).__module__}."
                f"{type(exc).__name__} from {traceback.extract_tb(exc.__traceback__)[-1].filename}: {exc}"
            )
            assert str(exc), "the error must say what is wrong"
            return
    if operation.output_kind != "points":
        assert not np.iscomplexobj(result.array)
        assert result.array.dtype != np.float16
        if operation.geometry == "same":
            assert result.array.shape == array.shape


@pytest.mark.parametrize(
    "case, expected, match",
    [
        ("complex64", TypeError, "gaussian: the image has complex values"),
        ("empty_axis", ValueError, "gaussian: the image is empty"),
    ],
)
def test_shared_input_check_names_the_operation(case, expected, match):
    volume = Volume(BAD_ARRAYS[case](), SPACING, (0.0, 0.0, 0.0), np.eye(3))
    with pytest.raises(expected, match=match):
        next(op for op in OPERATIONS if op.name == "gaussian").run(volume)


def test_float16_runs_as_float32():
    operation = next(op for op in OPERATIONS if op.name == "gaussian")
    half = Volume(BAD_ARRAYS["float16"](), SPACING, (0.0, 0.0, 0.0), np.eye(3))
    single = Volume(half.array.astype(np.float32), SPACING, (0.0, 0.0, 0.0), np.eye(3))
    result = operation.run(half)
    assert result.array.dtype == np.float32
    np.testing.assert_array_equal(result.array, operation.run(single).array)


def test_multi_otsu_on_a_constant_image_says_why():
    operation = next(op for op in OPERATIONS if op.name == "threshold_multi_otsu")
    volume = Volume(BAD_ARRAYS["constant"](), SPACING, (0.0, 0.0, 0.0), np.eye(3))
    with pytest.raises(ValueError, match="1 distinct value.*3 classes: use fewer classes"):
        operation.run(volume)


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.name)
def test_infinite_voxels_are_refused_by_every_operation(operation: Operation):
    """+/-inf is refused before any function sees it: nothing smeared over the image."""
    array = _inf_image()
    array[0, 0, 0] = np.nan
    volume = Volume(array, SPACING, (0.0, 0.0, 0.0), np.eye(3))
    values = {p.name: _second_input(p, array.shape) for p in operation.parameters if p.is_layer}
    with pytest.raises(ValueError) as info:
        operation.run(volume, values)
    message = str(info.value)
    assert message.startswith(f"{operation.name}: the {operation.input_kind} has 2 infinite voxel values")
    assert "out of 960 (and 1 NaN)" in message and "replace them first" in message


def test_infinite_labels_second_input_is_refused_too():
    """The input check covers the first input; a float second input with inf is the function's job."""
    from napari_medimg.processing._validate import check_image

    with pytest.raises(ValueError, match=r"mask contains 1 infinite voxel value \(\+inf or -inf\) out of 3;"):
        check_image(np.array([1.0, np.inf, 0.0], np.float32), "mask", allow_nan=True)


def test_finite_check_counts_exactly_and_streams():
    from napari_medimg.processing import _validate

    array = np.zeros((3, 700, 1000), np.float32)  # 2.1 M values: three blocks
    array[0, 0, 0] = np.inf
    array[2, 699, 999] = -np.inf
    array[1, 5, 5] = np.nan
    assert _validate.count_nonfinite(array) == (1, 2)
    assert _validate.count_nonfinite(array[:, ::2, ::3]) == (0, 1)  # a strided view, no copy
    assert _validate.count_nonfinite(np.zeros((4, 4), np.int16)) == (0, 0)
    assert _validate.count_nonfinite(np.float64(np.nan).reshape(())) == (1, 0)
