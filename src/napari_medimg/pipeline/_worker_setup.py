"""Set-up of local batch workers (imports dask.distributed: import only when a batch starts)."""

from __future__ import annotations

import signal
import threading

from distributed import WorkerPlugin

__all__ = ["IgnoreCtrlC"]


class IgnoreCtrlC(WorkerPlugin):
    """Let a local worker ignore Ctrl-C: the driver stops the batch and closes its workers itself.

    Without it, Ctrl-C in the terminal reaches every worker of the process group, and each
    prints a traceback. Registered on the client, it also applies to workers restarted later.
    """

    def setup(self, worker) -> None:  # noqa: D102 - WorkerPlugin's hook
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, signal.SIG_IGN)
