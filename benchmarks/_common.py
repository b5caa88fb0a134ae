"""Shared pieces of the ratio benchmarks (``bench_*.py``): the phantom, timing, memory,
SimpleITK conversion, agreement and the result table.

Not a benchmark itself; the scripts import it as ``_common`` (they are run as
``python benchmarks/bench_<name>.py``, which puts this folder on ``sys.path``).
"""

from __future__ import annotations

import argparse
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
    best, result = float("inf"), None
    for _ in range(repeat):
        result = None
        t0 = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - t0)
    return best, result


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
    parser.add_argument("--repeat", type=int, default=1, help="runs per timing; the best is kept")
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
        with PeakRSS() as mem:
            t_ours, out = timed(ours, self.repeat)
        out_bytes = out_bytes if out_bytes is not None else out.nbytes
        raw_times, extra_times = {}, {}
        notes = []
        for group, times in ((raws, raw_times), (extra or {}, extra_times)):
            for raw_name, (raw, raw_exact) in group.items():
                t_raw, ref = timed(raw, self.repeat)
                times[raw_name] = t_raw
                mode = raw_exact if raw_exact is None or raw_exact == "labels" else (exact and raw_exact)
                notes.append(f"{raw_name}{'*' if group is extra else ''}: {compare(out, ref, mode)}")
                del ref
        if note:
            notes.append(note)
        fastest = min(raw_times, key=raw_times.get)
        ratio = t_ours / raw_times[fastest]
        shown = dict(raw_times)
        shown.update({f"{k}*": v for k, v in extra_times.items()})
        self.rows.append((name, t_ours, shown, fastest, ratio, mem.extra_mb, (data.nbytes + out_bytes) / 2**20, notes))
        print(f"  {name:32s} ours {t_ours:7.2f}s  fastest raw {fastest} {raw_times[fastest]:7.2f}s  ratio {ratio:.2f}", flush=True)
        del out

    def print_table(self):
        print()
        header = f"| operation | ours (s) | raw libraries (s) | fastest | ratio ours/fastest | peak extra RSS (MB) | input+output (MB) | agreement |"
        print(header)
        print("|" + "---|" * 8)
        for name, t_ours, raw_times, fastest, ratio, mem, io_mb, notes in self.rows:
            raws = ", ".join(f"{k} {v:.2f}" for k, v in raw_times.items())
            print(f"| {name} | {t_ours:.2f} | {raws} | {fastest} | {ratio:.2f} | {mem:.0f} | {io_mb:.0f} | {'; '.join(notes)} |")
        if any(k.endswith("*") for row in self.rows for k in row[2]):
            print("\n\\* shown for reference, not counted for the fastest (see the script's docstring).")
