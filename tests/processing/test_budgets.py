"""Memory and time budgets are checked from the parameters before an operation runs."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from napari_medimg import budget
from napari_medimg.budget import BudgetError, Cost, SlowOperationWarning
from napari_medimg.operations import get_operation, run_operation
from napari_medimg.volume import Volume


def _lung1_like(dtype=np.int16) -> Volume:
    """A volume with pyradiomics lung1's grid (512 x 512 x 48 at 0.57 x 0.57 x 5 mm), lazily zero."""
    array = np.broadcast_to(np.zeros((), dtype), (48, 512, 512))
    return Volume(array, (5.0, 0.57, 0.57), (0.0, 0.0, 0.0), np.eye(3))


def test_available_memory_reads_the_system():
    available = budget.available_memory()
    assert available is None or available > 1 << 20


def test_resample_to_0_05_mm_is_refused_with_the_figure_and_advice():
    operation = get_operation("resample_isotropic")
    cost = operation.estimate_cost(_lung1_like(), {"spacing": 0.05})
    assert 600 * 2**30 < cost.memory_bytes < 620 * 2**30  # the 610 GiB
    with pytest.raises(BudgetError, match=r"resample_isotropic would need 609\.\d GiB \(output 4800 x 5837 x 5837 "
                                          r"voxels of 0.05 mm\) but only .* available: choose a larger spacing"):
        operation.run(_lung1_like(), {"spacing": 0.05})


def test_the_library_function_refuses_too_before_allocating(monkeypatch):
    from napari_medimg.processing.resample import resample_isotropic

    monkeypatch.setattr(budget, "available_memory", lambda: 1 << 20)
    volume = Volume(np.zeros((4, 64, 64), np.float32), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0), np.eye(3))
    with pytest.raises(BudgetError, match="resampling would need .* but only 1 MiB"):
        resample_isotropic(volume, spacing=0.25)  # 4 MiB of float32


def test_closing_with_a_100_mm_ball_warns_before_running(monkeypatch):
    operation = get_operation("closing")
    cost = operation.estimate_cost(_lung1_like(np.uint8), {"radius": 100.0})
    assert cost.seconds > 300
    ran = []
    monkeypatch.setattr(operation.__class__, "load", lambda self: (lambda array, **kw: ran.append(1) or array))
    with pytest.warns(SlowOperationWarning, match=r"closing is expected to take about \d+ minutes \(a ball of "
                                                  r"20 x 175 x 175 voxel radii .*use a smaller radius"):
        operation.run(_lung1_like(np.uint8), {"radius": 100.0})
    assert ran  # a warning, not a refusal: the user may go ahead


def test_ordinary_parameters_neither_warn_nor_refuse():
    labels = np.zeros((10, 30, 30), np.uint8)
    labels[3:7, 10:20, 10:20] = 1
    volume = Volume(labels, (2.0, 1.0, 1.0), (0.0, 0.0, 0.0), np.eye(3))
    with warnings.catch_warnings():
        warnings.simplefilter("error", SlowOperationWarning)
        closed = run_operation("closing", volume, radius=2.0)
        resampled = run_operation("resample_labels_isotropic", volume, spacing=1.0)
    assert closed.array.sum() >= labels.sum()
    assert resampled.array.shape == (20, 30, 30)


def test_generic_estimate_is_the_result_size():
    volume = Volume(np.zeros((4, 5, 6), np.int16), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0), np.eye(3))
    assert get_operation("gaussian").estimate_cost(volume).memory_bytes == 4 * 5 * 6 * 4


def test_enforce_formats_seconds_and_respects_the_threshold():
    with pytest.warns(SlowOperationWarning, match="about 45 seconds"):
        budget.enforce("x", Cost(0, seconds=45.0))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        budget.enforce("x", Cost(0, seconds=budget.SLOW_SECONDS / 2))
    with pytest.raises(BudgetError, match="x would need 2.0 GiB but only 1.0 GiB"):
        budget.enforce("x", Cost(2 << 30), available=1 << 30)
