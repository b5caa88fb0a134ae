"""Run one uninterruptible library call in a child process that Cancel can end.

Some library calls are one indivisible computation (scikit-image's watershed floods the
whole volume from a single priority queue; its SIFT detects on a whole image): they
check no callback, so Cancel could only act after them. :func:`call_killable` runs such
a call in a child process, polls ``cancel`` every :data:`POLL_S` seconds while it runs,
and terminates the child when the user cancels: Cancel then acts within a fraction of a
second whatever the call is doing, and the result is exactly the in-process result (the
same function on the same data).

How it is done
--------------
* **Start method.** ``forkserver``: a process with Qt (napari) or other threads must not
  ``fork`` itself (a lock held by another thread stays locked in the child), whereas the
  fork server is a clean single-threaded process started once, from which each child is
  forked. The server (multiprocessing's one per process: its preload list is set here)
  imports ``__main__`` and the modules named in ``imports`` of the calls made before it
  started (:data:`PRELOAD`); a child then starts in ~20 ms instead of
  the ~1.4 s that importing scikit-image takes under ``spawn`` (measured on 2 loaded
  cores). Modules named only after the server started are imported by each child. The
  first start in a session waits for those imports: it runs in a thread, so Cancel is
  watched meanwhile (a child that starts after Cancel is terminated as soon as it does).
  Like every non-``fork`` start, the server imports the main script as ``__mp_main__``:
  a script without the ``if __name__ == "__main__":`` guard would run again there (a
  second viewer). So a child is used only when that is safe (:func:`main_is_safe`:
  interactive sessions, ``python -m``, console scripts and guarded scripts); otherwise
  the call runs in this process, with a warning that Cancel acts only after it.
* **Data.** Array arguments of 1 MiB or more travel in shared memory (one copy in, no
  pickling); the rest, and the result, are pickled through a pipe.
* **Progress.** With ``progress`` the function is called with a ``progress=`` keyword
  whose fractions come back through the pipe; otherwise only the caller's own reports
  before and after the call are seen.
* **Errors** raised in the child are raised again in the caller (the child's traceback
  as a note); a child that dies without answering (killed for memory) raises a
  RuntimeError with its exit code.
* Without ``cancel`` (scripts, the command line) or with ``in_child=False`` the function
  simply runs in this process.
"""

from __future__ import annotations

import dataclasses
import functools
import multiprocessing
import re
import sys
import threading
import traceback
import warnings
from multiprocessing import shared_memory
from typing import Any, Callable

import numpy as np

from .progress import CancelCheck, ProgressCallback, check_cancel, report

__all__ = ["call_killable", "main_is_safe", "POLL_S", "PRELOAD"]

POLL_S = 0.05  #: seconds between two looks at ``cancel`` (and at the child's messages)
SHARE_BYTES = 1 << 20  #: arrays from this size on go through shared memory
#: modules the fork server imports when it starts (grows with each call's ``imports``)
PRELOAD: set[str] = {"__main__", __name__}
_LOCK = threading.Lock()


@dataclasses.dataclass(frozen=True)
class _SharedArray:
    """Where the child finds an array argument: a shared memory block, shape and dtype."""

    name: str
    shape: tuple[int, ...]
    dtype: str

    def open(self) -> np.ndarray:
        """A view of the block in this (the child's) process; the block stays open."""
        block = shared_memory.SharedMemory(name=self.name)
        _OPEN.append(block)  # keep it mapped while the function runs
        return np.ndarray(self.shape, np.dtype(self.dtype), buffer=block.buf)


_OPEN: list[shared_memory.SharedMemory] = []  # child side: blocks in use


def _share(value: Any, blocks: list[shared_memory.SharedMemory]) -> Any:
    """``value``, or for a large array a :class:`_SharedArray` copy (block added to ``blocks``)."""
    if not isinstance(value, np.ndarray) or value.nbytes < SHARE_BYTES or value.dtype.hasobject:
        return value
    block = shared_memory.SharedMemory(create=True, size=value.nbytes)
    blocks.append(block)
    np.ndarray(value.shape, value.dtype, buffer=block.buf)[...] = value
    return _SharedArray(block.name, value.shape, value.dtype.str)


def _unshare(value: Any) -> Any:
    return value.open() if isinstance(value, _SharedArray) else value


def _child(connection, function: Callable, args: tuple, kwargs: dict, with_progress: bool) -> None:
    """In the child: call ``function``, sending ("progress", f)..., then ("result", r) or ("error", e)."""
    try:
        args = tuple(_unshare(a) for a in args)
        kwargs = {k: _unshare(v) for k, v in kwargs.items()}
        if with_progress:
            kwargs["progress"] = lambda fraction: connection.send(("progress", float(fraction)))
        message = ("result", function(*args, **kwargs))
    except BaseException as exc:  # noqa: BLE001 - every failure goes back to the caller
        exc.add_note(f"in the child process:\n{traceback.format_exc()}")
        message = ("error", exc)
    try:
        connection.send(message)
    except Exception as exc:  # an unpicklable result or exception
        connection.send(("error", RuntimeError(f"could not send back the child's {message[0]}: {exc!r}")))
    connection.close()


_GUARD = re.compile(r"""if\s+__name__\s*==\s*['"]__main__['"]""")


@functools.lru_cache(maxsize=1)
def main_is_safe() -> bool:
    """Whether a child process may import this process' ``__main__`` (the fork server does).

    True for interactive sessions (no main file), ``python -m package`` (multiprocessing
    skips ``package.__main__``) and main files guarded by ``if __name__ == "__main__":``
    (console scripts such as ``napari`` or ``pytest`` are); False for an unguarded script
    or one whose source cannot be read.
    """
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if spec is not None and spec.name.endswith(".__main__"):
        return True
    path = getattr(main, "__file__", None)
    if path is None:
        return True
    try:
        with open(path, encoding="utf-8", errors="replace") as file:
            return _GUARD.search(file.read()) is not None
    except OSError:
        return False


def _in_child_allowed() -> bool:
    """:func:`main_is_safe`, with a warning when it is not."""
    if main_is_safe():
        return True
    warnings.warn(
        "the main script has no 'if __name__ == \"__main__\":' guard, so long calls run in this "
        "process and Cancel acts only after them; add the guard for a prompt Cancel",
        RuntimeWarning,
        stacklevel=3,
    )
    return False


def _context(imports: tuple[str, ...]):
    """The forkserver context, with ``imports`` added to what a new server preloads."""
    context = multiprocessing.get_context("forkserver")
    with _LOCK:
        PRELOAD.update(imports)
        context.set_forkserver_preload(sorted(PRELOAD))
    return context


class _Starter(threading.Thread):
    """Starts the child in a thread, so that Cancel is watched meanwhile.

    The first start in a session waits for the fork server's imports (~1.4 s on 2 loaded
    cores). Afterwards this process' copy of the child's end of the pipe is closed, so
    that the child's death reads as the end of the pipe.
    """

    def __init__(self, process, sender) -> None:
        super().__init__(name="killable-start", daemon=True)
        self.process, self.sender, self.error = process, sender, None

    def run(self) -> None:
        try:
            self.process.start()
        except BaseException as exc:  # noqa: BLE001 - raised again by _wait
            self.error = exc
        finally:
            self.sender.close()


def _wait(starter: _Starter, connection, progress: ProgressCallback | None, cancel: CancelCheck) -> Any:
    """Forward the child's progress until its answer comes; raise on cancel or on its death."""
    process = starter.process
    while True:
        if connection.poll(POLL_S):
            try:
                kind, value = connection.recv()
            except EOFError:  # it ended without answering, or never started
                break
            if kind == "progress":
                report(progress, value)
            elif kind == "error":
                raise value
            else:
                return value
        elif starter.error is not None or (process.exitcode is not None and not connection.poll(0)):
            break
        check_cancel(cancel)
    starter.join()
    if starter.error is not None:
        raise starter.error
    process.join()
    raise RuntimeError(
        f"the child process running the computation ended with exit code {process.exitcode} "
        "without a result (killed, e.g. for lack of memory?)"
    )


def _stop(starter: _Starter) -> None:
    """Once started, terminate the child if it still runs (SIGTERM, then SIGKILL after a second)."""
    starter.join()
    process = starter.process
    if process.pid is None:  # it never started
        return
    if process.exitcode is None:
        process.terminate()
        process.join(1.0)
    if process.exitcode is None:
        process.kill()
    process.join()


def call_killable(
    function: Callable[..., Any],
    args: tuple = (),
    kwargs: dict[str, Any] | None = None,
    *,
    progress: ProgressCallback | None = None,
    cancel: CancelCheck | None = None,
    imports: tuple[str, ...] = (),
    in_child: bool = True,
) -> Any:
    """``function(*args, **kwargs)``, in a child process that is terminated on Cancel.

    Parameters
    ----------
    function : callable
        A module-level function (the child finds it by its module and name).
    args : tuple
        Positional arguments; numpy arrays of :data:`SHARE_BYTES` or more are passed
        through shared memory, everything else is pickled.
    kwargs : dict, optional
        Keyword arguments, passed the same way.
    progress : callable, optional
        When given, ``function`` is also called with ``progress=`` (a callable taking a
        fraction) and its reports are forwarded here.
    cancel : callable, optional
        Checked every :data:`POLL_S` seconds; when it returns True the child is
        terminated and :class:`~napari_medimg.progress.OperationCancelled` is raised.
        Without it the function runs in this process (nothing could stop it anyway).
    imports : tuple of str
        Modules the call needs (e.g. ``"skimage.segmentation._watershed"``): the fork
        server imports them when it starts, so that children start without importing.
    in_child : bool
        False runs the function in this process (for calls too small to be worth a child);
        so does an unsafe main script (:func:`main_is_safe`).

    Returns
    -------
    object
        What ``function`` returned.

    Raises
    ------
    OperationCancelled
        When ``cancel()`` returned True; the child has then been terminated.

    Examples
    --------
    >>> call_killable(max, (3, 4))  # no cancel: an ordinary call
    4
    """
    kwargs = dict(kwargs or {})
    if cancel is None or not in_child or not _in_child_allowed():
        return function(*args, **kwargs, **({} if progress is None else {"progress": progress}))
    check_cancel(cancel)
    blocks: list[shared_memory.SharedMemory] = []
    receiver = starter = None
    try:
        shared_args = tuple(_share(a, blocks) for a in args)
        shared_kwargs = {k: _share(v, blocks) for k, v in kwargs.items()}
        context = _context(imports)
        receiver, sender = context.Pipe(duplex=False)
        child_args = (sender, function, shared_args, shared_kwargs, progress is not None)
        process = context.Process(target=_child, args=child_args, daemon=True)
        starter = _Starter(process, sender)
        starter.start()
        return _wait(starter, receiver, progress, cancel)
    finally:
        if starter is not None and starter.is_alive():  # cancelled while it was starting
            threading.Thread(target=_stop, args=(starter,), name="killable-stop", daemon=True).start()
        elif starter is not None:
            _stop(starter)  # at once when it answered; terminated when cancelled
        if receiver is not None:
            receiver.close()
        for block in blocks:
            block.close()
            block.unlink()
