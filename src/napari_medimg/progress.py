"""Progress, cancellation and chunked parallel processing for long library calls.

Long functions take ``progress`` (called with a fraction in [0, 1]) and ``cancel``
(returns True when the user asked to stop) keyword arguments; both may be None. They
raise :class:`OperationCancelled` when cancelled. :func:`map_chunks` splits a volume
into slabs along one axis (with a halo for neighbourhood filters), runs a function on
each in a thread pool and reports progress per slab: numpy, scipy.ndimage and SimpleITK
release the GIL in their kernels, so slabs run on all cores.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable, TypeVar

import numpy as np

__all__ = [
    "OperationCancelled",
    "sub_progress",
    "ProgressCallback",
    "CancelCheck",
    "report",
    "check_cancel",
    "default_workers",
    "run_in_threads",
    "map_chunks",
]

ProgressCallback = Callable[[float], None]
CancelCheck = Callable[[], bool]
_T = TypeVar("_T")
_R = TypeVar("_R")


class OperationCancelled(Exception):
    """Raised by a long operation when its ``cancel`` callback returned True."""


def report(progress: ProgressCallback | None, fraction: float) -> None:
    """Call ``progress(fraction)`` when a callback was given."""
    if progress is not None:
        progress(min(max(float(fraction), 0.0), 1.0))


def sub_progress(progress: ProgressCallback | None, start: float, stop: float) -> ProgressCallback | None:
    """A callback for one step of a run: its fractions 0..1 fill ``[start, stop]`` of ``progress`` (None stays None)."""
    if progress is None:
        return None
    return lambda fraction: report(progress, start + (stop - start) * fraction)


def check_cancel(cancel: CancelCheck | None) -> None:
    """Raise :class:`OperationCancelled` when ``cancel()`` says so."""
    if cancel is not None and cancel():
        raise OperationCancelled("cancelled by the user")


THREADS_VARIABLE = "NAPARI_MEDIMG_THREADS"
"""Environment variable bounding the threads of an operation (a batch worker's share of the cores)."""


def default_workers() -> int:
    """Threads to use: the cores this process may run on, at most ``$NAPARI_MEDIMG_THREADS``."""
    try:
        cores = max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        cores = max(1, os.cpu_count() or 1)
    try:
        share = int(os.environ.get(THREADS_VARIABLE, ""))
    except ValueError:
        return cores
    return max(1, min(cores, share))


def run_in_threads(
    function: Callable[[_T], _R],
    items: Iterable[_T],
    *,
    workers: int,
    progress: ProgressCallback | None = None,
    cancel: CancelCheck | None = None,
) -> list[_R]:
    """``[function(item) for item in items]``, run in a pool of ``workers`` threads.

    Progress is reported as the results come in (in ``items`` order); ``cancel``, when
    given, is checked after each of them. On any error or cancellation the tasks not yet
    started are cancelled and the exception is raised (``function`` itself should call
    :func:`check_cancel` so that started tasks stop early too).
    """
    results: list[_R] = []
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(function, item) for item in items]
        try:
            for done, future in enumerate(futures, 1):
                results.append(future.result())
                report(progress, done / len(futures))
                check_cancel(cancel)
        except BaseException:
            for future in futures:
                future.cancel()
            raise
    return results


def map_chunks(
    function: Callable[[np.ndarray], np.ndarray],
    array: np.ndarray,
    *,
    halo: int = 0,
    axis: int = 0,
    out_dtype: np.dtype | None = None,
    n_chunks: int | None = None,
    workers: int | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelCheck | None = None,
) -> np.ndarray:
    """Apply a shape-preserving ``function`` slab by slab along ``axis``, in threads.

    Each slab is extended by ``halo`` elements on both sides (clipped at the ends) so
    that a neighbourhood filter of radius ``halo`` gives exactly the same result as on
    the whole array; the halo is cropped before writing into the output.

    Parameters
    ----------
    function : callable
        ``function(slab) -> array`` of the same shape as ``slab``.
    array : numpy.ndarray
        Input.
    halo : int
        Extra elements on each side of a slab along ``axis``.
    axis : int
        Axis to split.
    out_dtype : numpy.dtype, optional
        Output dtype; by default the dtype of the first slab's result.
    n_chunks : int, optional
        Number of slabs; by default 20 (progress in steps of 5 %, Cancel within a
        twentieth of the run per worker), fewer where slabs would get thinner than twice
        the halo, never fewer than 4 per worker, at most one per index along ``axis``.
    workers : int, optional
        Threads; by default :func:`default_workers`.
    progress, cancel : callable, optional
        See the module docstring. Cancellation is checked between slabs.

    Returns
    -------
    numpy.ndarray
        The assembled result.
    """
    axis = axis % array.ndim
    length = array.shape[axis]
    workers = workers or default_workers()
    n_chunks = n_chunks or max(4 * workers, min(20, length // max(1, 2 * halo)))
    n_chunks = max(1, min(n_chunks, length))
    bounds = np.linspace(0, length, n_chunks + 1).round().astype(int)

    def run(i: int) -> np.ndarray:
        check_cancel(cancel)
        start, stop = int(bounds[i]), int(bounds[i + 1])
        lo, hi = max(0, start - halo), min(length, stop + halo)
        slab = np.take(array, np.arange(lo, hi), axis=axis) if axis else array[lo:hi]
        result = np.asarray(function(slab))
        crop = [slice(None)] * array.ndim
        crop[axis] = slice(start - lo, start - lo + (stop - start))
        return result[tuple(crop)]

    parts = run_in_threads(run, range(n_chunks), workers=workers, progress=progress)
    out = np.empty(array.shape, out_dtype or parts[0].dtype)
    for i, part in enumerate(parts):
        index = [slice(None)] * array.ndim
        index[axis] = slice(int(bounds[i]), int(bounds[i + 1]))
        out[tuple(index)] = part
    return out
