"""The learned-model commands of ``napari-medimg``: ``models``, ``predict``, ``train``.

torch and MONAI are imported only when a command that needs them runs.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

__all__ = ["add_parsers", "cmd_models", "cmd_predict", "cmd_train"]


def add_parsers(sub) -> None:
    """Add ``models``, ``predict`` and ``train`` to the command's subparsers."""
    models = sub.add_parser("models", help="list the shipped models: name, task, input, validation figure")
    models.add_argument("--json", action="store_true", help="print the summaries as JSON")

    predict = sub.add_parser(
        "predict",
        help="segment with a learned model: predict MODEL INPUT OUTPUT",
        description="Segment INPUT (an image file, a DICOM folder, or a folder of images) with MODEL (a shipped "
        "model's name, see `napari-medimg models`, or a checkpoint file) and write labels in the source geometry "
        "to OUTPUT (a labels file; a folder when INPUT is a folder of images). A JSON sidecar with the class names "
        "is written beside each labels file.",
    )
    predict.add_argument("model", help="shipped model name or checkpoint (.safetensors) path")
    predict.add_argument("input", help="image file, DICOM folder or folder of images")
    predict.add_argument("output", help="labels file (.nii.gz, .nrrd, .mha, .png) or folder")
    predict.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda or mps")
    predict.add_argument("--overwrite", action="store_true", help="replace existing outputs (never an input)")

    train = sub.add_parser(
        "train",
        help="train a segmentation model: train CONFIG.yaml",
        description="Train a model as CONFIG.yaml describes (see napari_medimg.learn.experiment; data: csv with "
        "image and labels columns, or images and labels folders with matching names) and write the checkpoint "
        "and its model card. Prints progress.",
    )
    train.add_argument("config", help="YAML (or JSON) training config")
    train.add_argument("--out", help="checkpoint path (.safetensors); default: the config's output")
    train.add_argument("--folds", type=int, default=0, help="run k-fold cross-validation first and record it")
    train.add_argument("--overwrite", action="store_true", help="replace an existing checkpoint")


def cmd_models(args: argparse.Namespace) -> int:
    """Print one shipped model per line, its name first."""
    from .learn.registry import list_models

    rows = list_models()
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    for row in rows:
        print(f"{row['name']}\t{row['task']}\tinput: {row['input']}\tlabels: {row['classes']}\t{row['validation']}")
    return 0


def _image_files(folder: Path) -> list[Path]:
    """The readable image files directly in ``folder`` (not DICOM: a DICOM folder is one series)."""
    from .io.formats import PICTURE_EXTENSIONS, VOLUME_EXTENSIONS

    known = tuple(VOLUME_EXTENSIONS) + tuple(PICTURE_EXTENSIONS)
    return sorted(p for p in folder.iterdir() if p.is_file() and p.name.lower().endswith(known))


def _output_name(path: Path) -> str:
    """``case.nii.gz`` -> ``case.nii.gz``; ``photo.jpg`` -> ``photo.png`` (labels need a lossless format)."""
    from .io.formats import PICTURE_EXTENSIONS

    lower = path.name.lower()
    for ext in PICTURE_EXTENSIONS:
        if lower.endswith(ext):
            return path.name[: -len(ext)] + ".png"
    return path.name


def _write_labels(labels, output: Path, *, overwrite: bool) -> Path:
    from . import write
    from .io.label_map import sidecar_path

    written = write(labels, output, overwrite=overwrite)
    sidecar = sidecar_path(written)  # the class map napari-medimg's reader picks up
    if overwrite or not sidecar.exists():
        sidecar.write_text(json.dumps({"labels": labels.metadata.get("classes", [])}, indent=1) + "\n")
    return written


def cmd_predict(args: argparse.Namespace) -> int:
    """Predict labels for one image, a DICOM folder or a folder of images."""
    from . import read
    from ._cli_outputs import check_output
    from .learn.apply import predict_volume
    from .learn.device import choose_device
    from .learn.registry import load_model

    source = Path(args.input)
    files = _image_files(source) if source.is_dir() else []
    pairs = [(f, Path(args.output) / _output_name(f)) for f in files] if files else [(source, Path(args.output))]
    if files:
        Path(args.output).mkdir(parents=True, exist_ok=True)
    for inp, out in pairs:  # every output is checked before any work is done
        check_output(out, [inp], overwrite=args.overwrite)
    device, message = choose_device(args.device)
    model, card = load_model(args.model, device=device)
    print(f"predict: {card.get('name') or args.model}, {message}", flush=True)
    for inp, out in pairs:
        labels = predict_volume(model, card, read(inp), device=device)
        written = _write_labels(labels, out, overwrite=args.overwrite)
        counts = ", ".join(f"{c['name']} {int((labels.array == c['value']).sum())} voxels"
                           for c in labels.metadata["classes"])
        print(f"predict: {inp} -> {written} ({counts})", flush=True)
    return 0


def _config_cases(config: dict, base: Path):
    """Training cases from a config's ``data``: a CSV (image, labels[, spacing]) or two folders."""
    import csv

    from . import read
    from .learn.experiment import Case

    data = config.get("data") or {}
    if "csv" in data:
        table = (base / data["csv"]).resolve()
        with open(table, newline="") as handle:
            rows = list(csv.DictReader(handle))
        if not rows or not {"image", "labels"} <= set(rows[0]):
            raise ValueError(f"{table}: needs the columns image and labels")
        pairs = [((table.parent / r["image"]), (table.parent / r["labels"])) for r in rows]
    elif "images" in data and "labels" in data:
        images, labels = (base / data["images"]).resolve(), (base / data["labels"]).resolve()
        pairs = [(p, labels / p.name) for p in _image_files(images)]
        missing = [str(lab) for _, lab in pairs if not lab.exists()]
        if missing:
            raise ValueError(f"labels missing for {len(missing)} images, e.g. {missing[0]}")
    else:
        raise ValueError("the config's data needs csv: FILE or images: FOLDER and labels: FOLDER")
    if not pairs:
        raise ValueError("the config's data lists no case")
    cases = []
    for image_path, labels_path in pairs:
        image, labels = read(image_path), read(labels_path)
        if image.spatial_shape != labels.spatial_shape:
            raise ValueError(f"{labels_path}: shape {labels.spatial_shape} differs from its image's {image.spatial_shape}")
        cases.append(Case(image.array, labels.array, image.spacing, image_path.name))
    return cases


def cmd_train(args: argparse.Namespace) -> int:
    """Train from a config file and write the checkpoint and its card."""
    import sys

    import yaml

    from ._cli_outputs import check_output

    config_path = Path(args.config)
    try:
        config = yaml.safe_load(config_path.read_text())
    except yaml.YAMLError as exc:
        raise ValueError(f"{config_path}: not valid YAML ({exc})") from None
    if not isinstance(config, dict):
        raise ValueError(f"{config_path}: a training config is a mapping of settings")
    out = Path(args.out or config.get("output") or f"{config.get('name', 'model')}.safetensors")
    if out.suffix != ".safetensors":
        out = out.with_suffix(".safetensors")
    check_output(out, [config_path], overwrite=args.overwrite)
    from .learn.experiment import check_config, cross_validate, fit, model_card

    check_config({k: v for k, v in config.items() if k not in ("data", "output")})  # fail before reading data
    cases = _config_cases(config, config_path.parent)
    settings = {k: v for k, v in config.items() if k not in ("data", "output")}
    print(f"train: {len(cases)} cases from {config_path}", flush=True)
    validation = None
    if args.folds:
        validation = cross_validate(cases, settings, args.folds, log=lambda line: print(f"train: {line}", flush=True))
    last = [-1.0]

    def progress(fraction, history):
        if fraction - last[0] >= 0.05 or fraction >= 1.0:
            last[0] = fraction
            print(f"train: {fraction:4.0%}", flush=True)

    from .learn.checkpoint import save_checkpoint

    model, result, cfg = fit(cases, settings, progress=progress, log=lambda line: print(f"train: {line}", flush=True))
    card = model_card(cfg, result, training={"data": str(config.get("data")), "cases": len(cases)},
                      validation=validation, command=" ".join(["napari-medimg", *sys.argv[1:]]))
    written = save_checkpoint(out, None, card, state_dict=result.best_state)
    print(f"train: wrote {written} and its card {written.with_suffix('.json')} "
          f"({result.iterations} iterations, {result.seconds:.0f} s, stopped: {result.stopped})", flush=True)
    return 0

