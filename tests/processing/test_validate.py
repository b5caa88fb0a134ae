"""The shared input checks and the thread-pool runner used across processing and analysis."""

import time

import numpy as np
import pytest

from napari_medimg.processing._validate import check_image, check_mask, check_spacing
from napari_medimg.progress import OperationCancelled, run_in_threads


def test_check_image_accepts_numbers_and_views_bool():
    image = np.zeros((2, 3), np.int16)
    assert check_image(image) is image
    flags = np.ones((2, 2), bool)
    out = check_image(flags)
    assert out.dtype == np.uint8 and np.shares_memory(out, flags)


def test_check_image_messages():
    with pytest.raises(ValueError, match="stack must have an integer or floating dtype"):
        check_image(np.array(["a"]), "stack")
    with pytest.raises(ValueError, match=r"image is empty \(shape \(0, 3\)\)"):
        check_image(np.zeros((0, 3)))
    nan = np.array([1.0, np.nan], np.float32)
    with pytest.raises(ValueError, match="NaN values; fill them first") as info:
        check_image(nan, nan_reason=" because filters spread them")
    assert str(info.value).endswith("because filters spread them")
    assert check_image(nan, allow_nan=True) is nan


def test_check_spacing():
    assert check_spacing(None, 3) == (1.0, 1.0, 1.0)
    assert check_spacing((2, 0.5), 2) == (2.0, 0.5)
    with pytest.raises(ValueError, match="one spacing per axis"):
        check_spacing((1.0, 1.0), 3)
    with pytest.raises(ValueError, match="positive and finite"):
        check_spacing((1.0, float("nan")), 2)
    with pytest.raises(ValueError, match="positive and finite"):
        check_spacing((1.0, 0.0), 2)


def test_check_mask():
    assert check_mask(None, (2, 2)) is None
    out = check_mask(np.array([[0, 2], [0, 0]]), (2, 2))
    assert out.dtype == bool and out.tolist() == [[False, True], [False, False]]
    with pytest.raises(ValueError, match="must match"):
        check_mask(np.ones((2, 3)), (2, 2))
    with pytest.raises(ValueError, match="mask is empty"):
        check_mask(np.zeros((2, 2)), (2, 2))


def test_run_in_threads_keeps_order_and_reports_progress():
    seen = []
    assert run_in_threads(lambda i: i * i, range(6), workers=3, progress=seen.append) == [0, 1, 4, 9, 16, 25]
    assert seen == pytest.approx([1 / 6, 2 / 6, 3 / 6, 4 / 6, 5 / 6, 1.0])


def test_run_in_threads_raises_and_cancels_the_rest():
    started = []

    def work(i):
        started.append(i)
        if i == 0:
            raise RuntimeError("boom")
        time.sleep(0.05)
        return i

    with pytest.raises(RuntimeError, match="boom"):
        run_in_threads(work, range(50), workers=2)
    assert len(started) < 50  # tasks not yet started were cancelled
    with pytest.raises(OperationCancelled):
        run_in_threads(lambda i: i, range(4), workers=2, cancel=lambda: True)
