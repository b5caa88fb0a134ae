"""call_killable: the child's result equals the call's, Cancel terminates it at once, errors come back."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from napari_medimg import _killable
from napari_medimg._killable import call_killable
from napari_medimg.progress import OperationCancelled


def _never() -> bool:
    return False


def _stepper(steps: int, *, progress) -> int:
    """Report ``steps`` fractions and return the count (a module-level function: the child imports it)."""
    for i in range(steps):
        progress((i + 1) / steps)
    return steps


def test_large_arrays_go_through_shared_memory_and_the_result_is_exact():
    array = np.random.default_rng(0).normal(size=(64, 128, 128)).astype(np.float32)  # 4 MiB: shared
    assert array.nbytes >= _killable.SHARE_BYTES
    small = np.arange(5)  # pickled
    result = call_killable(np.add, (array, 1.0), cancel=_never)
    assert result.dtype == np.float32 and np.array_equal(result, array + 1.0)
    assert call_killable(np.dot, (small, small), cancel=_never) == 30
    total = call_killable(np.sum, (array,), {"axis": 0, "dtype": np.float64}, cancel=_never)
    assert np.array_equal(total, np.sum(array, axis=0, dtype=np.float64))


def test_without_cancel_or_in_child_false_it_runs_here():
    # a lambda cannot be sent to a child: these calls prove that no child was used
    assert call_killable(lambda a, b=0: a + b, (1,), {"b": 2}) == 3
    assert call_killable(lambda a: -a, (2,), cancel=_never, in_child=False) == -2
    reports = []
    assert call_killable(_stepper, (4,), progress=reports.append) == 4
    assert reports == [0.25, 0.5, 0.75, 1.0]


def test_progress_comes_back_from_the_child():
    reports = []
    assert call_killable(_stepper, (5,), progress=reports.append, cancel=_never) == 5
    assert reports == [0.2, 0.4, 0.6, 0.8, 1.0]


def test_cancel_terminates_a_call_that_checks_nothing():
    call_killable(time.sleep, (0,), cancel=_never)  # the fork server is up: time the cancel alone
    pressed = threading.Event()
    timer = threading.Timer(0.3, pressed.set)
    timer.start()
    started = time.perf_counter()
    with pytest.raises(OperationCancelled):
        call_killable(time.sleep, (60,), cancel=pressed.is_set)
    elapsed = time.perf_counter() - started
    assert elapsed < 0.3 + 1.0, f"cancelled after {elapsed:.2f} s"  # one poll plus the terminate
    with pytest.raises(OperationCancelled):  # cancelled before it starts: no child at all
        call_killable(time.sleep, (60,), cancel=lambda: True)


def test_errors_in_the_child_are_raised_here_with_its_traceback():
    with pytest.raises(ValueError, match="cannot reshape") as info:
        call_killable(np.reshape, (np.zeros(6), (4,)), cancel=_never)
    assert any("in the child process" in note for note in info.value.__notes__)


def test_a_child_that_dies_without_answering_is_an_error():
    import os

    with pytest.raises(RuntimeError, match="exit code 3"):
        call_killable(os._exit, (3,), cancel=_never)


def test_cancel_acts_while_the_fork_server_is_still_starting():
    """The first call of a session waits for the server's imports: Cancel must not wait for them."""
    from multiprocessing import forkserver

    forkserver._forkserver._stop()  # a fresh server, which imports scikit-image first
    pressed = threading.Event()
    timer = threading.Timer(0.2, pressed.set)
    timer.start()
    started = time.perf_counter()
    with pytest.raises(OperationCancelled):
        call_killable(time.sleep, (60,), cancel=pressed.is_set, imports=("skimage.segmentation._watershed",))
    assert time.perf_counter() - started < 0.2 + 0.5
    assert call_killable(np.negative, (np.ones(3),), cancel=_never).tolist() == [-1, -1, -1]


@pytest.mark.parametrize(
    ("source", "safe"),
    [
        ("import napari\nif __name__ == '__main__':\n    napari.run()\n", True),
        ('if __name__=="__main__": main()\n', True),
        ("import napari\nviewer = napari.Viewer()\nnapari.run()\n", False),  # would run again in the server
    ],
)
def test_a_child_is_used_only_when_the_main_script_is_guarded(source, safe, tmp_path, monkeypatch):
    import sys
    import types

    script = tmp_path / "script.py"
    script.write_text(source)
    main = types.ModuleType("__main__")
    main.__file__ = str(script)
    main.__spec__ = None
    monkeypatch.setitem(sys.modules, "__main__", main)
    _killable.main_is_safe.cache_clear()
    try:
        assert _killable.main_is_safe() is safe
        if not safe:  # runs here (a lambda could not go to a child), saying why Cancel will wait
            with pytest.warns(RuntimeWarning, match="guard"):
                assert call_killable(lambda: 5, cancel=_never) == 5
    finally:
        _killable.main_is_safe.cache_clear()
