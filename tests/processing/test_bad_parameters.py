"""Parameter values outside what an operation can use are refused before it runs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from napari_medimg.operations import OPERATIONS, Parameter, run_operation
from napari_medimg.volume import Volume

FLOAT_PARAMETERS = [
    (op.name, p) for op in OPERATIONS for p in op.parameters if p.type is float and not p.is_layer
]


def test_there_are_float_parameters_to_check():
    assert len(FLOAT_PARAMETERS) > 40


@pytest.mark.parametrize("value", [math.nan, "nan", "NaN", math.inf, -math.inf, "inf", "-inf", "1e999"])
@pytest.mark.parametrize("name, parameter", FLOAT_PARAMETERS, ids=lambda x: x if isinstance(x, str) else x.name)
def test_non_finite_floats_are_refused(name, parameter: Parameter, value):
    with pytest.raises(ValueError, match=f"{parameter.name} must be a finite number"):
        parameter.convert(value)


def test_nan_no_longer_slips_through_a_range():
    sigma = Parameter("sigma", float, 1.0, "mm", minimum=0.0, maximum=100.0)
    with pytest.raises(ValueError, match="sigma must be a finite number, got nan"):
        sigma.convert(float("nan"))
    assert sigma.convert("2.5") == 2.5
    with pytest.raises(ValueError, match="sigma must be at most 100.0 mm, got 101.0"):
        sigma.convert(101)


def test_nan_through_run_operation_is_refused_before_running():
    volume = Volume(np.zeros((4, 5, 6), np.float32), (1.0, 1.0, 1.0), (0, 0, 0), np.eye(3))
    with pytest.raises(ValueError, match="sigma must be a finite number"):
        run_operation("gaussian", volume, sigma=float("nan"))
    with pytest.raises(ValueError, match="lower must be a finite number"):
        run_operation("threshold", volume, lower=float("nan"))


def test_integer_parameters_refuse_nan_and_fractions_as_text():
    count = Parameter("count", int, 1, minimum=1)
    for bad in ("nan", float("nan"), "1.5", "inf", float("inf")):
        with pytest.raises(ValueError, match="count must be int"):
            count.convert(bad)
