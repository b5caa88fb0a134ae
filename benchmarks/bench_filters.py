"""Time napari-medimg's denoising filters against the raw libraries on one CT-like volume.

Run ``python benchmarks/bench_filters.py [--size 512 512 200] [--repeat 1]`` (size in
x y z order, as imaging people say it). Every operation runs on the same int16 volume
as SimpleITK, scipy.ndimage, scikit-image and torch (where they can do the same thing),
outputs are compared, and a table reports time, ratio ours / fastest raw, agreement and
the peak extra memory of our call next to the size of input + output. Times are medians
of ``--repeat`` alternating rounds; scipy.ndimage and scikit-image run on z-slabs in one
thread per core (they release the GIL), SimpleITK and torch with their default threads.
"""

from __future__ import annotations

import os
import sys

import numpy as np
from _common import SPACING, Runner, base_parser, ct_phantom, in_z_slabs, sitk_array, sitk_image
from scipy import ndimage

from napari_medimg.processing import denoise as dn
from napari_medimg.processing.bias import n4_bias_correction

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


def main(argv=None):
    parser = base_parser(__doc__)
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
    runner = Runner(args.repeat, volume)
    bench = runner.bench

    r1 = dn.radius_to_voxels(1.0, SPACING)  # (1, 1, 1): 3x3x3
    f32 = sitk.sitkFloat32

    bench(
        "mean box 1 mm (3x3x3)",
        lambda: dn.mean_filter(volume, radius=1.0, spacing=SPACING),
        {
            "scipy": (lambda: in_z_slabs(lambda v: ndimage.uniform_filter(v, 3, output=np.float32, mode="nearest"), volume, 1), True),
            "sitk": (lambda: sitk_array(sitk.Mean(sitk_image(volume, SPACING, f32), r1[::-1])), True),
            "torch": (lambda: torch_replicate(volume, r1, "mean"), True),
        },
    )
    bench(
        "median box 1 mm (3x3x3)",
        lambda: dn.median_filter(volume, radius=1.0, spacing=SPACING),
        {
            "scipy": (lambda: in_z_slabs(lambda v: ndimage.median_filter(v, 3, mode="nearest"), volume, 1), True),
            "sitk": (lambda: sitk_array(sitk.Median(sitk_image(volume, SPACING), r1[::-1])), True),
            "torch": (lambda: torch_median(volume, r1), True),
        },
        exact=True,
    )
    bench(
        "median 1 mm on 5 mm slices (5x5x1)",
        lambda: dn.median_filter(volume, radius=1.0, spacing=(5.0, 0.5, 0.5)),
        {
            "scipy": (lambda: in_z_slabs(lambda v: ndimage.median_filter(v, (1, 5, 5), mode="nearest"), volume, 0), True),
            "sitk": (lambda: sitk_array(sitk.Median(sitk_image(volume, SPACING), [2, 2, 0])), True),
        },
        exact=True,
    )
    bench(
        "minimum box 1 mm (3x3x3)",
        lambda: dn.minimum_filter(volume, radius=1.0, spacing=SPACING),
        {
            "scipy": (lambda: in_z_slabs(lambda v: ndimage.minimum_filter(v, 3, mode="nearest"), volume, 1), True),
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
            "scipy": (lambda: in_z_slabs(lambda v: ndimage.maximum_filter(v, footprint=cross, mode="nearest"), volume, 1), True),
            "sitk": (lambda: sitk_array(sitk.GrayscaleDilate(sitk_image(volume, SPACING), [1, 1, 1], sitk.sitkBall)), True),
        },
        exact=True,
    )
    sig = [1.0 / s for s in SPACING]
    bench(
        "gaussian sigma 1 mm",
        lambda: dn.gaussian(volume, sigma=1.0, spacing=SPACING),
        {
            "scipy": (
                lambda: in_z_slabs(lambda v: ndimage.gaussian_filter(v, sig, output=np.float32, mode="nearest"), volume, 4 * int(np.ceil(sig[0]))),
                True,
            ),
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
                    lambda: in_z_slabs(
                        lambda v: denoise_nl_means(v.astype(np.float32), patch_size=3, patch_distance=2, h=16.0, sigma=20.0, fast_mode=True),
                        sub,
                        3,
                    ),
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
                    lambda: in_z_slabs(
                        lambda slab: np.stack(
                            [denoise_nl_means(s.astype(np.float32), patch_size=3, patch_distance=3, h=16.0, sigma=20.0, fast_mode=True) for s in slab]
                        ),
                        volume,
                        0,
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

    runner.print_table()
    return 0


if __name__ == "__main__":
    sys.exit(main())
