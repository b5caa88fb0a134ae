"""Does adding synthetic images help a classifier trained on a few real ones? PneumoniaMNIST, honestly.

Usage::

    python scripts/generation_augment_experiment.py [--fractions 0.05 0.2] [--seeds 3] [--method gan]

For each fraction of the train split and each seed: a stratified subset of the real training
images is drawn; a generator (``--method``) is trained **on that subset only** (a generator
trained on all images would smuggle the other images' information in); a normal / pneumonia
CNN (:mod:`napari_medimg.learn.classify`, class-balanced batches, its usual augmentation) is
trained on the subset alone and on the subset plus ``--synthetic`` times as many generated
images (half of each class); both are scored on the whole val split, which neither the
generators nor the classifiers saw. The difference (with - without) is reported per seed and
as a mean with a 95 % t-interval over seeds. Writes ``scripts/results/generation_augmentation.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("NAPARI_MEDIMG_SHARED", ROOT.parent / "shared")) / "data"
sys.path.insert(0, str(ROOT / "src"))

import numpy as np  # noqa: E402

CLASSES = ["normal", "pneumonia"]
METRICS = ("accuracy", "balanced_accuracy", "auc")


def _subset(labels: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    return np.sort(np.concatenate([rng.choice(np.flatnonzero(labels == c), max(4, int(round(fraction * (labels == c).sum()))),
                                              replace=False) for c in np.unique(labels)]))


def _classifier_scores(images, labels, val, seed: int, iterations: int) -> dict:
    from napari_medimg.learn.classify import classification_scores, classifier_card, fit_classifier, predict_proba

    config = {"classes": CLASSES, "training": {"iterations": iterations, "steps_per_epoch": max(1, iterations // 5),
                                               "seed": seed}}
    model, result, calibration, cfg = fit_classifier(images, labels, config)
    card = classifier_card(cfg, result, calibration)
    probabilities = predict_proba(model, card, val.images)
    scores = classification_scores(val.labels, probabilities)
    return {k: scores[k] for k in METRICS}


def _interval(values: list[float]) -> list[float]:
    from scipy import stats

    values = np.asarray(values, float)
    if len(values) < 2:
        return [float(values.mean())] * 2
    half = stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
    return [float(values.mean() - half), float(values.mean() + half)]


def main(argv=None) -> int:
    import torch

    from napari_medimg.learn.generative.data import ImageSet, load_npz
    from napari_medimg.learn.generative.fit import fit_generator
    from napari_medimg.learn.generative.sample import sample

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.05, 0.2])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--method", default="gan", choices=["vae", "gan", "diffusion"])
    parser.add_argument("--generator-iterations", type=int, default=1000)
    parser.add_argument("--generator-batch", type=int, default=32)
    parser.add_argument("--classifier-iterations", type=int, default=400)
    parser.add_argument("--synthetic", type=float, default=2.0, help="generated images per real one")
    parser.add_argument("--out", type=Path, default=ROOT / "scripts" / "results" / "generation_augmentation.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(int(os.environ.get("TRAIN_THREADS", "2")))
    npz = DATA / "classification" / "pneumoniamnist_train_val.npz"
    train, val = load_npz(npz, "train", CLASSES), load_npz(npz, "val", CLASSES)
    rows = []
    for fraction in args.fractions:
        for seed in range(args.seeds):
            start = time.perf_counter()
            pick = _subset(train.labels, fraction, np.random.default_rng(1000 + seed))
            subset = ImageSet(train.images[pick], train.labels[pick], CLASSES)
            run = fit_generator(subset, args.method, {"training": {"iterations": args.generator_iterations, "batch_size": args.generator_batch}}, seed=seed)
            n_syn = int(round(args.synthetic * len(pick)))
            labels = np.repeat([0, 1], [n_syn // 2, n_syn - n_syn // 2])
            synthetic, _ = sample(run.model, run.card, n_syn, labels=labels, seed=seed)
            without = _classifier_scores(subset.images, subset.labels, val, seed, args.classifier_iterations)
            with_syn = _classifier_scores(np.concatenate([subset.images, synthetic]),
                                          np.concatenate([subset.labels, labels]), val, seed, args.classifier_iterations)
            row = {"fraction": fraction, "seed": seed, "real_images": len(pick),
                   "real_per_class": np.bincount(subset.labels).tolist(), "synthetic_images": n_syn,
                   "without": without, "with": with_syn, "seconds": round(time.perf_counter() - start, 1)}
            rows.append(row)
            print(json.dumps(row), flush=True)
    summary = {}
    for fraction in args.fractions:
        chosen = [r for r in rows if r["fraction"] == fraction]
        summary[str(fraction)] = {
            m: {"without_mean": float(np.mean([r["without"][m] for r in chosen])),
                "with_mean": float(np.mean([r["with"][m] for r in chosen])),
                "difference_mean": float(np.mean([r["with"][m] - r["without"][m] for r in chosen])),
                "difference_95ci": _interval([r["with"][m] - r["without"][m] for r in chosen])}
            for m in METRICS}
    report = {"method": f"generator {args.method} ({args.generator_iterations} steps of {args.generator_batch}) trained on each real subset only; "
                        f"classifier {args.classifier_iterations} steps; {args.synthetic:g} synthetic images per real "
                        f"one, half of each class; scored on all {len(val)} val images; {args.seeds} seeds; 95 % "
                        "t-intervals of the paired difference over seeds",
              "rows": rows, "summary": summary}
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
