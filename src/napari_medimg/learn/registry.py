"""The shipped models: checkpoints in the package's ``learn/models`` folder, found by name.

Each shipped model is ``models/<name>.safetensors`` with its card ``models/<name>.json``
(made by ``scripts/train_shipped_models.py``). Listing reads only the cards (no torch); a
model is loaded through :func:`.checkpoint.load_checkpoint`, which checks the card and the
weights' SHA-256 first. Nothing is downloaded.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

from .checkpoint import card_path, read_card
from .guidance import needs_clicks

__all__ = ["MODELS_DIR", "model_kind", "shipped_names", "automatic_segmentation_names", "model_summary", "list_models", "resolve", "load_model", "shipped_model", "card_markdown"]

MODELS_DIR = Path(__file__).resolve().parent / "models"


def model_kind(card: dict[str, Any]) -> str:
    """``"segmentation"``, ``"classifier"``, ``"slice_classifier"``, ``"landmarks"`` or ``"generator"``.

    Cards without a kind are segmentation models.
    """
    return card.get("kind", "segmentation")


def shipped_names(kind: str | None = None) -> list[str]:
    """Names of the shipped models (sorted), all of them or those of one ``kind``.

    Parameters
    ----------
    kind : {"segmentation", "classifier", "slice_classifier", "landmarks", "generator"}, optional
        Keep only models of this kind (read from their cards, no torch).
    """
    names = sorted(p.stem for p in MODELS_DIR.glob("*.safetensors"))
    if kind is None:
        return names
    return [name for name in names if model_kind(read_card(MODELS_DIR / f"{name}.json")) == kind]


def automatic_segmentation_names() -> list[str]:
    """The shipped segmentation models that need no click (those a layer can be segmented with as it is)."""
    return [n for n in shipped_names("segmentation") if not needs_clicks(read_card(MODELS_DIR / f"{n}.json"))]


#: figures of a classifier's validation, in the order shown
_CLASSIFIER_FIGURES = (("accuracy", "accuracy"), ("balanced_accuracy", "balanced accuracy"), ("auc", "AUC"),
                       ("ece", "ECE"))


def _figure(validation: dict, classes: list, kind: str = "segmentation") -> str:
    """A one-line validation figure: mean ± sd over the folds (each class's Dice, or a classifier's figures)."""
    if kind == "generator":
        chosen = validation.get("figures", {}).get(validation.get("chosen"), {})
        if not chosen:
            return "no quality figures recorded"
        floor = validation.get("real_floor", {})
        return (f"Fréchet distance {chosen['fid_classifier']:.3f} (classifier features; real images "
                f"{floor.get('fid_classifier', float('nan')):.3f}), KID {chosen['kid_classifier']:.3f}, precision "
                f"{chosen['precision']:.2f}, recall {chosen['recall']:.2f}, against {validation.get('reference', {}).get('images')} "
                "held-out images")
    mean, sd = validation.get("mean") or {}, validation.get("sd") or {}
    if not mean:
        return "no validation recorded"
    k = validation.get("k")
    if kind == "classifier":
        parts = [f"{label} {mean[key]:.3f} ± {sd.get(key, 0.0):.3f}" for key, label in _CLASSIFIER_FIGURES
                 if key in mean]
        return f"{', '.join(parts)} ({k}-fold CV)" if k else ", ".join(parts)
    if kind == "slice_classifier":
        return f"{validation.get('metric', 'F1')} {mean['f1']:.3f} ± {sd.get('f1', 0.0):.3f} ({k}-fold CV by patient)"
    if kind == "landmarks":
        parts = [f"mean error {mean['mean_error_px']:.1f} ± {sd.get('mean_error_px', 0.0):.1f} px"]
        if "ctr_mean_abs_difference" in mean:
            parts.append(f"cardiothoracic ratio within {mean['ctr_mean_abs_difference']:.3f} of the masks' "
                         "(mean absolute difference)")
        return f"{', '.join(parts)} ({k}-fold CV)" if k else ", ".join(parts)
    names = {c.get("name") for c in classes}
    parts = [f"{name} {value:.3f} ± {sd.get(name, 0.0):.3f}" for name, value in mean.items()
             if name in names or "dice" in name.lower()]
    return f"Dice {', '.join(parts)} ({k}-fold CV)" if k else f"Dice {', '.join(parts)}"


def model_summary(card: dict[str, Any]) -> dict[str, str]:
    """Name, task, input and validation figure of a model card, as short strings."""
    info = card.get("input", {})
    arch = card.get("architecture", {})
    kind = model_kind(card)
    if kind == "slice_classifier":
        how = f"volume, its {info.get('slices', 'axial')} slices at {'x'.join(map(str, info.get('size', [])))} in one sequence"
    elif kind in ("classifier", "landmarks"):
        how = f"2D image, whole image at {'x'.join(map(str, info.get('resize_to', [])))}"
    elif kind == "generator":
        how = f"makes {'x'.join(map(str, info.get('image_size', [])))} images ({card.get('method', '?')})"
    elif info.get("resize_to"):
        how = f"{arch.get('spatial_dims', '?')}D image, whole image at {'x'.join(map(str, info['resize_to']))}"
        how += " with a click on the object" if needs_clicks(card) else ""
    elif info.get("slice_axis") is not None:
        how = f"volume, slice by slice at {'x'.join(map(str, info.get('spacing', [])))} mm"
    else:
        how = f"{arch.get('spatial_dims', '?')}D at {'x'.join(map(str, info.get('spacing', [])))} mm"
    if kind in ("landmarks", "generator"):
        classes = ", ".join(c["name"] for c in card.get("classes", []))
    else:
        classes = ", ".join(f"{c['value']} = {c['name']}" for c in card.get("classes", [])
                            if c.get("value") or kind in ("classifier", "slice_classifier"))
    validation = card.get("validation", {})
    return {"name": card.get("name", ""), "kind": kind, "task": card.get("task", ""),
            "modality": card.get("modality", ""), "input": how, "classes": classes,
            "validation": _figure(validation, card.get("classes", []), kind)}


def list_models() -> list[dict[str, str]]:
    """Summaries of the shipped models (read from their cards)."""
    return [model_summary(read_card(MODELS_DIR / f"{name}.json")) for name in shipped_names()]


def resolve(name_or_path: str | os.PathLike) -> Path:
    """The checkpoint of a shipped model's name, or of a path to a checkpoint.

    Raises
    ------
    FileNotFoundError
        Neither a shipped name nor an existing checkpoint; the message lists the names.
    """
    text = os.fspath(name_or_path)
    if text in shipped_names():
        return MODELS_DIR / f"{text}.safetensors"
    path = Path(text).expanduser()
    if path.is_file() or card_path(path).is_file():
        return path
    names = ", ".join(shipped_names()) or "none installed"
    raise FileNotFoundError(f"{text}: not a shipped model ({names}) nor a checkpoint file")


def load_model(name_or_path: str | os.PathLike, device="cpu"):
    """Load a shipped model by name or a checkpoint by path: ``(model, card)``."""
    from .checkpoint import load_checkpoint

    return load_checkpoint(resolve(name_or_path), device=device)


@functools.lru_cache(maxsize=4)
def shipped_model(name: str):
    """A shipped model ``(model, card)`` on the CPU, loaded (and checked) once per session.

    Shared by the operations and recipes that run a shipped model; do not change the model.
    """
    return load_model(name)


def _provenance_lines(card: dict[str, Any], unit: str, more: str = "") -> list[str]:
    """A card's training data, licence, training run and re-make command, as Markdown list items."""
    training = card.get("training", {})
    return [f"- **Training data**: {training.get('data', 'not recorded').rstrip('.')}.",
            f"- **Licence**: {training.get('licence', 'not recorded').rstrip('.')}.",
            f"- **Training**: {training.get('iterations_run')} steps of {training.get('batch_size')} {unit}, "
            f"{training.get('seconds')} s on a {training.get('machine', 'CPU')}{more}.",
            f"- **Re-make**: `{card.get('command', '')}`."]


def card_markdown(card: dict[str, Any]) -> str:
    """A model card as readable Markdown (written beside a shipped model's JSON card).

    Parameters
    ----------
    card : dict
        A checkpoint's card (:func:`.checkpoint.read_card`).

    Returns
    -------
    str
        Task, input, classes, training data and licence, validation per fold, how to re-make it.
    """
    summary = model_summary(card)
    if summary["kind"] == "generator":
        return _generator_markdown(card, summary)
    training, validation = card.get("training", {}), card.get("validation", {})
    arch = card["architecture"]
    shape = (f"layers {arch.get('layers')}, widths {arch.get('block_inplanes')}" if summary["kind"] == "classifier"
             else f"features {arch.get('features')}, GRU {arch.get('hidden')} units each way"
             if summary["kind"] == "slice_classifier" else f"features {arch.get('features')}")
    unit = {"segmentation": "patches", "slice_classifier": "runs of slices"}.get(summary["kind"], "images")
    lines = [f"# {summary['name']}", "", summary["task"], "",
             f"- **Images**: {summary['modality']}; the model sees the {summary['input']}.",
             f"- **{'Landmarks' if summary['kind'] == 'landmarks' else 'Labels'}**: {summary['classes']}.",
             f"- **Network**: {'own' if arch['name'] == 'slice_sequence' else 'MONAI'} {arch['name']} "
             f"{arch['spatial_dims']}D, "
             f"{shape}, {card.get('weights', {}).get('bytes', 0) / 1e6:.1f} MB "
             "(safetensors; SHA-256 in the JSON card, checked before loading).",
             *_provenance_lines(card, unit, f"; augmentation {training.get('augment')}"), "", "## Validation", "",
             validation.get("method", "none recorded") + ".", ""]
    folds = validation.get("folds") or []
    if folds:
        keys = [k for k, v in folds[0].items() if k not in ("fold", "cases", "n")]
        header = []
        for key in keys:
            header += [f"{key} {n}" if key != "dice" else f"Dice {n}" for n in folds[0][key]] \
                if isinstance(folds[0][key], dict) else [key]
        lines += [f"| fold | {'images' if summary['kind'] == 'classifier' else 'cases'} | " + " | ".join(header) + " |", "|---" * (len(header) + 2) + "|"]
        for fold in folds:
            cells = []
            for key in keys:
                value = fold[key]
                cells += [f"{v:.3f}" for v in value.values()] if isinstance(value, dict) else [
                    f"{value:.0f}" if key == "seconds" else f"{value:.3f}" if isinstance(value, float) else str(value)]
            size = len(fold["cases"]) if "cases" in fold else fold.get("n", "")
            lines.append(f"| {fold['fold']} | {size} | " + " | ".join(cells) + " |")
        lines += ["", f"Mean ± sd over folds: {summary['validation']}.", ""]
    if validation.get("confusion"):
        names = [c["name"] for c in card.get("classes", [])]
        lines += ["Pooled out-of-fold confusion matrix (rows truth, columns predicted): "
                  + "; ".join(f"{names[i] if i < len(names) else i}: {row}" for i, row in enumerate(validation["confusion"]))
                  + ".", ""]
    if validation.get("pooled"):
        pooled = validation["pooled"]
        lines += ["Pooled over all radiographs: " + ", ".join(f"{key.replace('_', ' ')} {value:.3f}"
                                                            if isinstance(value, float) else f"{key.replace('_', ' ')} {value}"
                                                            for key, value in pooled.items()) + ".", ""]
    if validation.get("val_split"):
        v = validation["val_split"]
        lines += [f"On the val split, a model trained on the train split only: accuracy {v['accuracy']:.3f}, "
                  f"balanced accuracy {v['balanced_accuracy']:.3f}, AUC {v['auc']:.3f}, ECE {v['ece']:.3f} "
                  f"(n = {v['n']}; confusion {v['confusion']}).", ""]
    lines += [f"{note}" for note in validation.get("notes", [])] + ([""] if validation.get("notes") else [])
    return "\n".join(lines)


#: columns of a generator card's quality table: (key, heading, format)
_QUALITY_COLUMNS = (("fid_classifier", "FD (classifier)", "{:.3f}"), ("kid_classifier", "KID (classifier)", "{:.3f}"),
                    ("fid_rotation", "FD (rotation)", "{:.3f}"), ("kid_rotation", "KID (rotation)", "{:.3f}"),
                    ("precision", "precision", "{:.2f}"), ("recall", "recall", "{:.2f}"),
                    ("nn_ssim_mean", "NN-SSIM to training", "{:.3f}"), ("histogram_w1", "histogram W1", "{:.1f}"),
                    ("class_fidelity", "class fidelity", "{:.2f}"))


def _generator_markdown(card: dict[str, Any], summary: dict[str, str]) -> str:
    """The Markdown card of an image generator: what it makes, how it was trained, its quality table."""
    validation = card.get("validation", {})
    arch = card["architecture"]
    lines = [f"# {summary['name']}", "", summary["task"], "",
             f"- **Images**: {summary['modality']}; the model {summary['input']}.",
             f"- **Classes**: {summary['classes'] or 'none (unconditional)'}; without a class, samples follow the "
             f"training shares {[round(p, 3) for p in card.get('class_priors', [])]}.",
             f"- **Network**: {arch['name']} (this package's), features {arch.get('features')}, "
             f"{card.get('weights', {}).get('bytes', 0) / 1e6:.1f} MB (safetensors; SHA-256 in the JSON card).",
             f"- **Sampling**: {card.get('sampling')}.",
             *_provenance_lines(card, "images"), "", "## Quality", "",
             validation.get("method", "none recorded") + ".", ""]
    rows = [(f"**{name}** (generator)", scores) for name, scores in validation.get("figures", {}).items()]
    rows += [(f"{name.replace('_', ' ')} (baseline)", scores) for name, scores in validation.get("baselines", {}).items()]
    if validation.get("real_floor"):
        rows.append(("real training images (floor)", validation["real_floor"]))
    if rows:
        lines += ["| set | " + " | ".join(h for _, h, _ in _QUALITY_COLUMNS) + " |",
                  "|---" * (len(_QUALITY_COLUMNS) + 1) + "|"]
        for label, scores in rows:
            cells = [fmt.format(scores[key]) if isinstance(scores.get(key), (int, float)) else "-"
                     for key, _, fmt in _QUALITY_COLUMNS]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        lines.append("")
    if validation.get("chosen"):
        lines += [f"This model is the {validation['chosen']} one of the table.", ""]
    lines += [f"{note}" for note in validation.get("notes", [])]
    return "\n".join(lines) + "\n"
