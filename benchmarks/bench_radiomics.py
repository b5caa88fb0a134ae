"""Time the radiomics extraction on pyradiomics' lung1 (512 x 512 x 48), per feature class.

Run ``python benchmarks/bench_radiomics.py [--repeat 5]``. pyradiomics is timed on the
same case and settings when it is importable (it does not build on current Python here,
so usually only absolute times are printed); the values are compared where it runs.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from napari_medimg import read
from napari_medimg.analysis.radiomics import extract

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "ct" / "pyradiomics_lung1"
CLASSES = ("shape", "firstorder", "glcm", "glrlm", "glszm", "gldm", "ngtdm")


def best_time(function, repeat: int) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


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
        times[cls], _ = best_time(lambda: extractor.execute(str(image_path), str(label_path)), repeat)
    return times


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="best of N runs")
    args = parser.parse_args(argv)
    image_path, label_path = DATA / "lung1_image.nrrd", DATA / "lung1_label.nrrd"
    image, mask = read(image_path), read(label_path)
    settings = {"binWidth": 25}
    ours = {}
    for cls in CLASSES:
        ours[cls], _ = best_time(lambda: extract(image, mask, settings, feature_classes=[cls]), args.repeat)
    ours["all"], features = best_time(lambda: extract(image, mask, settings, feature_classes=list(CLASSES)), args.repeat)
    reference = pyradiomics_times(image_path, label_path, args.repeat)
    print(f"lung1 {image.array.shape} (numpy order), {len(features)} features, best of {args.repeat}")
    print("| class | ours (ms) | pyradiomics (ms) | ratio |")
    print("|---|---|---|---|")
    for cls in CLASSES + ("all",):
        theirs = reference.get(cls) if reference else None
        ratio = f"{ours[cls] / theirs:.2f}" if theirs else "n/a"
        theirs_text = f"{1000 * theirs:.1f}" if theirs else "not installed"
        print(f"| {cls} | {1000 * ours[cls]:.1f} | {theirs_text} | {ratio} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
