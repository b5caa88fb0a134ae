"""Does a CNN + GRU over slices beat the same CNN slice by slice? "Does this slice contain tumour" on brain MR.

Usage::

    python scripts/slice_sequence_experiment.py [--iterations 400] [--out scripts/results/slice_sequence.json]

Data: the 3 BraTS 2013 cases of ../shared/data/mr/brats_tumour (FLAIR and T1c, each read as
axial, coronal and sagittal slice stacks: 6 sequences a patient) and pyradiomics' brain1 (T1
post-contrast, axial). A slice is positive when it holds any voxel of the expert tumour label.

Leave one patient out (4 folds): both models (:class:`napari_medimg.learn.sequence.SliceSequenceNet`
with and without its bidirectional GRU, the same encoder, the same steps and seed) are trained on
the other patients' sequences and score the held-out patient's slices. Reported: F1 per fold,
the mean with a 95 % t interval over folds, and the per-fold difference (GRU minus per slice)
with its interval.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("NAPARI_MEDIMG_SHARED", ROOT.parent / "shared")) / "data"
sys.path.insert(0, str(ROOT / "src"))

from napari_medimg.learn.sequence import (  # noqa: E402
    DEFAULTS,
    f1_score,
    fit_slice_model,
    predict_slices,
    prepare_volume,
    slice_targets,
)


def sequences(size) -> tuple[list, list, list[str], list[str]]:
    """Prepared slice stacks, their slice targets, patient of each, and a description of each."""
    import SimpleITK as sitk

    volumes, targets, groups, names = [], [], [], []

    def add(volume, labels, group, name):
        volumes.append(prepare_volume(volume, size, {"kind": "mr"}))
        targets.append(slice_targets(labels))
        groups.append(group)
        names.append(name)

    for folder in sorted((DATA / "mr/brats_tumour").glob("brats_*")):
        truth = sitk.GetArrayFromImage(sitk.ReadImage(str(folder / "OTMultiClass.nii.gz")))
        brain = sitk.GetArrayFromImage(sitk.ReadImage(str(folder / "brainmask.nii.gz"))) > 0
        for contrast in ("Flair", "T1c"):
            image = sitk.GetArrayFromImage(sitk.ReadImage(str(folder / f"{contrast}_subtrMeanDivStd.nii.gz")))
            image = image.astype(np.float32) * brain
            for axis, plane in enumerate(("axial", "coronal", "sagittal")):
                add(np.moveaxis(image, axis, 0), np.moveaxis(truth, axis, 0), folder.name, f"{folder.name} {contrast} {plane}")
    image = sitk.GetArrayFromImage(sitk.ReadImage(str(DATA / "mr/pyradiomics/brain1_image.nrrd"))).astype(np.float32)
    labels = sitk.GetArrayFromImage(sitk.ReadImage(str(DATA / "mr/pyradiomics/brain1_label.nrrd")))
    add(image, labels, "pyradiomics_brain1", "brain1 T1c axial")
    return volumes, targets, groups, names


def interval(values) -> list[float]:
    """95 % t interval of the mean of ``values``."""
    from scipy import stats

    values = np.asarray(values, float)
    half = stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
    return [float(values.mean() - half), float(values.mean() + half)]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=DEFAULTS["training"]["iterations"])
    parser.add_argument("--out", type=Path, default=ROOT / "scripts/results/slice_sequence.json")
    args = parser.parse_args(argv)
    volumes, targets, groups, names = sequences(DEFAULTS["size"])
    print(f"{len(volumes)} sequences of {len(set(groups))} patients, {sum(len(t) for t in targets)} slices", flush=True)
    folds = []
    for group in sorted(set(groups)):
        train_index = [i for i, g in enumerate(groups) if g != group]
        test_index = [i for i, g in enumerate(groups) if g == group]
        truth = np.concatenate([targets[i] for i in test_index])
        row = {"patient": group, "slices": int(len(truth)), "positive": int(truth.sum())}
        for recurrent in (True, False):
            start = time.perf_counter()
            config = {"network": {"recurrent": recurrent}, "training": {"iterations": args.iterations}}
            model, _ = fit_slice_model([volumes[i] for i in train_index], [targets[i] for i in train_index], config)
            predicted = np.concatenate([predict_slices(model, volumes[i]).argmax(1) for i in test_index])
            key = "cnn_gru" if recurrent else "cnn_per_slice"
            row[key] = f1_score(truth, predicted)
            row[f"{key}_seconds"] = round(time.perf_counter() - start, 1)
        folds.append(row)
        print(f"{group}: F1 CNN+GRU {row['cnn_gru']:.3f}, CNN per slice {row['cnn_per_slice']:.3f} "
              f"({row['slices']} slices)", flush=True)
    summary = {}
    for key in ("cnn_gru", "cnn_per_slice"):
        values = [f[key] for f in folds]
        summary[key] = {"mean_f1": float(np.mean(values)), "ci95": interval(values)}
    difference = [f["cnn_gru"] - f["cnn_per_slice"] for f in folds]
    summary["difference"] = {"mean": float(np.mean(difference)), "ci95": interval(difference),
                             "folds_gru_better": int(sum(d > 0 for d in difference))}
    result = {"task": "does this slice contain tumour (any expert tumour label)", "method": " ".join(__doc__.split("\n\n")[3:5]).replace("\n", " "),
              "sequences": names, "iterations": args.iterations, "folds": folds, "summary": summary,
              "command": "python scripts/slice_sequence_experiment.py"
                         + (f" --iterations {args.iterations}" if args.iterations != DEFAULTS["training"]["iterations"] else "")}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(summary, indent=1), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
