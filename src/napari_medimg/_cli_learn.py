"""The learned-model commands of ``napari-medimg``: ``models``, ``predict``, ``train``, ``generate``.

torch and MONAI are imported only when a command that needs them runs.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import numpy as np

__all__ = ["add_parsers", "cmd_models", "cmd_predict", "cmd_train", "cmd_generate"]


def add_parsers(sub) -> None:
    """Add ``models``, ``predict``, ``train`` and ``generate`` to the command's subparsers."""
    models = sub.add_parser("models", help="list the shipped models: name, task, input, validation figure")
    models.add_argument("--json", action="store_true", help="print the summaries as JSON")

    predict = sub.add_parser(
        "predict",
        help="apply a learned model: predict MODEL INPUT OUTPUT",
        description="Apply MODEL (a shipped model's name, see `napari-medimg models`, or a checkpoint file) to "
        "INPUT. A segmentation model takes an image file, a DICOM folder or a folder of images and writes labels "
        "in the source geometry to OUTPUT (a labels file; a folder when INPUT is a folder of images), with a JSON "
        "sidecar of the class names beside each. A classifier takes an image file, a folder of images or an .npz "
        "of image stacks and writes OUTPUT as a CSV, one row per image: image, class, probability, then the "
        "probability of each class. A landmark detector takes an image file or a folder of images and writes a "
        "CSV, one row per landmark: image, class, confidence, world coordinates in mm (z_mm, y_mm, x_mm; y_mm, "
        "x_mm for 2D images), row, col.",
    )
    predict.add_argument("model", help="shipped model name or checkpoint (.safetensors) path")
    predict.add_argument("input", help="image file, DICOM folder, folder of images, or (classifiers) .npz stack")
    predict.add_argument("output", help="labels file (.nii.gz, .nrrd, .mha, .png) or folder; a .csv for a classifier or detector")
    predict.add_argument("--saliency", metavar="FOLDER",
                         help="classifiers: also write each image's Grad-CAM saliency map (PNG) to FOLDER")
    predict.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda or mps")
    predict.add_argument("--overwrite", action="store_true", help="replace existing outputs (never an input)")

    train = sub.add_parser(
        "train",
        help="train a model: train CONFIG.yaml",
        description="Train a model as CONFIG.yaml describes and write the checkpoint and its model card. Prints "
        "progress. A segmentation model (napari_medimg.learn.experiment; data: csv with image and labels columns, "
        "or images and labels folders with matching names); or, with kind: classifier, an image classifier "
        "(napari_medimg.learn.classify; data: csv with image and class columns, or npz with images and labels "
        "keys).",
    )
    train.add_argument("config", help="YAML (or JSON) training config")
    train.add_argument("--out", help="checkpoint path (.safetensors); default: the config's output")
    train.add_argument("--folds", type=int, default=0, help="run k-fold cross-validation first and record it")
    train.add_argument("--overwrite", action="store_true", help="replace an existing checkpoint")
    _add_generate_parser(sub)


def _add_generate_parser(sub) -> None:
    generate = sub.add_parser(
        "generate",
        help="synthesise images: generate MODEL --n N --out samples.npz",
        description="Sample N new images from an image generator (a shipped one, see `napari-medimg models`, e.g. "
        "pneumoniamnist-generator, or a checkpoint file) and write them to an .npz: images (N, H, W) in the "
        "training images' grey values, labels (N,) the class of each image, classes their names.",
    )
    generate.add_argument("model", help="shipped generator name or checkpoint (.safetensors) path")
    generate.add_argument("--n", type=int, required=True, help="how many images")
    generate.add_argument("--out", required=True, help="the .npz file to write")
    generate.add_argument("--class", dest="class_name", metavar="NAME",
                          help="generate this class only (default: the training set's class shares)")
    generate.add_argument("--seed", type=int, default=0, help="the same seed gives the same images")
    generate.add_argument("--steps", type=int, help="diffusion models: DDIM steps (default: the model card's)")
    generate.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda or mps")
    generate.add_argument("--overwrite", action="store_true", help="replace an existing output")


def cmd_generate(args: argparse.Namespace) -> int:
    """Write ``--n`` generated images to an .npz (``images``, ``labels``, ``classes``)."""
    from ._cli_outputs import check_output
    from .io.atomic import atomic_write
    from .learn.device import choose_device
    from .learn.generative.sample import load_generator, sample

    out = Path(args.out)
    if out.suffix.lower() != ".npz":
        raise ValueError(f"{out}: the output is an .npz file (images, labels, classes)")
    if args.n < 1:
        raise ValueError(f"--n must be at least 1, got {args.n}")
    if args.steps is not None and args.steps < 1:
        raise ValueError(f"--steps must be at least 1, got {args.steps}")
    check_output(out, [], overwrite=args.overwrite)
    device, message = choose_device(args.device)
    model, card = load_generator(args.model, device=device)
    print(f"generate: {card.get('name') or args.model} ({card.get('method')}), {message}", flush=True)
    shown = [0]

    def progress(fraction: float) -> None:  # a line every 10 %: a long diffusion run is not silent
        tenth = int(fraction * 10 + 1e-9)
        if tenth > shown[0]:
            shown[0] = tenth
            print(f"generate: {10 * tenth} %", flush=True)

    images, labels = sample(model, card, args.n, class_name=args.class_name, seed=args.seed, steps=args.steps,
                            device=device, progress=progress)
    classes = np.array([c["name"] for c in card.get("classes", [])], dtype=str)
    arrays = {"images": images, "classes": classes}
    if labels is not None:
        arrays["labels"] = labels.astype(np.uint8 if len(classes) <= 255 else np.int64)
    atomic_write(out, lambda p: np.savez_compressed(p, **arrays), overwrite=args.overwrite)
    counts = ", ".join(f"{name} {int((labels == i).sum())}" for i, name in enumerate(classes)) if labels is not None else ""
    print(f"generate: {len(images)} images of {images.shape[1]}x{images.shape[2]} -> {out}"
          + (f" ({counts})" if counts else ""), flush=True)
    return 0


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
    from .io.formats import image_files

    return image_files(folder)


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


def _classifier_inputs(source: Path):
    """``(name, image)`` pairs to classify: an image file, a folder of images, or an .npz of stacks.

    In an .npz every array of shape ``(n, y, x)`` or ``(n, y, x, channels)`` is a stack of images
    named ``file.npz:key[i]``; other arrays (labels, say) are left out.
    """
    from . import read

    if source.is_dir():
        files = _image_files(source)
        if not files:
            raise ValueError(f"{source}: no image files in this folder")
        for path in files:
            yield path.name, np.squeeze(read(path).array)
    elif source.name.lower().endswith(".npz"):
        with np.load(source, allow_pickle=False) as stacks:
            keys = [k for k in stacks.files if stacks[k].ndim == 3 or (stacks[k].ndim == 4 and stacks[k].shape[-1] in (1, 3, 4))]
            if not keys:
                raise ValueError(f"{source}: no image stack (n, y, x) in it; arrays: "
                                 + ", ".join(f"{k} {stacks[k].shape}" for k in stacks.files))
            for key in keys:
                for i, image in enumerate(stacks[key]):
                    yield f"{source.name}:{key}[{i}]", image
    else:
        yield source.name, np.squeeze(read(source).array)


def _predict_classes(model, card: dict, args: argparse.Namespace, device) -> int:
    """Classify INPUT's images into a CSV (and saliency maps with ``--saliency``)."""
    import csv

    from ._cli_outputs import check_output
    from .learn.classify import grad_cam, predict_proba

    source, output = Path(args.input), Path(args.output)
    if output.suffix.lower() != ".csv":
        raise ValueError(f"{output}: a classifier writes a CSV table; give an OUTPUT ending in .csv")
    check_output(output, [source], overwrite=args.overwrite)
    saliency = Path(args.saliency) if args.saliency else None
    if saliency is not None:
        saliency.mkdir(parents=True, exist_ok=True)
    names = [c["name"] for c in card["classes"]]
    rows = []
    batch: list = []

    def flush() -> None:
        probabilities = predict_proba(model, card, [image for _, image in batch], device=device)
        for (name, image), p, c in zip(batch, probabilities, probabilities.argmax(1)):
            rows.append([name, names[c], f"{p[c]:.6f}", *(f"{v:.6f}" for v in p)])
            if saliency is not None:
                _write_saliency(grad_cam(model, card, image, target=int(c), device=device), saliency, name,
                                overwrite=args.overwrite)
        batch.clear()

    for name, image in _classifier_inputs(source):
        batch.append((name, image))
        if len(batch) == 256:
            flush()
    if batch:
        flush()
    with open(output, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image", "class", "probability", *names])
        writer.writerows(rows)
    counts = ", ".join(f"{n} {sum(r[1] == n for r in rows)}" for n in names)
    print(f"predict: {len(rows)} images -> {output} ({counts})", flush=True)
    return 0


def _predict_landmarks(model, card: dict, args: argparse.Namespace, device) -> int:
    """Landmarks of an image file or a folder of images into a CSV of world coordinates."""
    import csv

    from . import read
    from ._cli_outputs import check_output
    from .learn.landmarks import landmarks_on_volume

    source, output = Path(args.input), Path(args.output)
    if output.suffix.lower() != ".csv":
        raise ValueError(f"{output}: a landmark detector writes a CSV table; give an OUTPUT ending in .csv")
    if args.saliency:
        raise ValueError("--saliency is for classifiers")
    check_output(output, [source], overwrite=args.overwrite)
    files = _image_files(source) if source.is_dir() else [source]
    if not files:
        raise ValueError(f"{source}: no image files in this folder")
    names = [c["name"] for c in card["classes"]]
    rows, axes = [], None
    for path in files:
        volume = read(path)
        index, world, confidence = landmarks_on_volume(model, card, volume, device=device)
        axes = axes or ("z_mm", "y_mm", "x_mm")[-world.shape[1]:]
        if len(axes) != world.shape[1]:
            raise ValueError(f"{path}: a {world.shape[1]}D image among {len(axes)}D ones; predict them apart")
        for name, w, i, c in zip(names, world, index, confidence):
            rows.append([path.name, name, f"{c:.4f}", *(f"{v:.3f}" for v in w), f"{i[0]:.2f}", f"{i[1]:.2f}"])
    with open(output, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image", "class", "confidence", *axes, "row", "col"])
        writer.writerows(rows)
    print(f"predict: {len(rows)} landmarks of {len(files)} image(s) -> {output}", flush=True)
    return 0


def _predict_slice_classes(model, card: dict, args: argparse.Namespace, device) -> int:
    """Classify every slice of a volume (a file or a DICOM folder) into a CSV, a row per slice.

    The columns are those of an image classifier's CSV; ``image`` names the slice as
    ``file:slice[i]`` (``i`` the volume's own array index along its axis nearest to axial).
    """
    import csv

    from . import read
    from ._cli_outputs import check_output
    from .learn.sequence import classify_volume_slices

    source, output = Path(args.input), Path(args.output)
    if output.suffix.lower() != ".csv":
        raise ValueError(f"{output}: a slice classifier writes a CSV table; give an OUTPUT ending in .csv")
    if args.saliency:
        raise ValueError("--saliency is for image classifiers")
    check_output(output, [source], overwrite=args.overwrite)
    result = classify_volume_slices(model, card, read(source), device=device)
    table = result.table()
    with open(output, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image", "class", "probability", *result.class_names])
        for i in range(len(table["slice"])):
            writer.writerow([f"{source.name}:slice[{i}]", table["class"][i], f"{table['probability'][i]:.6f}",
                             *(f"{table[n][i]:.6f}" for n in result.class_names)])
    print(f"predict: {len(table['slice'])} slices -> {output} ({result.summary()})", flush=True)
    return 0


def _write_saliency(cam, folder: Path, name: str, *, overwrite: bool) -> None:
    """A saliency map in [0, 1] as an 8-bit PNG named after its image."""
    from skimage import io

    from ._cli_outputs import check_output

    stem = name if ":" in name else name.rsplit(".", 1)[0]  # "stack.npz:key[3]" or "image.png"
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("_")
    path = check_output(folder / f"{stem}.saliency.png", [], overwrite=overwrite)
    io.imsave(path, (np.clip(cam, 0, 1) * 255).astype(np.uint8), check_contrast=False)


def cmd_predict(args: argparse.Namespace) -> int:
    """Predict labels for one image, a DICOM folder or a folder of images; or classify images."""
    from . import read
    from ._cli_outputs import check_output
    from .learn.apply import predict_volume
    from .learn.device import choose_device
    from .learn.registry import load_model, model_kind, resolve
    from .learn.checkpoint import read_card

    kind = model_kind(read_card(resolve(args.model)))
    if kind == "generator":
        raise ValueError(f"{args.model} is an image generator, it predicts nothing: "
                         f"napari-medimg generate {args.model} --n N --out samples.npz")
    tables = {"classifier": _predict_classes, "landmarks": _predict_landmarks,
              "slice_classifier": _predict_slice_classes}  # models that write a CSV
    if kind in tables:
        device, message = choose_device(args.device)
        model, card = load_model(args.model, device=device)
        print(f"predict: {card.get('name') or args.model}, {message}", flush=True)
        return tables[kind](model, card, args, device)
    if args.saliency:
        raise ValueError("--saliency is for classifiers; a segmentation model writes labels")
    from .learn.guidance import needs_clicks

    if needs_clicks(read_card(resolve(args.model))):
        raise ValueError(f"{args.model} segments the object you click on and predict takes no clicks: for breast "
                         "lesions run napari-medimg run breast_lesion_from_click IMAGE OUT --seeds CLICKS.csv; from "
                         "Python, napari_medimg.learn.apply.predict_image(model, card, image, clicks=...)")
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


def _config_images(config: dict, base: Path) -> tuple[list, np.ndarray, list[str]]:
    """A classifier's training images: a CSV (image, class) or an .npz (``images`` and ``labels`` keys).

    Returns the images, their class indices and the class names (the config's ``classes``, or
    the CSV's class names in sorted order).
    """
    import csv

    from . import read

    data = config.get("data") or {}
    names = config.get("classes")
    names = [c["name"] if isinstance(c, dict) else str(c) for c in names] if names else None
    if "csv" in data:
        table = (base / data["csv"]).resolve()
        with open(table, newline="") as handle:
            rows = list(csv.DictReader(handle))
        if not rows or not {"image", "class"} <= set(rows[0]):
            raise ValueError(f"{table}: needs the columns image and class")
        names = names or sorted({r["class"] for r in rows})
        unknown = sorted({r["class"] for r in rows} - set(names))
        if unknown:
            raise ValueError(f"{table}: classes {unknown} are not among the config's classes {names}")
        images = [np.squeeze(read(table.parent / r["image"]).array) for r in rows]
        return images, np.array([names.index(r["class"]) for r in rows], np.int64), names
    if "npz" in data:
        path = (base / data["npz"]).resolve()
        with np.load(path, allow_pickle=False) as arrays:
            keys = data.get("images", "images"), data.get("labels", "labels")
            missing = [k for k in keys if k not in arrays.files]
            if missing:
                raise ValueError(f"{path}: no array {missing[0]!r} (it holds {', '.join(arrays.files)})")
            images, labels = arrays[keys[0]], arrays[keys[1]].reshape(-1).astype(np.int64)
        return images, labels, names or [f"class {c}" for c in range(int(labels.max()) + 1)]
    raise ValueError("a classifier config's data needs csv: FILE (columns image, class) or npz: FILE "
                     "(with images: KEY and labels: KEY)")


def _train_classifier(config: dict, config_path: Path, out: Path, args: argparse.Namespace) -> int:
    """``train`` for a config with ``kind: classifier``: optional k-fold CV, then the final model."""
    import sys

    from .learn.checkpoint import save_checkpoint
    from .learn.classify import check_classifier_config, classifier_card, cross_validate_classifier, fit_classifier

    settings = {k: v for k, v in config.items() if k not in ("data", "output")}
    check_classifier_config(settings)  # fail before reading data
    images, labels, names = _config_images(config, config_path.parent)
    settings["classes"] = names
    print(f"train: {len(labels)} images of {len(names)} classes from {config_path}", flush=True)
    validation = None
    if args.folds:
        validation = cross_validate_classifier(images, labels, settings, args.folds,
                                               log=lambda line: print(f"train: {line}", flush=True))
    model, result, calibration, cfg = fit_classifier(images, labels, settings,
                                                     log=lambda line: print(f"train: {line}", flush=True))
    card = classifier_card(cfg, result, calibration, training={"data": str(config.get("data")), "images": len(labels)},
                           validation=validation, command=" ".join(["napari-medimg", *sys.argv[1:]]))
    written = save_checkpoint(out, None, card, state_dict=result.best_state)
    print(f"train: wrote {written} and its card {written.with_suffix('.json')} "
          f"({result.iterations} iterations, {result.seconds:.0f} s, stopped: {result.stopped})", flush=True)
    return 0


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
    if config.get("kind") == "classifier":
        return _train_classifier(config, config_path, out, args)
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

