"""Time napari-medimg's intensity enhancement against numpy and scikit-image on one CT-like volume.

Run ``python benchmarks/bench_enhance.py [--size 512 512 200] [--repeat 1] [--quick]``
(size in x y z order). Every function of ``napari_medimg.processing.enhance`` runs on the
same int16 volume as the raw library call a user would write for the same result: numpy
expressions, ``np.percentile`` + ``skimage.exposure.rescale_intensity``,
``skimage.exposure.adjust_log`` / ``adjust_gamma`` / ``equalize_hist`` /
``equalize_adapthist`` (with the same voxel kernel), ``skimage.filters.unsharp_mask`` and
``scipy.ndimage.gaussian_filter`` + numpy. Outputs are compared and a table reports
time, ratio ours / fastest raw, agreement and the peak extra memory of our call next to
the size of input + output.

Where the raw call needs a step ours does inside (min-max normalisation to [0, 1] before
a gamma, a log or CLAHE; a float32 copy so that skimage's ``equalize_hist`` uses 256
bins instead of one bin per integer), that step is part of the raw timing. Timings
marked ``*`` are shown for reference but left out of the fastest: the raw library on the
int16 volume as it is, which computes something else (see the agreement column).
CLAHE runs on the first 64 slices with ``--quick`` (3D CLAHE of the whole volume takes
~10 s per call on 2 cores).
"""

from __future__ import annotations

import math
import os
import sys

import numpy as np
from _common import SPACING, Runner, base_parser, ct_phantom
from scipy import ndimage

from napari_medimg.processing import enhance as en


def normalised(array):
    """skimage: min-max to [0, 1] in float32 (what ours does before gamma / CLAHE)."""
    from skimage.exposure import rescale_intensity

    return rescale_intensity(array.astype(np.float32), out_range=(0.0, 1.0))


def main(argv=None):
    parser = base_parser(__doc__)
    parser.add_argument("--quick", action="store_true", help="CLAHE (3D and per slice) on the first 64 slices only")
    args = parser.parse_args(argv)

    from skimage import exposure
    from skimage.filters import unsharp_mask as sk_unsharp_mask

    sx, sy, sz = args.size
    volume = ct_phantom((sz, sy, sx))
    cores = len(os.sched_getaffinity(0))
    print(
        f"volume {sx}x{sy}x{sz} int16 ({volume.nbytes / 2**20:.0f} MB), spacing (z,y,x) {SPACING} mm, "
        f"{cores} cores, load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}"
    )
    runner = Runner(args.repeat, volume)
    bench = runner.bench
    f32 = np.float32

    # ---------------------------------------------------------------- windows
    def numpy_window(center, width):
        out = volume.astype(f32)
        out -= f32(center - width / 2.0)
        out /= f32(width)
        return np.clip(out, 0, 1, out=out)

    bench(
        "window W400 L40",
        lambda: en.window(volume, center=40.0, width=400.0),
        {"numpy": (lambda: numpy_window(40.0, 400.0), True)},
        exact=True,
    )
    bench(
        "window_preset lung",
        lambda: en.window_preset(volume, preset="lung"),
        {"numpy": (lambda: numpy_window(*en.WINDOW_PRESETS["lung"]), True)},
        exact=True,
    )

    def percentile_raws(lower, upper):
        def numpy_raw():
            lo, hi = np.percentile(volume, (lower, upper))
            return numpy_window((lo + hi) / 2.0, hi - lo)

        def skimage_raw():
            lo, hi = np.percentile(volume, (lower, upper))
            return exposure.rescale_intensity(volume, in_range=(lo, hi), out_range=(0.0, 1.0))

        return {"numpy": (numpy_raw, True), "np.percentile+skimage": (skimage_raw, False)}

    bench(
        "percentile_window 0.5-99.5 %",
        lambda: en.percentile_window(volume, lower_percentile=0.5, upper_percentile=99.5),
        percentile_raws(0.5, 99.5),
        exact=True,
        note="skimage computes in float64",
    )
    bench(
        "contrast_stretch 2-98 %",
        lambda: en.contrast_stretch(volume),
        percentile_raws(2.0, 98.0),
        exact=True,
        note="skimage computes in float64",
    )

    # ---------------------------------------------------------------- point transforms
    def numpy_log():
        lo, hi = float(volume.min()), float(volume.max())
        out = volume.astype(f32)
        out -= f32(lo)
        np.log1p(out, out=out)
        out *= f32(1.0 / math.log1p(hi - lo))
        return out

    def skimage_log():
        lo, hi = float(volume.min()), float(volume.max())
        shifted = volume.astype(f32)
        shifted -= f32(lo)  # adjust_log needs values >= 0
        return exposure.adjust_log(shifted, gain=1.0 / math.log2(1.0 + hi - lo))

    bench(
        "log_transform",
        lambda: en.log_transform(volume),
        {"numpy": (numpy_log, False), "skimage": (skimage_log, False)},
        note="skimage: log2(1 + x) * gain, the same curve up to float32 rounding",
    )

    def numpy_gamma(g):
        lo, hi = float(volume.min()), float(volume.max())
        out = volume.astype(f32)
        out -= f32(lo)
        out *= f32(1.0 / (hi - lo))
        return np.power(out, f32(g), out=out)

    bench(
        "gamma 0.5",
        lambda: en.gamma(volume, gamma=0.5),
        {"numpy": (lambda: numpy_gamma(0.5), False), "skimage": (lambda: exposure.adjust_gamma(normalised(volume), 0.5), False)},
    )

    # ---------------------------------------------------------------- histograms
    bench(
        "equalize_histogram 256 bins",
        lambda: en.equalize_histogram(volume, bins=256),
        {"skimage float32": (lambda: exposure.equalize_hist(volume.astype(f32), nbins=256), False)},
        extra={"skimage int16": (lambda: exposure.equalize_hist(volume, nbins=256), False)},
        note="skimage int16* ignores nbins (one bin per integer value): another map",
    )

    sub = volume[: min(64, sz)] if args.quick else volume
    kernel_mm = 40.0
    kernel = en.clahe_kernel_voxels(sub.shape, kernel_size=kernel_mm, spacing=SPACING)
    bench(
        f"CLAHE 3D {kernel_mm:g} mm {kernel} ({sub.shape[0]} slices)",
        lambda: en.clahe(sub, kernel_size=kernel_mm, clip_limit=0.01, spacing=SPACING),
        {
            "skimage": (
                lambda: exposure.equalize_adapthist(normalised(sub), kernel_size=kernel, clip_limit=0.01, nbins=256),
                False,
            )
        },
        data=sub,
    )
    kernel2 = en.clahe_kernel_voxels(sub.shape[1:], kernel_size=kernel_mm, spacing=SPACING[1:])

    def skimage_per_slice():
        work = normalised(sub)
        return np.stack(
            [exposure.equalize_adapthist(s, kernel_size=kernel2, clip_limit=0.01, nbins=256) for s in work]
        )

    bench(
        f"CLAHE per slice {kernel_mm:g} mm {kernel2} ({sub.shape[0]} slices)",
        lambda: en.clahe(sub, kernel_size=kernel_mm, clip_limit=0.01, spacing=SPACING, per_slice=True),
        {"skimage loop": (skimage_per_slice, False)},
        data=sub,
    )
    del sub

    # ---------------------------------------------------------------- sharpening
    sigma = tuple(1.0 / s for s in SPACING)

    def scipy_unsharp(amount=1.0):
        blurred = ndimage.gaussian_filter(volume, sigma, output=f32, mode="nearest")
        np.subtract(volume, blurred, out=blurred, dtype=f32)
        blurred *= f32(amount)
        blurred += volume
        return blurred

    bench(
        "unsharp_mask 1 mm x1",
        lambda: en.unsharp_mask(volume, radius=1.0, amount=1.0, spacing=SPACING),
        {
            "scipy+numpy": (scipy_unsharp, False),
            "skimage": (lambda: sk_unsharp_mask(volume, radius=sigma, amount=1.0, preserve_range=True), False),
        },
        note="skimage blurs with mode='reflect' in float64 (ours and scipy: 'nearest', float32): differences at the borders",
    )

    runner.print_table()
    return 0


if __name__ == "__main__":
    sys.exit(main())
