"""Time the radiomics extraction on pyradiomics' lung1 (512 x 512 x 48), per feature class.

Run ``python benchmarks/bench_radiomics.py [--repeat 15]`` (medians), then the whole
``napari-medimg features`` command as a process. pyradiomics is timed on the
same case and settings when it is importable (it does not build on current Python here,
so usually only absolute times are printed); the values are compared where it runs.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from _common import load_line, timed

from napari_medimg import read
from napari_medimg.analysis.radiomics import extract

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "ct" / "pyradiomics_lung1"
CLASSES = ("shape", "firstorder", "glcm", "glrlm", "glszm", "gldm", "ngtdm")


def features_process_time(image_path: Path, label_path: Path, repeat: int) -> float:
    """Median wall time of the whole ``napari-medimg features`` process (start-up, imports, CSV)."""
    command = [sys.executable, "-m", "napari_medimg.cli", "features", str(image_path), str(label_path)]
    subprocess.run(command, check=True, capture_output=True)  # warm the page cache
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def pyradiomics_times(image_path: Path, label_path: Path, repeat: int) -> dict[str, float] | None:
    try:
        from radiomics import featureextractor  # type: ignore[import-not-found]
    except ImportError:
        return None
    times = {}
    for cls in CLASSES + ("all",):
        extractor = featureextractor.RadiomicsFeatureExtractor(binWidth=25)
        extractor.disableAllFeatures()
        if cls == "all":
            extractor.enableAllFeatures()
        else:
            extractor.enableFeatureClassByName(cls)
        times[cls], _ = timed(lambda: extractor.execute(str(image_path), str(label_path)), repeat)
    return times


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15, help="runs per timing; the median is kept")
    args = parser.parse_args(argv)
    image_path, label_path = DATA / "lung1_image.nrrd", DATA / "lung1_label.nrrd"
    image, mask = read(image_path), read(label_path)
    settings = {"binWidth": 25}
    ours = {}
    for cls in CLASSES:
        ours[cls], _ = timed(lambda: extract(image, mask, settings, feature_classes=[cls]), args.repeat)
    ours["all"], features = timed(lambda: extract(image, mask, settings, feature_classes=list(CLASSES)), args.repeat)
    reference = pyradiomics_times(image_path, label_path, args.repeat)
    process = features_process_time(image_path, label_path, max(3, args.repeat // 3))
    print(f"lung1 {image.array.shape} (numpy order), {len(features)} features, medians of {args.repeat}; {load_line()}")
    print("| class | ours (ms) | pyradiomics (ms) | ratio |")
    print("|---|---|---|---|")
    for cls in CLASSES + ("all",):
        theirs = reference.get(cls) if reference else None
        ratio = f"{ours[cls] / theirs:.2f}" if theirs else "n/a"
        theirs_text = f"{1000 * theirs:.1f}" if theirs else "not installed"
        print(f"| {cls} | {1000 * ours[cls]:.1f} | {theirs_text} | {ratio} |")
    print(f"| `napari-medimg features` as a whole process (all classes, CSV to stdout) | {1000 * process:.0f} | | |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
