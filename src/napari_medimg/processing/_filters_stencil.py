"""Cache-blocked neighbourhood filters built from shifted views (private helpers).

A neighbourhood filter on a 3D array is computed block by block: a block of a few
planes and rows (all columns) is copied, with an edge-replicated halo and already
converted to the working dtype, into a small buffer that stays in the CPU cache; the
filter is then a short sequence of numpy ufunc calls on shifted views of that buffer
(``np.minimum``, ``np.add``, ``np.exp`` ...) written straight into the output. Blocks run
in a thread pool (numpy releases the GIL inside ufunc loops).

Border handling everywhere is edge replication, i.e. scipy.ndimage ``mode="nearest"``
and ITK's ``ZeroFluxNeumannBoundaryCondition``.

The median uses a selection network: Batcher's odd-even merge sort for the footprint
size, pruned backwards to the comparators that influence the middle output, compiled
once per footprint size into ``np.minimum`` / ``np.maximum`` calls on scratch rows.
"""

from __future__ import annotations

import functools
from typing import Callable, Sequence

import numpy as np

from ..progress import CancelCheck, ProgressCallback, check_cancel, default_workers, report, run_in_threads

__all__ = ["run_blocks", "median_program", "offsets_for", "shifted_views", "apply_program"]

# ----------------------------------------------------------------------------- blocks


def _pad_into(
    buf: np.ndarray, array: np.ndarray, z0: int, z1: int, y0: int, y1: int, r: Sequence[int], mode: str = "nearest"
) -> np.ndarray:
    """Copy ``array[z0-rz:z1+rz, y0-ry:y1+ry, -rx:X+rx]`` with padding into ``buf``.

    ``mode`` is "nearest" (edge replication) or "mirror" (numpy's ``reflect``: the edge
    voxel is not repeated), as scipy.ndimage names them.
    """
    rz, ry, rx = r
    Z, Y, X = array.shape
    pz, py = (z1 - z0) + 2 * rz, (y1 - y0) + 2 * ry
    out = buf[: pz * py * (X + 2 * rx)].reshape(pz, py, X + 2 * rx)
    if mode == "mirror":
        def index(start: int, stop: int, n: int) -> np.ndarray:
            i = np.arange(start, stop)
            if n == 1:
                return np.zeros_like(i)
            period = 2 * (n - 1)
            i = np.abs(i) % period
            return np.where(i >= n, period - i, i)

        zi, yi = index(z0 - rz, z1 + rz, Z), index(y0 - ry, y1 + ry, Y)
        if z0 - rz >= 0 and z1 + rz <= Z and y0 - ry >= 0 and y1 + ry <= Y:
            rows = array[z0 - rz : z1 + rz, y0 - ry : y1 + ry]
        else:
            rows = array[zi[:, None], yi[None, :]]
        out[..., rx : rx + X] = rows
        if rx:
            xi = index(-rx, 0, X)
            out[..., :rx] = rows[..., xi]
            xi = index(X, X + rx, X)
            out[..., rx + X :] = rows[..., xi]
        return out
    zlo, zhi = max(z0 - rz, 0), min(z1 + rz, Z)
    ylo, yhi = max(y0 - ry, 0), min(y1 + ry, Y)
    dz, dy = zlo - (z0 - rz), ylo - (y0 - ry)
    nz, ny = zhi - zlo, yhi - ylo
    core = out[dz : dz + nz, dy : dy + ny]
    core[..., rx : rx + X] = array[zlo:zhi, ylo:yhi]
    if rx:
        core[..., :rx] = core[..., rx : rx + 1]
        core[..., rx + X :] = core[..., rx + X - 1 : rx + X]
    if dy:
        out[dz : dz + nz, :dy] = out[dz : dz + nz, dy : dy + 1]
    if dy + ny < py:
        out[dz : dz + nz, dy + ny :] = out[dz : dz + nz, dy + ny - 1 : dy + ny]
    if dz:
        out[:dz] = out[dz : dz + 1]
    if dz + nz < pz:
        out[dz + nz :] = out[dz + nz - 1 : dz + nz]
    return out


#: Most tasks (groups of planes) run_blocks splits a volume into.
_MAX_TASKS = 256


def run_blocks(
    kernel: Callable[[np.ndarray, np.ndarray], None],
    array: np.ndarray,
    radius: Sequence[int],
    *,
    work_dtype: np.dtype,
    out_dtype: np.dtype,
    block_elements: int = 32768,
    planes: int = 1,
    mode: str = "nearest",
    workers: int | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelCheck | None = None,
) -> np.ndarray:
    """Run ``kernel(padded_block, out_block)`` over a 3D array in cache-sized blocks.

    Parameters
    ----------
    kernel : callable
        Writes the filtered block into ``out_block`` (shape ``(bz, by, X)``) given the
        block padded by ``radius`` on every side (shape ``(bz+2rz, by+2ry, X+2rx)``).
    array : numpy.ndarray
        3D input.
    radius : sequence of int
        Halo per axis.
    work_dtype, out_dtype : numpy.dtype
        dtype of the padded block (the input is converted while copying) and of the output.
    block_elements : int
        Target number of output elements per block.
    planes : int
        Planes per block (more planes amortise a halo along z for separable filters).
    mode : str
        Padding: "nearest" (edge replication) or "mirror".
    workers : int, optional
        Threads (default: the cores available).
    progress, cancel : callable, optional
        Progress is reported in order, monotonically, up to 1.0; cancel is checked
        before each block (one plane group per progress step).
    """
    Z, Y, X = array.shape
    rz, ry, rx = (int(v) for v in radius)
    out = np.empty(array.shape, out_dtype)
    bz = max(1, min(Z, planes))
    by = int(max(1, min(Y, block_elements // max(1, bz * X))))
    workers = workers or default_workers()
    z_starts = list(range(0, Z, bz))
    # one task per group of planes: progress after each group, and up to _MAX_TASKS
    # groups so that a slow kernel (a big median, non-local means) still reports often
    n_tasks = max(1, min(len(z_starts), _MAX_TASKS))
    groups = [g for g in np.array_split(np.arange(len(z_starts)), n_tasks) if len(g)]
    buf_len = (bz + 2 * rz) * (by + 2 * ry) * (X + 2 * rx)

    def task(group: np.ndarray) -> None:
        check_cancel(cancel)
        buf = np.empty(buf_len, work_dtype)
        for gi in group:
            z0 = z_starts[gi]
            z1 = min(Z, z0 + bz)
            for y0 in range(0, Y, by):
                check_cancel(cancel)  # each block: Cancel within one block of a slow kernel
                y1 = min(Y, y0 + by)
                padded = _pad_into(buf, array, z0, z1, y0, y1, (rz, ry, rx), mode)
                kernel(padded, out[z0:z1, y0:y1])

    if workers == 1 or len(groups) == 1:
        for i, group in enumerate(groups):
            task(group)
            report(progress, (i + 1) / len(groups))
        return out
    run_in_threads(task, groups, workers=workers, progress=progress)
    return out


def offsets_for(footprint: np.ndarray) -> list[tuple[int, int, int]]:
    """Offsets (dz, dy, dx) relative to the centre of a boolean footprint.

    A 1D or 2D footprint covers the last axes (leading axes of size 1); of a footprint
    with more than three axes the last three are used.
    """
    if footprint.ndim < 3:
        footprint = footprint.reshape((1,) * (3 - footprint.ndim) + footprint.shape)
    else:
        footprint = footprint.reshape(footprint.shape[-3:])
    centre = np.array(footprint.shape) // 2
    return [tuple(int(v) for v in idx - centre) for idx in np.argwhere(footprint)]


def shifted_views(padded: np.ndarray, out_shape: Sequence[int], radius: Sequence[int], offsets) -> list[np.ndarray]:
    """Views of ``padded`` aligned with the output block, one per offset."""
    bz, by, bx = out_shape
    rz, ry, rx = radius
    return [
        padded[rz + dz : rz + dz + bz, ry + dy : ry + dy + by, rx + dx : rx + dx + bx] for dz, dy, dx in offsets
    ]


# -------------------------------------------------------------------- selection networks


def _batcher(n: int) -> list[tuple[int, int]]:
    """Batcher's odd-even merge sort comparators for ``n`` inputs (padding dropped)."""
    size = 1
    while size < n:
        size *= 2
    comparators = []
    p = 1
    while p < size:
        k = p
        while k >= 1:
            for j in range(k % p, size - k, 2 * k):
                for i in range(min(k, size - j - k)):
                    if (i + j) // (2 * p) == (i + j + k) // (2 * p):
                        comparators.append((i + j, i + j + k))
            k //= 2
        p *= 2
    # inputs >= n are +infinity: comparators touching them never swap
    return [(a, b) for a, b in comparators if b < n]


@functools.lru_cache(maxsize=64)
def median_program(n: int) -> tuple[tuple[tuple[str, int, int, int], ...], int, int]:
    """Compile a median-of-``n`` selection network (``n`` odd) into register operations.

    Returns
    -------
    program : tuple of (op, src1, src2, dst)
        ``op`` is "min" or "max"; registers ``0..n-1`` are the (read-only) inputs,
        ``n..`` scratch rows.
    n_scratch : int
        Scratch registers needed.
    result : int
        Register holding the median at the end.
    """
    if n == 1:
        return (), 0, 0
    middle = n // 2
    needed = {middle}
    pruned = []
    for a, b in reversed(_batcher(n)):
        need_a, need_b = a in needed, b in needed
        if need_a or need_b:
            pruned.append((a, b, need_a, need_b))
            needed.update((a, b))
    pruned.reverse()
    # register allocation: wire -> register; inputs start in registers 0..n-1 (read-only)
    where = list(range(n))
    free: list[int] = []
    next_scratch = n
    program = []

    def scratch() -> int:
        nonlocal next_scratch
        if free:
            return free.pop()
        next_scratch += 1
        return next_scratch - 1

    def release(register: int) -> None:
        if register >= n:
            free.append(register)

    for a, b, need_a, need_b in pruned:
        ra, rb = where[a], where[b]
        if need_a and need_b:
            lo = scratch()
            program.append(("min", ra, rb, lo))
            hi = rb if rb >= n else scratch()
            program.append(("max", ra, rb, hi))
            release(ra)
            where[a], where[b] = lo, hi
        elif need_a:
            dst = ra if ra >= n else (rb if rb >= n else scratch())
            program.append(("min", ra, rb, dst))
            if rb >= n and rb != dst:
                release(rb)
            if ra >= n and ra != dst:
                release(ra)
            where[a] = dst
            where[b] = -1
        else:
            dst = rb if rb >= n else (ra if ra >= n else scratch())
            program.append(("max", ra, rb, dst))
            if ra >= n and ra != dst:
                release(ra)
            if rb >= n and rb != dst:
                release(rb)
            where[b] = dst
            where[a] = -1
    return tuple(program), next_scratch - n, where[middle]


def apply_program(program, n_scratch: int, result: int, inputs: list[np.ndarray], out: np.ndarray, scratch: np.ndarray) -> None:
    """Run a compiled median program on ``inputs`` (views) writing into ``out``."""
    n = len(inputs)
    if not program:
        out[...] = inputs[0]
        return
    registers = list(inputs) + [scratch[i] for i in range(n_scratch)]
    registers[result] = out if result >= n else registers[result]
    # the last write to the result register goes straight into ``out``
    minimum, maximum = np.minimum, np.maximum
    for op, s1, s2, dst in program:
        (minimum if op == "min" else maximum)(registers[s1], registers[s2], out=registers[dst])
    if result < n:  # pragma: no cover - only for n == 1
        out[...] = inputs[result]
