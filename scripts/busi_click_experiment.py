"""Breast lesion from one click: the click-guided U-Net, the watershed, and the watershed outline the U-Net picks.

Usage::

    python scripts/busi_click_experiment.py [--out scripts/results/busi_click.json]

The same 5 folds over the 34 BUSI images as ``python scripts/train_shipped_models.py
busi-lesion-click`` (scripts/models/busi-lesion-click.yaml: the same settings and seeds; the
fold models match that run's up to the floating-point order of the threads). Each held-out lesion is clicked at its deepest point and found three ways:

- ``unet``: the click-guided U-Net trained on the other folds;
- ``unet_flip_tta``: the same model, its probabilities averaged with those of the left-right
  mirrored picture and click (the flip it was trained with);
- ``watershed``: the classical outline with the best edge-and-contrast score
  (:func:`napari_medimg.apps.breast_us.outline_candidates`), which needs no training;
- ``watershed_picked_by_unet``: of the same watershed outlines, the one that agrees best (Dice)
  with the U-Net's object: the U-Net judges which scale is the lesion, the watershed draws its edge.

Reported: Dice per image, the mean per fold, the mean, median and count below 0.5 over the
28 lesion images.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import yaml

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "scripts"))

from train_shipped_models import busi_cases  # noqa: E402

from napari_medimg.apps.breast_us import _prepare, lesion_from_click, outline_candidates  # noqa: E402
from napari_medimg.learn.apply import predict_image  # noqa: E402
from napari_medimg.learn.experiment import fit, folds, model_card  # noqa: E402
from napari_medimg.learn.guidance import deepest_points  # noqa: E402

METHODS = ("unet", "unet_flip_tta", "watershed", "watershed_picked_by_unet")


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return float(2 * (a & b).sum() / max(1, a.sum() + b.sum()))


def picked(image: np.ndarray, clicks, unet: np.ndarray) -> np.ndarray:
    """For each click, the watershed outline closest (Dice) to the U-Net's object; the best-scored one if none overlaps."""
    prepared = _prepare(np.asarray(image, np.float32))
    out = np.zeros(unet.shape, bool)
    for point in clicks:
        candidates = outline_candidates(prepared, point)
        agreement = [dice(region, unet) for region, _ in candidates]
        if max(agreement, default=0.0) > 0:
            out |= candidates[int(np.argmax(agreement))][0]
        elif candidates:
            out |= max(candidates, key=lambda c: c[1])[0]
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "scripts/results/busi_click.json")
    args = parser.parse_args(argv)
    config = yaml.safe_load((ROOT / "scripts/models/busi-lesion-click.yaml").read_text())
    cases, data = busi_cases()
    per_case: dict[str, dict[str, float]] = {}
    fold_rows = []
    for k, test_index in enumerate(folds(len(cases), 5, 0)):
        start = time.perf_counter()
        held = set(test_index.tolist())
        model, result, cfg = fit([c for j, c in enumerate(cases) if j not in held], config)
        card = model_card(cfg, result)
        for j in test_index:
            case = cases[j]
            truth = case.labels > 0
            if not truth.any():  # a normal image: no lesion to click
                continue
            clicks = deepest_points(truth)
            unet = predict_image(model, card, case.image, clicks=clicks) == 1
            found = {"unet": unet, "unet_flip_tta": predict_image(model, card, case.image, clicks=clicks,
                                                                  tta_axes=cfg["flip_axes"]) == 1,
                     "watershed": lesion_from_click(case.image, clicks, method="watershed") > 0,
                     "watershed_picked_by_unet": picked(case.image, clicks, unet)}
            per_case[case.name] = {m: dice(found[m], truth) for m in METHODS}
        names = [cases[j].name for j in test_index if cases[j].name in per_case]
        fold_rows.append({"fold": k + 1, "cases": names, "seconds": round(time.perf_counter() - start, 1),
                          **{m: float(np.mean([per_case[n][m] for n in names])) for m in METHODS}})
        print(json.dumps(fold_rows[-1]), flush=True)
    summary = {m: {"mean": float(np.mean([r[m] for r in per_case.values()])),
                   "median": float(np.median([r[m] for r in per_case.values()])),
                   "below_0_5": int(sum(r[m] < 0.5 for r in per_case.values())),
                   "fold_sd": float(np.std([f[m] for f in fold_rows], ddof=1))} for m in METHODS}
    out = {"method": " ".join(__doc__.split("\n\n")[2:4]).replace("\n", " "), "data": data["data"],
           "licence": data["licence"], "lesions": len(per_case), "folds": fold_rows, "per_case": per_case,
           "summary": summary, "command": "python scripts/busi_click_experiment.py"}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
