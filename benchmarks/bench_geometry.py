"""Time napari-medimg's resampling and cropping against SimpleITK and numpy on one CT-like volume.

Run ``python benchmarks/bench_geometry.py [--size 512 512 200] [--repeat 1] [--quick]``
(size in x y z order). ``resample_to_spacing`` (linear and nearest on the int16 volume,
to 1 mm and 0.5 mm isotropic; label-preserving on a label volume to 1 mm) is timed
against ``SimpleITK.Resample`` called directly on the same numpy array onto the same
grid (size ``floor(n * s / new + 0.5)``, origin moved by ``(new - s) / 2``,
nearest-neighbour extrapolation at the borders, as ours). The raw "sitk" timing includes
the numpy -> SimpleITK -> numpy conversions, as ours does; "sitk img->img*" is the bare
``Resample`` of an image already in SimpleITK, shown for reference and not counted for
the fastest. ``crop_to_labels`` and ``crop_to_box`` are timed against plain numpy
(bounding box by ``any`` projections, or ``scipy.ndimage.find_objects``, then slicing
and a copy). Outputs are compared and a table reports time, ratio ours / fastest raw,
agreement and the peak extra memory of our call next to the size of input + output.

Label interpolation is compared with SimpleITK's ``sitkLabelGaussian`` (a Gaussian vote,
sigma 1 mm) and ``sitkNearestNeighbor``: both are other definitions, so the agreement
column gives the share of voxels whose label differs. With ``--quick`` the 0.5 mm rows
run on the first 64 slices (the full output is 400 x 717 x 717, 0.8 GB in float32).
"""

from __future__ import annotations

import math
import os
import sys

import numpy as np
from _common import SPACING, Runner, base_parser, ct_labels, ct_phantom
from scipy import ndimage

from napari_medimg.processing.crop import crop_to_box, crop_to_labels, labels_bounding_box
from napari_medimg.processing.resample import resample_to_spacing
from napari_medimg.volume import Volume


def raw_grid(shape, spacing, new_spacing):
    """The grid of resample_to_spacing, in ITK (x, y, z) order: size, origin, spacing."""
    shape, spacing = np.asarray(shape), np.asarray(spacing, float)
    new = np.full(len(shape), float(new_spacing))
    size = np.maximum(np.floor(shape * spacing / new + 0.5).astype(int), 1)
    origin = (new - spacing) / 2.0  # the input's origin is 0
    return [int(v) for v in size[::-1]], [float(v) for v in origin[::-1]], [float(v) for v in new[::-1]]


def main(argv=None):
    parser = base_parser(__doc__)
    parser.add_argument("--quick", action="store_true", help="0.5 mm rows on the first 64 slices only")
    args = parser.parse_args(argv)

    import SimpleITK as sitk

    sx, sy, sz = args.size
    volume = ct_phantom((sz, sy, sx))
    labels = ct_labels((sz, sy, sx))
    cores = len(os.sched_getaffinity(0))
    print(
        f"volume {sx}x{sy}x{sz} int16 ({volume.nbytes / 2**20:.0f} MB) + uint8 labels, spacing (z,y,x) {SPACING} mm, "
        f"{cores} cores, SimpleITK threads {sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()}, "
        f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}"
    )
    runner = Runner(args.repeat, volume)
    bench = runner.bench
    eye = np.eye(3)

    def as_image(array):
        image = sitk.GetImageFromArray(array)
        image.SetSpacing([float(s) for s in SPACING[::-1]])
        return image

    def resample_image(image, shape, new_spacing, interpolator, pixel):
        size, origin, spacing = raw_grid(shape, SPACING, new_spacing)
        return sitk.Resample(
            image, size, sitk.Transform(), interpolator, origin, spacing,
            [float(v) for v in eye.ravel()], 0.0, pixel, True,
        )

    def resample_rows(name, data, new_spacing, interpolation, interpolator, pixel, raws_extra=None, exact=True, note=None):
        source = Volume(data, SPACING, (0.0, 0.0, 0.0), eye)
        image = as_image(data)  # prepared outside the timing, for the img->img reference

        def raw():
            return sitk.GetArrayFromImage(resample_image(as_image(data), data.shape, new_spacing, interpolator, pixel))

        raws = {"sitk": (raw, exact)}
        raws.update(raws_extra or {})
        bench(
            name,
            lambda: resample_to_spacing(source, spacing=new_spacing, interpolation=interpolation).array,
            raws,
            extra={"sitk img->img": (lambda: resample_image(image, data.shape, new_spacing, interpolator, pixel), None)},
            exact=exact,
            data=data,
            note=note,
        )

    half = volume[: min(64, sz)] if args.quick else volume
    f32, i16, u8 = sitk.sitkFloat32, sitk.sitkInt16, sitk.sitkUInt8
    rounding = "(ours: one affine from output index to input mm, sitk: origin + spacing * index; may differ by the rounding of positions)"
    resample_rows("resample linear 1 mm", volume, 1.0, "linear", sitk.sitkLinear, f32, exact=False, note=rounding)
    resample_rows(
        f"resample linear 0.5 mm ({half.shape[0]} slices)", half, 0.5, "linear", sitk.sitkLinear, f32, exact=False, note=rounding
    )
    resample_rows("resample nearest 1 mm (int16)", volume, 1.0, "nearest", sitk.sitkNearestNeighbor, i16, note=rounding)
    resample_rows(
        f"resample nearest 0.5 mm ({half.shape[0]} slices)", half, 0.5, "nearest", sitk.sitkNearestNeighbor, i16, note=rounding
    )

    def label_raw(interpolator):
        return lambda: sitk.GetArrayFromImage(resample_image(as_image(labels), labels.shape, 1.0, interpolator, u8))

    source = Volume(labels, SPACING, (0.0, 0.0, 0.0), eye)
    label_image = as_image(labels)
    bench(
        "resample label 1 mm (5 labels)",
        lambda: resample_to_spacing(source, spacing=1.0, interpolation="label").array,
        {
            "sitk-labelgauss": (label_raw(sitk.sitkLabelGaussian), "labels"),
            "sitk-nearest": (label_raw(sitk.sitkNearestNeighbor), "labels"),
        },
        extra={
            "sitk-labelgauss img->img": (
                lambda: resample_image(label_image, labels.shape, 1.0, sitk.sitkLabelGaussian, u8),
                None,
            ),
        },
        data=labels,
        note="other definitions: per-label linear weights (ours), Gaussian vote sigma 1 mm, nearest",
    )
    del source, label_image

    # ---------------------------------------------------------------- cropping
    image = Volume(volume, SPACING, (0.0, 0.0, 0.0), eye)
    label_volume = Volume(labels, SPACING, (0.0, 0.0, 0.0), eye)
    margin_mm, target = 10.0, 5
    margins = [int(math.ceil(margin_mm / s - 1e-9)) for s in SPACING]

    def numpy_crop():
        mask = labels == target
        box = []
        for axis in range(3):
            hits = np.flatnonzero(mask.any(axis=tuple(a for a in range(3) if a != axis)))
            box.append(slice(max(0, hits[0] - margins[axis]), min(mask.shape[axis], hits[-1] + 1 + margins[axis])))
        return volume[tuple(box)].copy()

    def scipy_crop():
        found = ndimage.find_objects(labels, max_label=target)[target - 1]
        box = tuple(
            slice(max(0, s.start - m), min(n, s.stop + m)) for s, m, n in zip(found, margins, labels.shape)
        )
        return volume[box].copy()

    bench(
        f"crop_to_labels label {target} + {margin_mm:g} mm",
        lambda: crop_to_labels(image, label_volume, margin_mm=margin_mm, label=target).array,
        {"numpy": (numpy_crop, True), "scipy find_objects": (scipy_crop, True)},
        exact=True,
    )
    start, stop = labels_bounding_box(label_volume, margin_mm=margin_mm, label=target)
    box = tuple(slice(a, b) for a, b in zip(start, stop))
    bench(
        "crop_to_box (the same box)",
        lambda: crop_to_box(image, start=start, stop=stop).array,
        {"numpy slice+copy": (lambda: volume[box].copy(), True)},
        exact=True,
    )

    runner.print_table()
    return 0


if __name__ == "__main__":
    sys.exit(main())
