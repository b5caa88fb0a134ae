"""Time reading DICOM series with napari-medimg against SimpleITK's ImageSeriesReader.

Run ``python benchmarks/bench_dicom.py [--repeat 15]``. For each series in
``../shared/data/dicom`` (a JPEG 2000 lossless CT, an uncompressed CT, an uncompressed MR)
it times ``read_dicom(folder)`` and SimpleITK's GDCM series reader (file names sorted by
GDCM, then ``Execute`` and ``GetArrayFromImage``: the raw library call a user would
write to get a numpy array), in alternating runs, and reports the medians, the ratio and
whether the arrays are equal. Both read from the page cache (one untimed read first).
SimpleITK uses its default threads.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
from _common import load_line

from napari_medimg.io.dicom import read_dicom

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "dicom"
SERIES = {
    "CT 20 x 512 x 512, JPEG 2000 lossless": DATA / "ct_totalseg_jpeg2000" / "dicom",
    "CT 28 x 512 x 512, uncompressed (gantry tilt)": DATA / "ct_head_gantry_tilt_ge" / "dicom",
    "MR 35 x 256 x 256, uncompressed": DATA / "mr_sag_t1_siemens_hfs" / "dicom",
}


def sitk_read(folder: Path) -> np.ndarray:
    import SimpleITK as sitk

    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    return sitk.GetArrayFromImage(reader.Execute())


def main(argv=None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=15, help="alternating rounds; medians are reported")
    args = parser.parse_args(argv)
    rows = []
    for name, folder in SERIES.items():
        if not folder.is_dir():
            print(f"skipped {name}: {folder} not found")
            continue
        ours_array = read_dicom(folder).array  # warm the page cache and the imports
        theirs_array = sitk_read(folder)
        equal = ours_array.shape == theirs_array.shape and np.array_equal(ours_array, theirs_array)
        if not equal and ours_array.shape == theirs_array.shape:
            # SimpleITK orders slices along its own normal; compare as sets of slices
            equal = np.array_equal(np.sort(ours_array.reshape(len(ours_array), -1), axis=0),
                                   np.sort(theirs_array.reshape(len(theirs_array), -1), axis=0))
        times = {"ours": [], "sitk": []}
        for _ in range(args.repeat):
            for key, call in (("ours", lambda: read_dicom(folder)), ("sitk", lambda: sitk_read(folder))):
                t0 = time.perf_counter()
                call()
                times[key].append(time.perf_counter() - t0)
        ours, sitk = (float(np.median(times[k])) for k in ("ours", "sitk"))
        rows.append((name, ours, sitk, ours / sitk, "identical" if equal else "DIFFER", ours_array.dtype, theirs_array.dtype))
        print(f"  {name}: ours {ours:.3f} s, SimpleITK {sitk:.3f} s, ratio {ours / sitk:.2f}", flush=True)
    print()
    print(f"Medians of {args.repeat} alternating rounds; {load_line()} at the end.")
    print()
    print("| series | ours (s) | SimpleITK (s) | ratio ours/SimpleITK | values | dtype ours / SimpleITK |")
    print("|---|---|---|---|---|---|")
    for name, ours, sitk, ratio, agreement, d1, d2 in rows:
        print(f"| {name} | {ours:.3f} | {sitk:.3f} | {ratio:.2f} | {agreement} | {d1} / {d2} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
