"""Train the shipped models from ../shared/data, with their cross-validation.

Usage::

    python scripts/train_shipped_models.py cxr-lungs-heart [--folds 5] [--no-final] [--out DIR]
    python scripts/train_shipped_models.py busi-lesion
    python scripts/train_shipped_models.py brats-flair-tumour        # leave-one-case-out
    python scripts/train_shipped_models.py pneumonia-cnn             # image classifier

Each model's settings are in ``scripts/models/<name>.yaml`` and go through the same code as
``napari-medimg train`` (:mod:`napari_medimg.learn.experiment`). The script first runs k-fold
cross-validation over all development cases (each fold's model picks its best checkpoint on
cases held out of its own training folds, never on the fold it is scored on), then trains
the final model on all cases and writes ``<out>/<name>.safetensors`` and its card
(``.json``) with the per-fold figures, the data, the licence, the training time on this
machine and this command. ``--out`` defaults to the package's ``learn/models`` folder.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import yaml
from skimage import io, measure

# Threads that wait by sleeping, not spinning: on a shared 2-core machine spinning OpenMP
# threads made a training step six times slower (7.2 s against 1.2 s with another job running).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("NAPARI_MEDIMG_SHARED", ROOT.parent / "shared")) / "data"
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "scripts"))

from napari_medimg.learn.experiment import Case, cross_validate, fit, model_card  # noqa: E402


def _grey(path: Path) -> np.ndarray:
    image = io.imread(path)
    return image[..., :3].mean(-1).astype(np.float32) if image.ndim == 3 else image.astype(np.float32)


def cxr_cases() -> tuple[list[Case], dict]:
    """60 COVID-era radiographs (labels 1 right lung, 2 left lung, 3 heart outside the lungs)
    and 2 Montgomery radiographs (lungs only: split into right and left by side; the rest of
    the image is marked not annotated, as its heart is not drawn)."""
    root = DATA / "xray/cxr_lungs_covid"
    cases = []
    with open(root / "index.csv") as handle:
        for row in csv.DictReader(handle):
            cases.append(Case(_grey(root / row["image"]), io.imread(root / row["labels"]).astype(np.uint8),
                              (1.0, 1.0), f"covid/{row['id']}"))
    mont = DATA / "xray/cxr_lungs_montgomery"
    for image_path in sorted((mont / "images").glob("*.jpg")):
        mask = io.imread(mont / "masks" / f"{image_path.stem}-mask.png") > 0
        components = measure.label(mask)
        labels = np.full(mask.shape, 255, np.uint8)
        for region in measure.regionprops(components):
            # patient's right lung is on the image's left in a frontal view
            labels[components == region.label] = 1 if region.centroid[1] < mask.shape[1] / 2 else 2
        cases.append(Case(_grey(image_path), labels, (1.0, 1.0), f"montgomery/{image_path.stem}"))
    data = {"data": "60 radiographs of ../shared/data/xray/cxr_lungs_covid (radiologists' lung masks and "
                    "heart-region labels, 512x512) + 2 of cxr_lungs_montgomery (manual lung masks)",
            "licence": "masks CC BY 4.0 (cxr_lungs_covid), image licences per row of its index.csv (many "
                       "CC BY-NC-SA); Montgomery set U.S. NLM (cite on use). The weights inherit the most "
                       "restrictive terms: non-commercial research use."}
    return cases, data


def busi_cases() -> tuple[list[Case], dict]:
    """34 BUSI breast-ultrasound images (benign, malignant, normal) with manual lesion masks."""
    root = DATA / "ultrasound/busi_breast"
    cases = []
    with open(root / "index.csv") as handle:
        for row in csv.DictReader(handle):
            mask = io.imread(root / "masks" / f"{row['id']}.png") > 0
            cases.append(Case(_grey(root / "images" / f"{row['id']}.png"), mask.astype(np.uint8), (1.0, 1.0),
                              f"{row['cls']}/{row['id']}"))
    data = {"data": "34 images of ../shared/data/ultrasound/busi_breast (13 benign, 15 malignant, 6 normal) "
                    "with manual lesion masks (BUSI, Al-Dhabyani et al. 2020)",
            "licence": "BUSI: licence not stated at the source; research use with citation"}
    return cases, data


def brats_cases() -> tuple[list[Case], dict]:
    """3 BraTS 2013 FLAIR volumes; whole tumour = any of the 4 expert tumour classes."""
    import SimpleITK as sitk

    cases = []
    for folder in sorted((DATA / "mr/brats_tumour").glob("brats_*")):
        flair = sitk.ReadImage(str(folder / "Flair_subtrMeanDivStd.nii.gz"))
        truth = sitk.GetArrayFromImage(sitk.ReadImage(str(folder / "OTMultiClass.nii.gz")))
        brain = sitk.GetArrayFromImage(sitk.ReadImage(str(folder / "brainmask.nii.gz"))) > 0
        image = sitk.GetArrayFromImage(flair).astype(np.float32) * brain  # background 0 (skull-stripped input)
        cases.append(Case(image, (truth > 0).astype(np.uint8), tuple(flair.GetSpacing()[::-1]), folder.name))
    data = {"data": "3 cases of ../shared/data/mr/brats_tumour (BRATS 2013 via DeepMedic: FLAIR, expert "
                    "4-class tumour labels merged to whole tumour, brain mask), 1 mm",
            "licence": "CC BY-NC-SA 3.0 CH (BRATS; cite Menze et al. 2015): non-commercial research use"}
    return cases, data


def busi_extra(model, card, cases) -> dict:
    """Lesion images' mean Dice and false-positive area on normal images (no lesion drawn)."""
    from napari_medimg.learn.apply import predict_image

    normals = [c for c in cases if c.name.startswith("normal/")]
    fp = [float((predict_image(model, card, c.image) > 0).mean()) for c in normals]
    return {"normal_images": len(normals), "normal_false_positive_fraction": float(np.mean(fp)) if fp else float("nan")}


def cxr_extra(model, card, cases) -> dict:
    """Both lungs as one field against the radiologists' lung mask (right and left together)."""
    from napari_medimg.learn.apply import predict_image
    from napari_medimg.learn.metrics import dice_counts, dice_scores

    scores = []
    for c in cases:
        pred = predict_image(model, card, c.image)
        truth = np.asarray(c.labels)
        merged_truth = np.where(truth == 255, 255, np.isin(truth, (1, 2))).astype(np.uint8)
        scores.append(dice_scores(dice_counts(np.isin(pred, (1, 2)).astype(np.uint8), merged_truth, 2))[1])
    return {"lungs_dice": float(np.mean(scores))}


def cxr_notes(cases, validation) -> list[str]:
    """Both lungs' Dice without the radiographs where a lung is not drawn (a white lung, left unmasked)."""
    drawn = [c.name for c in cases if {1, 2} <= set(np.unique(c.labels).tolist())]
    rows = [validation["per_case"][n] for n in drawn]
    figures = ", ".join(f"{k} {np.mean([r[k] for r in rows]):.3f} (median {np.median([r[k] for r in rows]):.3f})"
                        for k in ("right lung", "left lung"))
    return [f"{len(cases) - len(drawn)} radiographs have one lung not drawn (opacified); there any lung the model "
            f"finds scores 0. Over the {len(drawn)} with both lungs drawn: {figures}."]


def busi_click_notes(cases, validation) -> list[str]:
    """Per-image figures of the click model (normal images have no lesion to click and are not scored)."""
    scores = [row["lesion"] for row in validation["per_case"].values() if np.isfinite(row["lesion"])]
    return [f"Scored from one click at the deepest point of each lesion of the {len(scores)} images with a lesion "
            f"(the {len(cases) - len(scores)} normal images have none to click): mean {np.mean(scores):.3f}, median "
            f"{np.median(scores):.3f}, {sum(s < 0.5 for s in scores)} below 0.5. The classical watershed from the "
            "same clicks and a second training run of this config are compared in scripts/results/busi_click.json "
            "(python scripts/busi_click_experiment.py)."]


def save_shipped(args, card: dict, result) -> Path:
    """Write ``<out>/<name>.safetensors`` (the best weights), its JSON card and the card as Markdown."""
    from napari_medimg.learn.checkpoint import read_card, save_checkpoint
    from napari_medimg.learn.registry import card_markdown

    path = save_checkpoint(args.out / f"{args.name}.safetensors", None, card, state_dict=result.best_state)
    path.with_suffix(".md").write_text(card_markdown(read_card(path)))
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB) in {result.seconds:.0f} s", flush=True)
    return path


def pneumonia_images() -> tuple[dict, dict]:
    """PneumoniaMNIST's train and val splits (28x28 paediatric chest radiographs, 0 normal, 1 pneumonia)."""
    split = np.load(DATA / "classification/pneumoniamnist_train_val.npz")
    sets = {name: (split[f"{name}_images"], split[f"{name}_labels"].reshape(-1).astype(np.int64))
            for name in ("train", "val")}
    data = {"data": "PneumoniaMNIST (MedMNIST v2) train split (388 normal, 3494 pneumonia) and val split "
                    "(135 normal, 389 pneumonia) of ../shared/data/classification, 28x28",
            "licence": "CC BY 4.0 (MedMNIST v2, Yang et al. 2023; images from Kermany et al. 2018)"}
    return sets, data


CLASSIFIERS = {"pneumonia-cnn": pneumonia_images}  # name -> images with their labels


def train_landmarks(args, config: dict) -> int:
    """The chest radiograph landmark detector: landmarks from the human masks, k-fold CV, final model."""
    from napari_medimg.apps.chest_xray_landmarks import cardiothoracic_ratio, landmarks_from_labels
    from napari_medimg.learn.landmarks import cross_validate_landmarks, fit_landmarks, landmark_card

    cases, data = cxr_cases()
    images = [c.image for c in cases]
    points = np.stack([landmarks_from_labels(np.where(c.labels == 255, 0, c.labels)) for c in cases])
    print(f"{args.name}: {len(cases)} radiographs, {int(np.isfinite(points[..., 0]).sum())} landmarks", flush=True)
    k = args.folds or 5
    cv_path = args.out / f"{args.name}.cv.json"
    validation = json.loads(cv_path.read_text()) if cv_path.is_file() and args.no_cv else None

    def ratios(predicted, truth, _test) -> dict:
        found = np.array([cardiothoracic_ratio(p) for p in predicted])
        drawn = np.array([cardiothoracic_ratio(t) for t in truth])
        both = np.isfinite(found) & np.isfinite(drawn)
        return {"ctr_mean_abs_difference": float(np.mean(np.abs(found[both] - drawn[both]))),
                "ctr_cases": int(both.sum())}

    if not args.no_cv:
        start = time.perf_counter()
        cv = cross_validate_landmarks(images, points, config, k, names_of_cases=[c.name for c in cases],
                                      log=lambda line: print(line, flush=True), extra=ratios)
        predicted = np.array(cv.pop("predicted"))
        errors = np.sqrt(((predicted - points) ** 2).sum(-1))
        found = np.array([cardiothoracic_ratio(p) for p in predicted])
        drawn = np.array([cardiothoracic_ratio(t) for t in points])
        both = np.isfinite(found) & np.isfinite(drawn)
        validation = {"method": f"{k}-fold cross-validation over the {len(cases)} radiographs; each fold's model "
                                "keeps the weights with the lowest error on radiographs held out of its own "
                                "training folds. Errors in pixels of the 512x512 images (no pixel spacing is "
                                "known for them)", **cv, "seconds": round(time.perf_counter() - start, 1),
                      "pooled": {"median_error_px": float(np.nanmedian(errors)),
                                 "p90_error_px": float(np.nanpercentile(errors, 90)),
                                 "ctr_mean_abs_difference": float(np.mean(np.abs(found[both] - drawn[both]))),
                                 "ctr_correlation": float(np.corrcoef(found[both], drawn[both])[0, 1]),
                                 "ctr_from_masks_mean": float(np.mean(drawn[both])), "ctr_cases": int(both.sum())},
                      "notes": ["The heart region of these masks is the cardiomediastinum outside the lung masks "
                                "(which include lung behind the heart): its borders lie medial to the heart "
                                "silhouette and, low down, it spreads along the diaphragm, so the heart-border "
                                "landmarks are poorly defined (the largest errors) and the ratio (0.14-0.60 over "
                                "these masks, median 0.43) is not a clinical cardiothoracic ratio; landmarks and "
                                "masks are compared on the same definition."]}
        args.out.mkdir(parents=True, exist_ok=True)
        cv_path.write_text(json.dumps(validation, indent=1) + "\n")
        print("mean " + ", ".join(f"{n} {v:.2f} ± {cv['sd'][n]:.2f}" for n, v in cv["mean"].items())
              + f"; pooled {validation['pooled']}", flush=True)
    if args.no_final:
        return 0
    model, result, cfg = fit_landmarks(images, points, config, log=lambda line: print(line, flush=True))
    card = landmark_card(cfg, result, training={**data, "cases": len(cases), "machine": f"{os.cpu_count()}-core CPU"},
                         validation=validation, command=f"python scripts/train_shipped_models.py {args.name}")
    save_shipped(args, card, result)
    return 0


def train_tumour_slices(args, config: dict) -> int:
    """The CNN + GRU slice classifier (tumour in this slice?) on every sequence of scripts/slice_sequence_experiment.py.

    Its validation is that experiment's leave-one-patient-out run with the same settings
    (scripts/results/slice_sequence.json; re-made by ``python scripts/slice_sequence_experiment.py``).
    """
    from slice_sequence_experiment import sequences

    from napari_medimg.learn.sequence import DEFAULTS, fit_slice_model, slice_classifier_card

    experiment = json.loads((ROOT / "scripts/results/slice_sequence.json").read_text())
    settings = {key: ({**value, **config.get(key, {})} if isinstance(value, dict) else config.get(key, value))
                for key, value in DEFAULTS.items()}
    if experiment["iterations"] != settings["training"]["iterations"]:
        raise SystemExit("scripts/results/slice_sequence.json was made with other settings: run "
                         "scripts/slice_sequence_experiment.py first")
    volumes, targets, groups, names = sequences(settings["size"])
    print(f"{args.name}: {len(volumes)} sequences of {len(set(groups))} patients", flush=True)
    folds = experiment["folds"]
    validation = {"method": "leave one patient out over the 4 patients (" + experiment["method"].strip() + ")", "k": len(folds),
                  "metric": "F1 of the tumour slices",
                  "folds": [{"fold": i + 1, "cases": [f["patient"]], "f1": f["cnn_gru"],
                             "f1_cnn_per_slice": f["cnn_per_slice"]} for i, f in enumerate(folds)],
                  "mean": {"f1": experiment["summary"]["cnn_gru"]["mean_f1"]},
                  "sd": {"f1": float(np.std([f["cnn_gru"] for f in folds], ddof=1))},
                  "summary": experiment["summary"],
                  "notes": ["The per-slice CNN (the same encoder without the GRU) scored a mean F1 of "
                            f"{experiment['summary']['cnn_per_slice']['mean_f1']:.3f}; the GRU was better on "
                            f"{experiment['summary']['difference']['folds_gru_better']} of {len(folds)} patients, "
                            "but the interval of the difference includes 0 with four patients.",
                            "brain1 (not skull-stripped, 25 thick slices) scores 0.44: expect less on MR unlike "
                            "the skull-stripped BraTS volumes."]}
    model, result = fit_slice_model(volumes, targets, settings)
    card = slice_classifier_card(settings, result, name=args.name, task=config["task"], modality=config["modality"],
                                 class_names=config["classes"],
                                 training={"data": "the 19 slice sequences of scripts/slice_sequence_experiment.py: 3 "
                                                   "BraTS 2013 cases (FLAIR and T1c, axial, coronal and sagittal) and "
                                                   "pyradiomics' brain1 (T1 post-contrast, axial)",
                                           "licence": "BRATS CC BY-NC-SA 3.0 CH (non-commercial research use; cite "
                                                      "Menze et al. 2015); pyradiomics brain1 BSD-3",
                                           "volumes": len(volumes), "machine": f"{os.cpu_count()}-core CPU"},
                                 validation=validation, command=f"python scripts/train_shipped_models.py {args.name}")
    save_shipped(args, card, result)
    return 0


OWN_TRAINING = {"cxr-landmarks": train_landmarks, "brain-tumour-slices": train_tumour_slices}  # name -> its training


def train_classifier(args, config: dict) -> int:
    """Cross-validate over train + val, score a train-only model on val, then train on everything."""
    from napari_medimg.learn.classify import (classification_scores, classifier_card, cross_validate_classifier,
                                              fit_classifier, predict_proba)

    sets, data = CLASSIFIERS[args.name]()
    images = np.concatenate([sets["train"][0], sets["val"][0]])
    labels = np.concatenate([sets["train"][1], sets["val"][1]])
    k = args.folds or 5
    cv_path = args.out / f"{args.name}.cv.json"
    validation = json.loads(cv_path.read_text()) if cv_path.is_file() and args.no_cv else None
    if not args.no_cv:
        start = time.perf_counter()
        validation = cross_validate_classifier(images, labels, config, k, log=lambda line: print(line, flush=True))
        validation["method"] = (f"stratified {k}-fold cross-validation over train + val ({len(labels)} images); "
                                "each fold's model picks its epoch, temperature and bias (threshold) on images held out "
                                "of its own training folds")
        model, _, calibration, cfg = fit_classifier(*sets["train"], config, log=lambda line: print(line, flush=True))
        card = {"input": cfg["input"], "calibration": calibration.as_dict()}
        probabilities = predict_proba(model, card, sets["val"][0])
        validation["val_split"] = {"trained_on": "train split only",
                                   **classification_scores(sets["val"][1], probabilities)}
        validation["seconds"] = round(time.perf_counter() - start, 1)
        validation["notes"] = [
            "The val split is easier than new images: a descriptor + SVM classifier that scored 0.964 on it "
            "scored 0.843 on images outside both splits. Expect lower accuracy on radiographs from other "
            "hospitals. The probabilities are calibrated for equally likely classes (class-balanced "
            "temperature and bias), so the decision does not assume the training set's 9:1 pneumonia:normal ratio; "
            "ece is the calibration error on the images as they come, ece_balanced with each class weighing the same."]
        args.out.mkdir(parents=True, exist_ok=True)
        cv_path.write_text(json.dumps(validation, indent=1) + "\n")
        print("mean " + ", ".join(f"{n} {v:.4f} ± {validation['sd'][n]:.4f}" for n, v in validation["mean"].items())
              + f"; val split {validation['val_split']}", flush=True)
    if args.no_final:
        return 0
    model, result, calibration, cfg = fit_classifier(images, labels, config, log=lambda line: print(line, flush=True))
    card = classifier_card(cfg, result, calibration, training={**data, "images": int(len(labels)),
                                                               "machine": f"{os.cpu_count()}-core CPU"},
                           validation=validation, command=f"python scripts/train_shipped_models.py {args.name}")
    save_shipped(args, card, result)
    return 0


MODELS = {  # name -> (cases, folds, extra per-fold figures, notes from the per-case figures)
    "cxr-lungs-heart": (cxr_cases, 5, cxr_extra, cxr_notes),
    "busi-lesion": (busi_cases, 5, busi_extra, None),
    "busi-lesion-click": (busi_cases, 5, None, busi_click_notes),  # scored from a click at each lesion's deepest point
    "brats-flair-tumour": (brats_cases, 3, None, None),
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", choices=sorted([*MODELS, *CLASSIFIERS, *OWN_TRAINING]))
    parser.add_argument("--folds", type=int, default=None, help="cross-validation folds (default per model)")
    parser.add_argument("--no-cv", action="store_true", help="skip cross-validation")
    parser.add_argument("--no-final", action="store_true", help="skip the final model")
    parser.add_argument("--out", type=Path, default=ROOT / "src/napari_medimg/learn/models")
    parser.add_argument("--iterations", type=int, default=None, help="override (for a quick try)")
    args = parser.parse_args(argv)
    config = yaml.safe_load((ROOT / "scripts/models" / f"{args.name}.yaml").read_text())
    if args.iterations:
        config["training"]["iterations"] = args.iterations
    if args.name in CLASSIFIERS:
        return train_classifier(args, config)
    if args.name in OWN_TRAINING:
        return OWN_TRAINING[args.name](args, config)
    loader, default_folds, extra, notes = MODELS[args.name]
    cases, data = loader()
    print(f"{args.name}: {len(cases)} cases", flush=True)
    k = args.folds or default_folds
    cv_path = args.out / f"{args.name}.cv.json"
    validation = json.loads(cv_path.read_text()) if cv_path.is_file() and args.no_cv else None
    if not args.no_cv:
        start = time.perf_counter()
        cv = cross_validate(cases, config, k, log=lambda line: print(line, flush=True), extra_scores=extra)
        cv["seconds"] = round(time.perf_counter() - start, 1)
        validation = {"method": f"{k}-fold cross-validation over all {len(cases)} development cases"
                                + (" (leave one case out)" if k == len(cases) else "")
                                + ", scored on each case's own grid; checkpoints chosen on cases held out of "
                                  "the training folds", **cv}
        if notes is not None:
            validation["notes"] = notes(cases, validation)
        args.out.mkdir(parents=True, exist_ok=True)
        cv_path.write_text(json.dumps(validation, indent=1) + "\n")
        print("mean " + ", ".join(f"{n} {v:.3f} ± {cv['sd'][n]:.3f}" for n, v in cv["mean"].items()), flush=True)
    if args.no_final:
        return 0
    model, result, cfg = fit(cases, config, log=lambda line: print(line, flush=True))
    command = f"python scripts/train_shipped_models.py {args.name}" + (f" --folds {args.folds}" if args.folds else "")
    card = model_card(cfg, result, training={**data, "cases": len(cases),
                                             "machine": f"{os.cpu_count()}-core CPU"},
                      validation=validation, command=command)
    save_shipped(args, card, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
