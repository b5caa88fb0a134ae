"""Memory and time budgets: say before a run what it would need, not after it ran out.

An operation's cost is estimated from its input's geometry and its parameters
(:class:`Cost`); :func:`enforce` refuses a result that would not fit in the memory
available now (with the figure and what to change) and warns with
:class:`SlowOperationWarning` before a run expected to take minutes.
:meth:`napari_medimg.operations.Operation.estimate_cost` gives the same figures to
widgets, which can show them before the user presses Run.
"""

from __future__ import annotations

import dataclasses
import os
import warnings

__all__ = [
    "Cost",
    "BudgetError",
    "SlowOperationWarning",
    "SLOW_SECONDS",
    "available_memory",
    "set_memory_ceiling",
    "enforce",
    "format_bytes",
]

#: Runs expected to take longer than this (seconds) are announced with a warning.
SLOW_SECONDS = 30.0


class BudgetError(ValueError):
    """The operation's result would not fit in the memory available; nothing was allocated."""


class SlowOperationWarning(UserWarning):
    """The operation is expected to take minutes with these parameters."""


@dataclasses.dataclass(frozen=True)
class Cost:
    """What a run would need.

    Attributes
    ----------
    memory_bytes : int
        Memory the run allocates beyond its input (result and large temporaries).
    seconds : float or None
        Rough run time on one present-day core; None when not estimated.
    detail : str
        What the figures come from, e.g. ``"output 8200 x 8200 x 4900 voxels"``.
    advice : str
        What to change to make it smaller or faster.
    """

    memory_bytes: int
    seconds: float | None = None
    detail: str = ""
    advice: str = ""


def _meminfo_available() -> int | None:
    """MemAvailable of /proc/meminfo in bytes (Linux), else free pages from sysconf."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _address_space_left() -> int | None:
    """Room left under this process's RLIMIT_AS (None when unlimited or unknown)."""
    try:
        import resource

        soft, _hard = resource.getrlimit(resource.RLIMIT_AS)
    except (ImportError, ValueError, OSError):
        return None
    if soft == resource.RLIM_INFINITY:
        return None
    used = 0
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("VmSize:"):
                    used = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        pass
    return max(soft - used, 0)


_CEILING: int | None = None


def set_memory_ceiling(limit_bytes: int | None) -> None:
    """Bound the memory this process may use (a batch worker's share); None lifts the bound.

    Every budget check (readers, operations) then counts only what is left under the ceiling,
    so a case that would not fit is refused with its figure instead of the worker being killed.
    """
    global _CEILING
    _CEILING = None if limit_bytes is None else int(limit_bytes)


def _resident_bytes() -> int | None:
    """This process's resident memory (Linux /proc), or None."""
    try:
        with open("/proc/self/statm", encoding="ascii") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError, AttributeError):
        return None


def _ceiling_left() -> int | None:
    """Room left under :func:`set_memory_ceiling`'s bound (None without one)."""
    if _CEILING is None:
        return None
    return max(_CEILING - (_resident_bytes() or 0), 0)


def available_memory() -> int | None:
    """Bytes this process can still allocate: the least of free RAM, its RLIMIT_AS room and its ceiling.

    Returns
    -------
    int or None
        None when neither can be found out (then no budget is enforced).
    """
    candidates = [v for v in (_meminfo_available(), _address_space_left(), _ceiling_left()) if v is not None]
    return min(candidates) if candidates else None


def format_bytes(count: float) -> str:
    """``count`` bytes as a short text in MiB or GiB."""
    if count >= 1 << 30:
        return f"{count / (1 << 30):.1f} GiB"
    return f"{count / (1 << 20):.0f} MiB"


def enforce(name: str, cost: Cost, *, available: int | None = None) -> None:
    """Refuse a run that would not fit in memory; warn before one that would take minutes.

    Parameters
    ----------
    name : str
        The operation, for messages.
    cost : Cost
        Its estimate.
    available : int, optional
        Bytes available (default: :func:`available_memory`).

    Raises
    ------
    BudgetError
        When ``cost.memory_bytes`` exceeds the memory available; the message gives both
        figures and ``cost.advice``.

    Warns
    -----
    SlowOperationWarning
        When ``cost.seconds`` exceeds :data:`SLOW_SECONDS`.
    """
    available = available_memory() if available is None else available
    if available is not None and cost.memory_bytes > available:
        detail = f" ({cost.detail})" if cost.detail else ""
        advice = f": {cost.advice}" if cost.advice else ""
        raise BudgetError(
            f"{name} would need {format_bytes(cost.memory_bytes)}{detail} but only "
            f"{format_bytes(available)} of memory is available{advice}"
        )
    if cost.seconds is not None and cost.seconds > SLOW_SECONDS:
        minutes = cost.seconds / 60.0
        when = f"about {minutes:.0f} minutes" if minutes >= 1.5 else f"about {cost.seconds:.0f} seconds"
        detail = f" ({cost.detail})" if cost.detail else ""
        advice = f"; {cost.advice}" if cost.advice else ""
        warnings.warn(
            f"{name} is expected to take {when}{detail}{advice}", SlowOperationWarning, stacklevel=3
        )
