"""Shared pieces of the ratio benchmarks (``bench_*.py``): the phantom, timing, memory,
SimpleITK conversion, agreement and the result table.

Not a benchmark itself; the scripts import it as ``_common`` (they are run as
``python benchmarks/bench_<name>.py``, which puts this folder on ``sys.path``).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import threading
import time

import numpy as np
from scipy import ndimage

SPACING = (1.0, 0.7, 0.7)  # numpy order (z, y, x), mm


def _phantom_masks(y: int, x: int):
    """In-plane masks of the phantom: body ellipse, both lungs, spine (and the grids)."""
    yy, xx = np.ogrid[-1 : 1 : complex(0, y), -1 : 1 : complex(0, x)]
    body = (yy / 0.75) ** 2 + (xx / 0.9) ** 2 <= 1
    lungs = (((yy + 0.05) / 0.5) ** 2 + ((np.abs(xx) - 0.4) / 0.3) ** 2) <= 1
    spine = ((yy - 0.55) / 0.12) ** 2 + (xx / 0.12) ** 2 <= 1
    return yy, xx, body, lungs, spine


def ct_phantom(shape=(200, 512, 512), seed=0) -> np.ndarray:
    """int16 CT-like volume: air, a body ellipse of soft tissue (~40 HU) with smooth
    texture, two lungs (~-850 HU), a spine (~900 HU), gaussian noise of 20 HU."""
    rng = np.random.default_rng(seed)
    z, y, x = shape
    out = np.full(shape, -1000, np.float32)
    _, _, body, lungs, spine = _phantom_masks(y, x)
    coarse = rng.normal(0, 1, (max(2, z // 8), max(2, y // 16), max(2, x // 16))).astype(np.float32)
    texture = ndimage.zoom(coarse, [s / c for s, c in zip(shape, coarse.shape)], order=1)[:z, :y, :x]
    for k in range(z):
        plane, tex = out[k], texture[k]
        plane[body] = 40 + 15 * tex[body]
        plane[lungs] = -850 + 40 * tex[lungs]
        plane[spine] = 900 + 200 * tex[spine]
    out += rng.normal(0, 20, shape).astype(np.float32)
    return np.clip(out, -1024, 3071).astype(np.int16)


def ct_labels(shape=(200, 512, 512)) -> np.ndarray:
    """uint8 labels on the grid of :func:`ct_phantom`: 1 body, 2 right lung, 3 left lung,
    4 spine, 5 a nodule in the right lung (a sphere of a quarter of the lung's width,
    centred in the middle slice, radius in voxels along every axis)."""
    z, y, x = shape
    yy, xx, body, lungs, spine = _phantom_masks(y, x)
    plane = np.zeros((y, x), np.uint8)
    plane[body] = 1
    plane[lungs & (xx < 0)] = 2
    plane[lungs & (xx >= 0)] = 3
    plane[spine] = 4
    out = np.broadcast_to(plane, shape).copy()
    radius = max(1.0, 0.075 * x)  # voxels
    cz, cy, cx = (z - 1) / 2, (0.475 * (y - 1)), (0.3 * (x - 1))
    zz, yv, xv = np.ogrid[:z, :y, :x]
    out[(zz - cz) ** 2 + (yv - cy) ** 2 + (xv - cx) ** 2 <= radius**2] = 5
    return out


class PeakRSS:
    """Peak resident memory above the starting level during a block (sampled every 2 ms)."""

    def __enter__(self):
        import psutil

        self._process = psutil.Process(os.getpid())
        self.start = self.peak = self._process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self._process.memory_info().rss)
            time.sleep(0.002)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._process.memory_info().rss)

    @property
    def extra_mb(self) -> float:
        return (self.peak - self.start) / 2**20


def timed(function, repeat):
    """Median time of ``repeat`` runs of ``function`` and its last result."""
    times, result = [], None
    for _ in range(repeat):
        result = None
        t0 = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), result


def load_line() -> str:
    """The machine's load average and cores, printed with every table."""
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min) on {len(os.sched_getaffinity(0))} cores"


def in_z_slabs(function, volume: np.ndarray, halo: int, workers: int | None = None) -> np.ndarray:
    """Run a raw library's filter on z-slabs of ``volume`` in threads, as a user with N cores would.

    Each slab is given ``halo`` extra planes on each side (the filter's reach along z) and
    only its own planes are kept, so the result equals one call on the whole volume.
    scipy.ndimage and scikit-image release the GIL in their loops, so this is what a
    user gets from them on ``workers`` cores (default: all this process may use).
    """
    from concurrent.futures import ThreadPoolExecutor

    workers = workers or len(os.sched_getaffinity(0))
    bounds = np.linspace(0, volume.shape[0], workers + 1).astype(int)
    parts = [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]

    def slab(part):
        z0, z1 = part
        lo, hi = max(0, z0 - halo), min(volume.shape[0], z1 + halo)
        return function(volume[lo:hi])[z0 - lo : z0 - lo + (z1 - z0)]

    with ThreadPoolExecutor(len(parts)) as pool:
        return np.concatenate(list(pool.map(slab, parts)))


def sitk_image(array, spacing, pixel=None):
    import SimpleITK as sitk

    image = sitk.GetImageFromArray(array)
    image.SetSpacing([float(s) for s in spacing[::-1]])
    return sitk.Cast(image, pixel) if pixel is not None else image


def sitk_array(image):
    import SimpleITK as sitk

    return sitk.GetArrayFromImage(image)


def compare(ours, ref, exact):
    """Agreement of two outputs.

    ``exact=True``: "identical" or the max difference; ``False``: mean and max absolute
    difference; ``"labels"``: "identical" or the share of voxels whose label differs;
    ``None``: not compared (a timing only, e.g. a library call returning its own image type).
    """
    if exact is None:
        return "timing only"
    if exact == "labels":
        ours, ref = np.asarray(ours), np.asarray(ref)
        if ours.shape != ref.shape:
            return "shape differs"
        differ = np.count_nonzero(ours != ref)
        return "identical" if differ == 0 else f"{differ / ours.size:.3%} of voxels differ"
    ours = np.asarray(ours, np.float64)
    ref = np.asarray(ref, np.float64)
    if ours.shape != ref.shape:
        return "shape differs"
    diff = np.abs(ours - ref)
    if exact:
        return "identical" if diff.max() == 0 else f"DIFFERS max {diff.max():.3g}"
    return f"mean|d| {diff.mean():.2g}, max {diff.max():.2g}"


def base_parser(doc: str) -> argparse.ArgumentParser:
    """``--size X Y Z`` and ``--repeat N``, the options every benchmark has."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--size", nargs=3, type=int, default=[512, 512, 200], metavar=("X", "Y", "Z"))
    parser.add_argument(
        "--repeat", type=int, default=1, help="alternating rounds (ours, then each raw library); the median is kept"
    )
    return parser


class Runner:
    """Times ours against raw libraries, collects rows and prints the table.

    ``bench(name, ours, raws)``: ``raws`` maps a library name to ``(callable, exact)``
    (``exact`` as for :func:`compare`; True/False are and-ed with the row's ``exact``); every raw
    library counts for the fastest. ``extra`` has the same form for timings shown next
    to them (marked ``*``) but left out of the fastest, e.g. a library call without the
    conversions ours has to do. ``note`` is added to the agreement column.
    """

    def __init__(self, repeat: int, data: np.ndarray):
        self.repeat = repeat
        self.data = data
        self.rows = []

    def bench(self, name, ours, raws, *, exact=False, data=None, out_bytes=None, extra=None, note=None):
        data = self.data if data is None else data
        calls = {"ours": ours}
        groups = {}
        for group_name, group in (("raw", raws), ("extra", extra or {})):
            for raw_name, (raw, raw_exact) in group.items():
                calls[raw_name] = raw
                groups[raw_name] = (group_name, raw_exact)
        # alternating rounds (ours, raw 1, raw 2, ours, ...): a slow minute on a shared
        # machine hits every library alike; the median of the rounds is reported
        times = {key: [] for key in calls}
        results = {}
        peak_mb = 0.0
        ours()  # untimed first call: numba loads its compiled kernels, torch and SimpleITK start up
        for _ in range(self.repeat):
            for key, call in calls.items():
                results[key] = None
                with (PeakRSS() if key == "ours" else contextlib.nullcontext()) as mem:
                    t0 = time.perf_counter()
                    results[key] = call()
                    times[key].append(time.perf_counter() - t0)
                if mem is not None:
                    peak_mb = max(peak_mb, mem.extra_mb)
        median = {key: float(np.median(v)) for key, v in times.items()}
        out = results.pop("ours")
        out_bytes = out_bytes if out_bytes is not None else out.nbytes
        raw_times, extra_times, notes = {}, {}, []
        for raw_name, ref in results.items():
            group_name, raw_exact = groups[raw_name]
            (raw_times if group_name == "raw" else extra_times)[raw_name] = median[raw_name]
            mode = raw_exact if raw_exact is None or raw_exact == "labels" else (exact and raw_exact)
            notes.append(f"{raw_name}{'*' if group_name == 'extra' else ''}: {compare(out, ref, mode)}")
        del results
        if note:
            notes.append(note)
        t_ours = median["ours"]
        fastest = min(raw_times, key=raw_times.get)
        ratio = t_ours / raw_times[fastest]
        shown = dict(raw_times)
        shown.update({f"{k}*": v for k, v in extra_times.items()})
        self.rows.append((name, t_ours, shown, fastest, ratio, peak_mb, (data.nbytes + out_bytes) / 2**20, notes))
        print(f"  {name:32s} ours {t_ours:7.2f}s  fastest raw {fastest} {raw_times[fastest]:7.2f}s  ratio {ratio:.2f}", flush=True)
        del out

    def print_table(self):
        print()
        print(f"Medians of {self.repeat} alternating round(s); {load_line()} at the end.")
        print()
        header = f"| operation | ours (s) | raw libraries (s) | fastest | ratio ours/fastest | peak extra RSS (MB) | input+output (MB) | agreement |"
        print(header)
        print("|" + "---|" * 8)
        for name, t_ours, raw_times, fastest, ratio, mem, io_mb, notes in self.rows:
            raws = ", ".join(f"{k} {v:.2f}" for k, v in raw_times.items())
            print(f"| {name} | {t_ours:.2f} | {raws} | {fastest} | {ratio:.2f} | {mem:.0f} | {io_mb:.0f} | {'; '.join(notes)} |")
        if any(k.endswith("*") for row in self.rows for k in row[2]):
            print("\n\\* shown for reference, not counted for the fastest (see the script's docstring).")
