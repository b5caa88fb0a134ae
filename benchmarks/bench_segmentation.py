"""Time napari-medimg's segmentation tools against the raw libraries doing the same thing.

Run ``python benchmarks/bench_segmentation.py [--quick] [--skip-baseline-pixel]``.

(a) **Pixel classifier prediction** on a 512 x 512 x 100 CT (pyradiomics lung1,
    512 x 512 x 48 at 0.57 x 0.57 x 5 mm, mirrored along z to 100 slices; ``--synthetic``
    uses the CT-like phantom of ``_common.py`` at 1 x 0.7 x 0.7 mm instead, where
    all three scales are 3D). Ours: :meth:`PixelClassifier.predict_proba` (slab by slab,
    float32, features in mm). Baseline: the same feature families computed naively on
    the whole volume with scipy.ndimage / scikit-image (``gaussian_filter``,
    ``gaussian_gradient_magnitude``, ``gaussian_laplace``, ``hessian_matrix`` +
    ``hessian_matrix_eigvals``, ``structure_tensor`` + ``structure_tensor_eigenvalues``
    on the smoothed image), stacked into one ``(n_voxels, n_features)`` float32 table,
    and ``RandomForestClassifier.predict_proba`` of a forest with the same settings,
    trained on the same scribbles. Time and peak extra resident memory of each.
(b) **Region growing** on a 512 x 512 x 200 CT-like phantom:
    :func:`napari_medimg.processing.region_growing.connected_threshold` with fixed
    bounds vs SimpleITK's ``ConnectedThreshold`` called directly with the same bounds
    and seed (ours also fills holes and keeps the seed-connected part by default; the
    ``fill_holes=False`` row is the like-for-like one and must be identical).

Not run by the tests (minutes, gigabytes). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import PeakRSS, ct_phantom  # noqa: E402  (shared benchmark helpers, same folder)

from napari_medimg import read  # noqa: E402
from napari_medimg.analysis.pixel_classifier import PixelClassifier  # noqa: E402
from napari_medimg.analysis.pixel_features import MIN_SIGMA_VOXELS  # noqa: E402
from napari_medimg.processing.region_growing import connected_threshold  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SCALES = (1.0, 2.0, 4.0)


def lung1_100(n_slices: int = 100) -> tuple[np.ndarray, tuple[float, float, float]]:
    """lung1 CT (int16 HU) mirrored along z to ``n_slices`` slices."""
    volume = read(DATA / "ct/pyradiomics_lung1/lung1_image.nrrd")
    array = volume.array
    index = np.arange(n_slices) % (2 * array.shape[0])
    index = np.where(index < array.shape[0], index, 2 * array.shape[0] - 1 - index)
    return np.ascontiguousarray(array[index]), tuple(volume.spacing)  # type: ignore[return-value]


def ct_scribbles(ct: np.ndarray, slices: tuple[int, ...]) -> np.ndarray:
    """Three classes on a few slices, as sparse dotted strokes: 1 lung, 2 soft tissue, 3 air/other."""
    out = np.zeros(ct.shape, np.uint8)
    for z in slices:
        plane = ct[z]
        body = ndimage.binary_fill_holes(ndimage.binary_opening(plane > -500, iterations=2))
        lung = ndimage.binary_erosion((plane < -500) & body, iterations=4)
        soft = ndimage.binary_erosion((plane > -100) & (plane < 150) & body, iterations=4)
        air = ndimage.binary_erosion(~body, iterations=4)
        grid = np.zeros(plane.shape, bool)
        grid[::12, :] = True  # horizontal strokes every 12 rows
        out[z][lung & grid] = 1
        out[z][soft & grid] = 2
        out[z][air & grid & (np.arange(plane.shape[1]) % 3 == 0)] = 3
    return out


def baseline_features(volume: np.ndarray, spacing) -> np.ndarray:
    """The same feature families with scipy / scikit-image on the whole volume (naive)."""
    from skimage.feature import hessian_matrix, hessian_matrix_eigvals, structure_tensor, structure_tensor_eigenvalues

    image = volume.astype(np.float32)
    columns = [image]
    for sigma in SCALES:
        sv = [sigma / s if sigma / s >= MIN_SIGMA_VOXELS else 0.0 for s in spacing]
        smooth = ndimage.gaussian_filter(image, sv, mode="nearest")
        columns.append(smooth)
        columns.append(ndimage.gaussian_gradient_magnitude(image, sv, mode="nearest"))
        columns.append(ndimage.gaussian_laplace(image, sv, mode="nearest"))
        columns += list(hessian_matrix_eigvals(hessian_matrix(image, sigma=sv, mode="nearest", use_gaussian_derivatives=False)))
        rho = [v / 2 for v in sv]
        columns += list(structure_tensor_eigenvalues(structure_tensor(smooth, sigma=rho, mode="nearest")))
    table = np.empty((image.size, len(columns)), np.float32)
    for i, column in enumerate(columns):
        table[:, i] = column.ravel()
    return table


def fmt_row(cells) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def bench_pixel_classifier(args) -> list[list]:
    from sklearn.ensemble import RandomForestClassifier

    if args.synthetic:
        ct = ct_phantom((args.slices, 512, 512))
        spacing = (1.0, 0.7, 0.7)
        name = f"CT phantom 512x512x{args.slices} @1x0.7x0.7mm"
    else:
        ct, spacing = lung1_100(args.slices)
        name = f"lung1 CT 512x512x{args.slices} @5x0.57x0.57mm"
    if args.quick:
        ct = np.ascontiguousarray(ct[:, ::4, ::4])
        spacing = (spacing[0], spacing[1] * 4, spacing[2] * 4)
        name += " (quick: 1/4 in-plane)"
    slices = (ct.shape[0] // 4, ct.shape[0] // 2, 3 * ct.shape[0] // 4)
    scribbles = ct_scribbles(ct, slices)
    rows = []
    clf = PixelClassifier()
    t0 = time.perf_counter()
    clf.fit(ct, scribbles, spacing=spacing)
    t_fit = time.perf_counter() - t0
    t0 = time.perf_counter()
    clf.predict_slice(ct, ct.shape[0] // 2, spacing=spacing)
    t_slice = time.perf_counter() - t0
    with PeakRSS() as mem:
        t0 = time.perf_counter()
        proba = clf.predict_proba(ct, spacing=spacing)
        t_ours = time.perf_counter() - t0
    ours_labels = np.argmax(proba, axis=0)
    out_mb = proba.nbytes / 2**20
    del proba
    rows.append([f"pixel classifier predict_proba, {name}", f"{t_ours:.1f}", f"{mem.extra_mb:.0f}", f"fit {t_fit:.1f} s, predict_slice {t_slice:.2f} s, output {out_mb:.0f} MB"])
    if args.skip_baseline_pixel:
        return rows
    # baseline: naive features on the whole volume + sklearn predict_proba
    where = np.flatnonzero(scribbles.ravel())
    with PeakRSS() as mem_b:
        t0 = time.perf_counter()
        table = baseline_features(ct, spacing)
        t_feat = time.perf_counter() - t0
        forest = RandomForestClassifier(
            n_estimators=100, max_depth=12, class_weight="balanced", n_jobs=-1, random_state=0
        ).fit(table[where], scribbles.ravel()[where])
        t1 = time.perf_counter()
        base = forest.predict_proba(table)
        t_pred = time.perf_counter() - t1
    t_base = t_feat + t_pred
    agree = float((np.argmax(base, axis=1).reshape(ct.shape) == ours_labels).mean())
    del table, base
    rows.append([
        "baseline: scipy/skimage features on the whole volume + RandomForestClassifier.predict_proba",
        f"{t_base:.1f}",
        f"{mem_b.extra_mb:.0f}",
        f"features {t_feat:.1f} s + forest {t_pred:.1f} s (training excluded); labels agree with ours on {100 * agree:.1f} % of voxels",
    ])
    rows.append(["ratio ours / baseline", f"{t_ours / t_base:.2f}", f"{mem.extra_mb / max(1.0, mem_b.extra_mb):.2f}", ""])
    return rows


def bench_region_growing(args) -> list[list]:
    import SimpleITK as sitk

    shape = (args.grow_slices, 512, 512) if not args.quick else (args.grow_slices, 128, 128)
    ct = ct_phantom(shape)
    spacing = (1.0, 0.7, 0.7)
    seed = (shape[0] // 2, int(shape[1] * 0.48), int(shape[2] * 0.3))  # left lung
    assert -1000 <= ct[seed] <= -500, ct[seed]
    lower, upper = -1000.0, -500.0
    rows = []
    timings = {}
    for label, kwargs in (("ours (fill_holes=False)", {"fill_holes": False}), ("ours (default: fill holes)", {})):
        best = np.inf
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            mask = connected_threshold(ct, [seed], lower=lower, upper=upper, spacing=spacing, **kwargs)
            best = min(best, time.perf_counter() - t0)
        timings[label] = (best, mask)
    best = np.inf
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        image = sitk.GetImageFromArray(ct)
        image.SetSpacing(spacing[::-1])
        grown = sitk.ConnectedThreshold(image, seedList=[seed[::-1]], lower=int(lower), upper=int(upper), replaceValue=1)
        raw = sitk.GetArrayFromImage(grown)
        best = min(best, time.perf_counter() - t0)
    name = f"connected threshold [{lower:.0f}, {upper:.0f}] HU, phantom {shape[2]}x{shape[1]}x{shape[0]}"
    for label, (t, mask) in timings.items():
        same = np.array_equal(mask != 0, raw != 0)
        rows.append([f"{name}: {label}", f"{t:.2f}", "", f"ratio to SimpleITK {t / best:.2f}; identical mask: {same}"])
    rows.append([f"{name}: SimpleITK ConnectedThreshold direct", f"{best:.2f}", "", f"{int(raw.sum())} voxels"])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--slices", type=int, default=100, help="slices of the pixel-classifier volume")
    parser.add_argument("--grow-slices", type=int, default=200, help="slices of the region-growing volume")
    parser.add_argument("--synthetic", action="store_true", help="CT phantom at 1 mm slices instead of lung1")
    parser.add_argument("--quick", action="store_true", help="1/4 in-plane size: seconds, for a check")
    parser.add_argument("--skip-baseline-pixel", action="store_true", help="skip the (slow, memory-hungry) naive baseline")
    parser.add_argument("--repeat", type=int, default=1, help="best of N for region growing")
    args = parser.parse_args()
    rows = bench_pixel_classifier(args) + bench_region_growing(args)
    print(fmt_row(["operation", "time (s)", "peak extra RSS (MB)", "notes"]))
    print(fmt_row(["---"] * 4))
    for row in rows:
        print(fmt_row(row))


if __name__ == "__main__":
    main()
