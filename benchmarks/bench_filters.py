"""Time napari-medimg's denoising filters against the raw libraries on one CT-like volume.

Run ``python benchmarks/bench_filters.py [--size 512 512 200] [--repeat 1]`` (size in
x y z order, as imaging people say it). Every operation runs on the same int16 volume
as SimpleITK, scipy.ndimage, scikit-image and torch (where they can do the same thing),
outputs are compared, and a table reports time, ratio ours / fastest raw, agreement and
the peak extra memory of our call next to the size of input + output.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time

import numpy as np
from scipy import ndimage

from napari_medimg.processing import denoise as dn
from napari_medimg.processing.bias import n4_bias_correction

SPACING = (1.0, 0.7, 0.7)  # numpy order (z, y, x), mm


def ct_phantom(shape=(200, 512, 512), seed=0) -> np.ndarray:
    """int16 CT-like volume: air, a body ellipse of soft tissue (~40 HU) with smooth
    texture, two lungs (~-850 HU), a spine (~900 HU), gaussian noise of 20 HU."""
    rng = np.random.default_rng(seed)
    z, y, x = shape
    out = np.full(shape, -1000, np.float32)
    yy, xx = np.ogrid[-1 : 1 : complex(0, y), -1 : 1 : complex(0, x)]
    body = (yy / 0.75) ** 2 + (xx / 0.9) ** 2 <= 1
    lungs = (((yy + 0.05) / 0.5) ** 2 + ((np.abs(xx) - 0.4) / 0.3) ** 2) <= 1
    spine = ((yy - 0.55) / 0.12) ** 2 + (xx / 0.12) ** 2 <= 1
    coarse = rng.normal(0, 1, (max(2, z // 8), max(2, y // 16), max(2, x // 16))).astype(np.float32)
    texture = ndimage.zoom(coarse, [s / c for s, c in zip(shape, coarse.shape)], order=1)[:z, :y, :x]
    for k in range(z):
        plane, tex = out[k], texture[k]
        plane[body] = 40 + 15 * tex[body]
        plane[lungs] = -850 + 40 * tex[lungs]
        plane[spine] = 900 + 200 * tex[spine]
    out += rng.normal(0, 20, shape).astype(np.float32)
    return np.clip(out, -1024, 3071).astype(np.int16)


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


def torch_replicate(array, radius, op):
    """torch: replicate-pad then pool / unfold in float32 (torch pools need float)."""
    import torch
    import torch.nn.functional as F

    rz, ry, rx = radius
    t = torch.from_numpy(array).to(torch.float32)[None, None]
    t = F.pad(t, (rx, rx, ry, ry, rz, rz), mode="replicate")
    k = (2 * rz + 1, 2 * ry + 1, 2 * rx + 1)
    if op == "mean":
        return F.avg_pool3d(t, k, stride=1)[0, 0].numpy()
    if op == "max":
        return F.max_pool3d(t, k, stride=1)[0, 0].numpy()
    if op == "min":
        return (-F.max_pool3d(-t, k, stride=1))[0, 0].numpy()
    raise ValueError(op)


def torch_median(array, radius, slab=8):
    """torch: unfold 3x3x3 neighbourhoods slab by slab and take the median (int16 kept)."""
    import torch
    import torch.nn.functional as F

    rz, ry, rx = radius
    out = np.empty_like(array)
    src = torch.from_numpy(array.astype(np.float32))[None, None]
    padded = F.pad(src, (rx, rx, ry, ry, rz, rz), mode="replicate")[0, 0].to(torch.int16)
    for z0 in range(0, array.shape[0], slab):
        z1 = min(array.shape[0], z0 + slab)
        block = padded[z0 : z1 + 2 * rz]
        windows = block.unfold(0, 2 * rz + 1, 1).unfold(1, 2 * ry + 1, 1).unfold(2, 2 * rx + 1, 1)
        windows = windows.reshape(*windows.shape[:3], -1)
        out[z0:z1] = windows.median(dim=-1).values.numpy()
    return out


def compare(ours, ref, exact):
    ours = np.asarray(ours, np.float64)
    ref = np.asarray(ref, np.float64)
    if ours.shape != ref.shape:
        return "shape differs"
    diff = np.abs(ours - ref)
    if exact:
        return "identical" if diff.max() == 0 else f"DIFFERS max {diff.max():.3g}"
    return f"mean|d| {diff.mean():.2g}, max {diff.max():.2g}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", nargs=3, type=int, default=[512, 512, 200], metavar=("X", "Y", "Z"))
    parser.add_argument("--repeat", type=int, default=1, help="runs per timing; the best is kept")
    parser.add_argument("--skip-slow", action="store_true", help="leave out bilateral, diffusion, NLM and N4")
    args = parser.parse_args(argv)

    import SimpleITK as sitk
    import torch

    sx, sy, sz = args.size
    volume = ct_phantom((sz, sy, sx))
    nbytes_in = volume.nbytes
    cores = len(os.sched_getaffinity(0))
    print(
        f"volume {sx}x{sy}x{sz} int16 ({nbytes_in / 2**20:.0f} MB), spacing (z,y,x) {SPACING} mm, "
        f"{cores} cores, SimpleITK threads {sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()}, "
        f"torch threads {torch.get_num_threads()}"
    )
    rows = []

    def bench(name, ours, raws, *, exact=False, data=volume, out_bytes=None):
        with PeakRSS() as mem:
            t_ours, out = timed(ours, args.repeat)
        out_bytes = out_bytes if out_bytes is not None else out.nbytes
        raw_times = {}
        notes = []
        for raw_name, (raw, raw_exact) in raws.items():
            t_raw, ref = timed(raw, args.repeat)
            raw_times[raw_name] = t_raw
            notes.append(f"{raw_name}: {compare(out, ref, exact and raw_exact)}")
            del ref
        fastest = min(raw_times, key=raw_times.get)
        rows.append(
            (name, t_ours, raw_times, fastest, t_ours / raw_times[fastest], mem.extra_mb, (data.nbytes + out_bytes) / 2**20, notes)
        )
        r = rows[-1]
        print(f"  {name:32s} ours {t_ours:7.2f}s  fastest raw {fastest} {raw_times[fastest]:7.2f}s  ratio {r[4]:.2f}", flush=True)
        del out

    r1 = dn.radius_to_voxels(1.0, SPACING)  # (1, 1, 1): 3x3x3
    f32 = sitk.sitkFloat32

    bench(
        "mean box 1 mm (3x3x3)",
        lambda: dn.mean_filter(volume, radius=1.0, spacing=SPACING),
        {
            "scipy": (lambda: ndimage.uniform_filter(volume, 3, output=np.float32, mode="nearest"), True),
            "sitk": (lambda: sitk_array(sitk.Mean(sitk_image(volume, SPACING, f32), r1[::-1])), True),
            "torch": (lambda: torch_replicate(volume, r1, "mean"), True),
        },
    )
    bench(
        "median box 1 mm (3x3x3)",
        lambda: dn.median_filter(volume, radius=1.0, spacing=SPACING),
        {
            "scipy": (lambda: ndimage.median_filter(volume, 3, mode="nearest"), True),
            "sitk": (lambda: sitk_array(sitk.Median(sitk_image(volume, SPACING), r1[::-1])), True),
            "torch": (lambda: torch_median(volume, r1), True),
        },
        exact=True,
    )
    bench(
        "median 1 mm on 5 mm slices (5x5x1)",
        lambda: dn.median_filter(volume, radius=1.0, spacing=(5.0, 0.5, 0.5)),
        {
            "scipy": (lambda: ndimage.median_filter(volume, (1, 5, 5), mode="nearest"), True),
            "sitk": (lambda: sitk_array(sitk.Median(sitk_image(volume, SPACING), [2, 2, 0])), True),
        },
        exact=True,
    )
    bench(
        "minimum box 1 mm (3x3x3)",
        lambda: dn.minimum_filter(volume, radius=1.0, spacing=SPACING),
        {
            "scipy": (lambda: ndimage.minimum_filter(volume, 3, mode="nearest"), True),
            "sitk": (lambda: sitk_array(sitk.GrayscaleErode(sitk_image(volume, SPACING), r1[::-1], sitk.sitkBox)), True),
            "torch": (lambda: torch_replicate(volume, r1, "min"), True),
        },
        exact=True,
    )
    # ITK's ball of radius 1 is our ball of radius 1.5 voxels (19 voxels)
    cross = dn.footprint(1.5, (1, 1, 1), shape="ball", units="voxels")
    bench(
        "maximum ball 1.5 voxels (19 vox)",
        lambda: dn.maximum_filter(volume, radius=1.5, footprint="ball", units="voxels", spacing=SPACING),
        {
            "scipy": (lambda: ndimage.maximum_filter(volume, footprint=cross, mode="nearest"), True),
            "sitk": (lambda: sitk_array(sitk.GrayscaleDilate(sitk_image(volume, SPACING), [1, 1, 1], sitk.sitkBall)), True),
        },
        exact=True,
    )
    sig = [1.0 / s for s in SPACING]
    bench(
        "gaussian sigma 1 mm",
        lambda: dn.gaussian(volume, sigma=1.0, spacing=SPACING),
        {
            "scipy": (lambda: ndimage.gaussian_filter(volume, sig, output=np.float32, mode="nearest"), True),
            "sitk-discrete": (
                lambda: sitk_array(sitk.DiscreteGaussian(sitk_image(volume, SPACING, f32), 1.0, 64, 0.001, True)),
                False,
            ),
            "sitk-recursive": (lambda: sitk_array(sitk.SmoothingRecursiveGaussian(sitk_image(volume, SPACING, f32), 1.0)), False),
        },
    )
    if not args.skip_slow:
        sub = volume[: min(32, sz)]
        bench(
            f"bilateral 1 mm / 50 HU ({sub.shape[0]} slices)",
            lambda: dn.bilateral(sub, sigma_spatial=1.0, sigma_range=50.0, spacing=SPACING),
            {"sitk": (lambda: sitk_array(sitk.Bilateral(sitk_image(sub, SPACING, f32), 1.0, 50.0)), False)},
            data=sub,
        )
        step = min(SPACING) / 16
        bench(
            "anisotropic diffusion 3 it",
            lambda: dn.anisotropic_diffusion(volume, iterations=3, conductance=3.0, spacing=SPACING),
            {
                "sitk": (
                    lambda: sitk_array(sitk.CurvatureAnisotropicDiffusion(sitk_image(volume, SPACING, f32), step, 3.0, 1, 3)),
                    True,
                )
            },
        )
        from skimage.restoration import denoise_nl_means

        sub = volume[: min(16, sz)]
        bench(
            f"NLM 3D p=1 d=2 voxels ({sub.shape[0]} slices)",
            lambda: dn.non_local_means(sub, patch_radius=1, search_radius=2, sigma=20.0, units="voxels", spacing=SPACING),
            {
                "skimage": (
                    lambda: denoise_nl_means(sub.astype(np.float32), patch_size=3, patch_distance=2, h=16.0, sigma=20.0, fast_mode=True),
                    False,
                )
            },
            data=sub,
        )
        bench(
            "NLM 2D per slice p=0.7 d=2.1 mm",
            lambda: dn.non_local_means(volume, patch_radius=0.7, search_radius=2.1, sigma=20.0, spacing=(5.0, 0.7, 0.7)),
            {
                "skimage": (
                    lambda: np.stack(
                        [denoise_nl_means(s.astype(np.float32), patch_size=3, patch_distance=3, h=16.0, sigma=20.0, fast_mode=True) for s in volume]
                    ),
                    False,
                )
            },
        )
        mr = volume.astype(np.float32) + 1100.0  # positive intensities for N4
        mr_mask = (volume > -500).astype(np.uint8)

        def raw_n4():
            image = sitk_image(mr, SPACING)
            mask = sitk_image(mr_mask, SPACING)
            factors = [max(1, int(round(4 * min(SPACING) / s))) for s in SPACING[::-1]]
            corrector = sitk.N4BiasFieldCorrectionImageFilter()
            corrector.SetMaximumNumberOfIterations([10] * 3)
            corrector.SetConvergenceThreshold(0.001)
            extent = [n * s for n, s in zip(image.GetSize(), image.GetSpacing())]
            corrector.SetNumberOfControlPoints([max(4, int(round(e / 100.0)) + 3) for e in extent])
            corrector.Execute(sitk.Shrink(image, factors), sitk.Shrink(mask, factors))
            log_field = corrector.GetLogBiasFieldAsImage(image)
            return sitk_array(image / sitk.Exp(log_field))

        bench(
            "N4 shrink 4, 3x10 it",
            lambda: n4_bias_correction(mr, spacing=SPACING, mask=mr_mask, shrink_factor=4, iterations=10, levels=3),
            {"sitk": (raw_n4, False)},
            data=mr,
        )

    print()
    header = f"| operation | ours (s) | raw libraries (s) | fastest | ratio ours/fastest | peak extra RSS (MB) | input+output (MB) | agreement |"
    print(header)
    print("|" + "---|" * 8)
    for name, t_ours, raw_times, fastest, ratio, mem, io_mb, notes in rows:
        raws = ", ".join(f"{k} {v:.2f}" for k, v in raw_times.items())
        print(f"| {name} | {t_ours:.2f} | {raws} | {fastest} | {ratio:.2f} | {mem:.0f} | {io_mb:.0f} | {'; '.join(notes)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
