"""Interactive segmentation speed: what a user painting or clicking waits for.

Run ``python benchmarks/bench_interactive.py [--quick] [--part preview|grow|march]``.

(a) **Scribble preview after a stroke** (the pixel classifier's live preview), median
    of 20 simulated strokes (lines 5 px wide, 30-80 px long, inside the expert
    tumour / healthy tissue of the slice, classes alternating, on three slices) on a
    BraTS FLAIR (240 x 240 x 155, 1 mm) and on a 512 x 512 x 300 CT-like phantom
    (1 x 0.7 x 0.7 mm). After each stroke:

    * *now*: what the widget does: the preview forest
      (:data:`PixelClassifier.PREVIEW`) trained with the :class:`SliceFeatureCache`
      and :meth:`PixelClassifier.predict_slice` from the cache. The slice in view is
      prefetched when the user arrives on it (the widget does this in the
      background while the user looks and paints); the first stroke of a slice is
      reported apart.
    * *before*: the previous widget path: a 100-tree forest fitted from scratch
      (features of every painted slice recomputed) and the slice classified from
      scratch, plus the 0.3 s pause the widget waited before starting.

(b) **Region growing**: :func:`connected_threshold` (defaults: holes filled, the seed's
    component) against SimpleITK's ``ConnectedThreshold`` with the same seed and range on
    a 512 x 512 x 200 CT phantom, the lung1 CT and a BraTS FLAIR; alternating runs,
    medians; the ratio ours / SimpleITK.
(c) **Fast marching** to 10, 50 and 500 mL from a lung seed on a 512 x 512 x 300 CT
    phantom: in the box around the seed (now) and over the whole image (before).

Not run by the tests. Prints Markdown tables with the machine's load.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ct_labels, ct_phantom, load_line  # noqa: E402  (shared benchmark helpers, same folder)

from napari_medimg import read  # noqa: E402
from napari_medimg.analysis.pixel_classifier import PixelClassifier, SliceFeatureCache  # noqa: E402
from napari_medimg.volume import Volume  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
BRATS = DATA / "mr" / "brats_tumour" / "brats_2013_pat0001_1"
OLD_WIDGET_PAUSE_S = 0.3


def brats_flair() -> tuple[Volume, np.ndarray]:
    """BraTS case 1 FLAIR and its whole-tumour mask."""
    flair = read(BRATS / "Flair_subtrMeanDivStd.nii.gz")
    tumour = read(BRATS / "OTMultiClass.nii.gz").array > 0
    return flair, tumour


def ct_volume(slices: int) -> tuple[Volume, np.ndarray]:
    """The CT phantom and its lungs (the object painted)."""
    shape = (slices, 512, 512)
    array = ct_phantom(shape)
    lungs = np.isin(ct_labels(shape), (2, 3))
    return Volume(array, (1.0, 0.7, 0.7), (0.0, 0.0, 0.0), np.eye(3)), lungs


def strokes(obj: np.ndarray, inside: np.ndarray, slices: list[int], n: int, seed: int = 0) -> list[tuple[int, int, np.ndarray]]:
    """``n`` strokes ``(z, class, (k, 2) pixel indices)``: 5-px-wide lines inside the object
    (class 1) or the rest of ``inside`` (class 2), alternating, slices in turn."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        z = slices[(i // 2) % len(slices)] if i < 2 * len(slices) else slices[rng.integers(len(slices))]
        label = 1 + i % 2
        region = obj[z] if label == 1 else (inside[z] & ~ndimage.binary_dilation(obj[z], iterations=5))
        region = ndimage.binary_erosion(region, iterations=2)
        points = np.argwhere(region)
        start = points[rng.integers(len(points))]
        angle = rng.uniform(0, np.pi)
        length = rng.uniform(30, 80)
        t = np.linspace(0, length, int(length) * 2)
        line = np.round(start + np.outer(t, [np.sin(angle), np.cos(angle)])).astype(int)
        line = line[(line >= 0).all(1) & (line < region.shape).all(1)]
        line = line[region[line[:, 0], line[:, 1]]]
        mask = np.zeros(region.shape, bool)
        mask[line[:, 0], line[:, 1]] = True
        mask = ndimage.binary_dilation(mask, iterations=2) & region  # 5 px wide
        out.append((z, label, np.argwhere(mask)))
    return out


def bench_preview(name: str, volume: Volume, obj: np.ndarray, inside: np.ndarray, n: int, old: bool) -> list[list]:
    """Median preview latency after each of ``n`` strokes, now and before."""
    zs = np.flatnonzero(obj.reshape(obj.shape[0], -1).sum(1))
    middle = int(zs[np.argmax(obj[zs].reshape(len(zs), -1).sum(1))])
    slices = [middle, max(int(zs[0]), middle - 10), min(int(zs[-1]), middle + 10)]
    plan = strokes(obj, inside, slices, n)
    scribbles = np.zeros(volume.array.shape, np.uint8)
    cache = SliceFeatureCache()
    PixelClassifier(n_estimators=2).fit(volume, _two_dots(volume.array.shape, slices[0]))  # imports, thread pools
    seen: set[int] = set()
    now, first, before = [], [], []
    for z, label, pixels in plan:
        scribbles[z][pixels[:, 0], pixels[:, 1]] = label
        arrived = z not in seen
        if arrived:  # the user arrived on the slice: the widget prefetches while they paint
            PixelClassifier(**PixelClassifier.PREVIEW).prefetch(volume, z, cache)
            seen.add(z)
        if len(np.unique(scribbles[scribbles > 0])) < 2:
            continue
        t0 = time.perf_counter()
        clf = PixelClassifier(**PixelClassifier.PREVIEW).fit(volume, scribbles, cache=cache)
        clf.predict_slice(volume, z, cache=cache)
        (first if arrived else now).append(time.perf_counter() - t0)
        if old and len(before) < 5:
            t0 = time.perf_counter()
            PixelClassifier().fit(volume, scribbles).predict_slice(volume, z)
            before.append(time.perf_counter() - t0 + OLD_WIDGET_PAUSE_S)
    everything = now + first
    rows = [[
        name,
        f"{statistics.median(everything):.3f}",
        f"{max(everything):.3f}",
        f"{statistics.median(first):.3f}" if first else "-",
        f"{statistics.median(before):.2f}" if before else "-",
        f"{len(everything)} strokes, {int((scribbles > 0).sum())} painted voxels",
    ]]
    return rows


def grow_cases(quick: bool) -> list[tuple[str, np.ndarray, tuple, tuple[int, ...], float, float]]:
    """``(name, array, spacing, seed, lower, upper)``: a lung in the phantom and in lung1, the
    whole tumour on a BraTS FLAIR (range: the seed's 3 mm neighbourhood, mean +- 2 SD)."""
    from napari_medimg.processing.region_growing import seed_statistics

    cases = []
    shape = (200, 128, 128) if quick else (200, 512, 512)
    phantom = ct_phantom(shape)
    cases.append((f"CT phantom {shape[2]}x{shape[1]}x{shape[0]}, lung", phantom, (1.0, 0.7, 0.7), (shape[0] // 2, int(shape[1] * 0.48), int(shape[2] * 0.3)), -1000.0, -500.0))
    lung1 = read(DATA / "ct" / "pyradiomics_lung1" / "lung1_image.nrrd")
    middle = lung1.array.shape[0] // 2
    lung = np.argwhere(lung1.array[middle] < -800)
    seed = (middle, *lung[len(lung) // 2])
    cases.append(("lung1 CT 512x512x48, lung", lung1.array, tuple(lung1.spacing), tuple(int(v) for v in seed), -1024.0, -400.0))
    flair, tumour = brats_flair()
    from scipy import ndimage

    depth = ndimage.distance_transform_edt(tumour)
    seed = tuple(int(v) for v in np.unravel_index(np.argmax(depth), depth.shape))
    mean, std = seed_statistics(flair.array, [seed], radius=3.0, spacing=flair.spacing)
    cases.append(("BraTS FLAIR 240x240x155, tumour", flair.array, tuple(flair.spacing), seed, mean - 2 * std, mean + 2 * std))
    return cases


def bench_grow(quick: bool, repeat: int) -> list[list]:
    """Ours (defaults: holes filled) against SimpleITK ConnectedThreshold, same seed and range."""
    import SimpleITK as sitk

    from napari_medimg.processing.region_growing import connected_threshold

    rows = []
    for name, array, spacing, seed, lower, upper in grow_cases(quick):
        if np.issubdtype(array.dtype, np.integer):
            lower, upper = float(np.ceil(lower)), float(np.floor(upper))

        def ours():
            return connected_threshold(array, [seed], lower=lower, upper=upper, spacing=spacing)

        def raw():
            image = sitk.GetImageFromArray(array)
            image.SetSpacing(spacing[::-1])
            grown = sitk.ConnectedThreshold(image, seedList=[seed[::-1]], lower=lower, upper=upper, replaceValue=1)
            return sitk.GetArrayFromImage(grown)

        times: dict[str, list[float]] = {"ours": [], "raw": []}
        results = {}
        for _ in range(repeat):  # alternating runs
            for key, function in (("ours", ours), ("raw", raw)):
                t0 = time.perf_counter()
                results[key] = function()
                times[key].append(time.perf_counter() - t0)
        t_ours, t_raw = statistics.median(times["ours"]), statistics.median(times["raw"])
        tracemalloc.start()  # untimed run: numpy's allocations at the peak (RSS misses heap reuse)
        ours()
        peak_mb = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        grown, filled = results["raw"] != 0, results["ours"] != 0
        rows.append([
            name, f"[{lower:.4g}, {upper:.4g}]", f"{t_ours:.3f}", f"{t_raw:.3f}", f"{t_ours / t_raw:.2f}",
            f"{peak_mb:.0f} / {array.nbytes / 2**20:.0f} / {array.size / 2**20:.0f}",
            f"{int(grown.sum())} voxels grown, {int(filled.sum() - grown.sum())} filled as holes; ours contains SimpleITK's: {bool(np.all(filled[grown]))}",
        ])
    return rows


def bench_fast_marching(quick: bool) -> list[list]:
    """Fast marching to a volume from a lung seed on the CT phantom: in the box around the
    seed (now) and over the whole image (before, the box forced to the image)."""
    from napari_medimg.processing import region_growing

    shape = (100 if quick else 300, 512, 512)
    array = ct_phantom(shape).astype(np.float32)
    seed = (shape[0] // 2, int(shape[1] * 0.48), int(shape[2] * 0.3))
    whole = lambda index, reach, spacing, size: tuple(slice(0, n) for n in size)  # noqa: E731
    boxed = region_growing._box_of_seeds
    rows = []
    for volume_ml in (10.0, 50.0, 500.0):
        times = {}
        for label, box in (("now", boxed), ("before", whole)):
            region_growing._box_of_seeds = box
            t0 = time.perf_counter()
            region_growing.fast_marching(array, [seed], volume_ml=volume_ml, spacing=(1.0, 0.7, 0.7))
            times[label] = time.perf_counter() - t0
        region_growing._box_of_seeds = boxed
        rows.append([f"CT phantom 512x512x{shape[0]}, lung seed, {volume_ml:g} mL", f"{times['now']:.2f}", f"{times['before']:.2f}"])
    return rows


def _two_dots(shape, z) -> np.ndarray:
    marks = np.zeros(shape, np.uint8)
    marks[z, 0, 0], marks[z, -1, -1] = 1, 2
    return marks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a 100-slice CT and 10 strokes")
    parser.add_argument("--part", choices=("preview", "grow", "march", "all"), default="all")
    parser.add_argument("--no-before", action="store_true", help="skip timing the previous path")
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores\n")
    n = 10 if args.quick else 20
    if args.part in ("preview", "all"):
        print("| image | median after a stroke (s) | slowest (s) | median of first strokes on a slice (s) | before (s) | strokes |")
        print("|---|---|---|---|---|---|")
        flair, tumour = brats_flair()
        rows = bench_preview("BraTS FLAIR 240x240x155", flair, tumour, flair.array > flair.array.min(), n, not args.no_before)
        for row in rows:
            print("| " + " | ".join(row) + " |", flush=True)
        ct, lungs = ct_volume(100 if args.quick else 300)
        rows = bench_preview(f"CT phantom 512x512x{ct.array.shape[0]}", ct, lungs, ct.array > -500, n, not args.no_before)
        for row in rows:
            print("| " + " | ".join(row) + " |", flush=True)
    if args.part in ("grow", "all"):
        print(f"\n{load_line()}")
        print("\n| region growing | range | ours (s) | SimpleITK (s) | ours / SimpleITK | ours' peak numpy memory / input / uint8 output (MB) | notes |")
        print("|---|---|---|---|---|---|---|")
        for row in bench_grow(args.quick, 3 if args.quick else 15):
            print("| " + " | ".join(row) + " |", flush=True)
    if args.part in ("march", "all"):
        print("\n| fast marching to a volume | now: box around the seeds (s) | before: whole image (s) |")
        print("|---|---|---|")
        for row in bench_fast_marching(args.quick):
            print("| " + " | ".join(row) + " |", flush=True)
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
