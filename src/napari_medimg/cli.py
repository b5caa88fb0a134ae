"""The ``napari-medimg`` command: info, run, features, demo, models, predict, train, anonymize, export-seg, export-sr, batch.

Starting it imports neither napari, Qt nor torch; ``demo`` imports napari only to
render or show the result.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

__all__ = ["main"]


def _cmd_info(args: argparse.Namespace) -> int:
    from . import read
    from .info import format_info, volume_info

    info = volume_info(read(args.path))
    print(json.dumps(info, indent=1) if args.json else format_info(info))
    return 0


def _parse_operation_values(operation, extra: list[str], paths: list[str] | None = None) -> dict[str, object]:
    """``--name value`` pairs after INPUT OUTPUT, checked against the operation's parameters.

    The file paths given for second inputs (labels, seeds) are appended to ``paths``.
    """
    values: dict[str, object] = {}
    items = list(extra)
    while items:
        key = items.pop(0)
        if not key.startswith("--"):
            raise ValueError(f"expected --parameter value, got {key!r}")
        key = key[2:]
        if "=" in key:
            key, value = key.split("=", 1)
        elif items:
            value = items.pop(0)
        else:
            raise ValueError(f"--{key} needs a value")
        parameter = operation.parameter(key.replace("-", "_"))
        if parameter.is_layer and paths is not None:
            paths.append(value)
        values[parameter.name] = parameter.convert(value)
    return values


def _cmd_run(args: argparse.Namespace, extra: list[str]) -> int:
    from .operations import OPERATIONS, get_operation

    if args.list:
        for op in OPERATIONS:
            print(op.name)
        return 0
    if not args.operation:
        raise SystemExit("napari-medimg run: give OPERATION INPUT OUTPUT, or --list")
    operation = get_operation(args.operation)
    if args.help_operation or not (args.input and args.output):
        print(f"{operation.name}: {operation.title} ({operation.input_kind} -> {operation.output_kind})")
        print(operation.description)
        for p in operation.parameters:
            flag = f"  --{p.name.replace('_', '-')}"
            if p.is_layer:
                print(f"{flag} PATH ({p.layer_kind} file, required): {p.help}")
            else:
                unit = f" {p.unit}" if p.unit else ""
                print(f"{flag} {p.type.__name__} (default {p.default}{unit}): {p.help}")
        return 0 if args.help_operation else 2
    from . import read, write
    from ._cli_outputs import check_output, write_table_output

    if operation.output_kind == "points" and not str(args.output).lower().endswith(".csv"):
        raise ValueError(f"{operation.name} gives points: write them to a .csv file, not {args.output}")
    inputs = [args.input]
    check_output(args.output, inputs, overwrite=args.overwrite)  # before any work is done
    values = _parse_operation_values(operation, extra, inputs)
    check_output(args.output, inputs, overwrite=args.overwrite)  # second inputs too
    result = operation.run(read(args.input), values)
    if operation.output_kind == "points":
        written = write_table_output(result.table(), args.output, overwrite=args.overwrite)
        summary = result.summary() if hasattr(result, "summary") else f"{len(result)} points"
        print(f"{operation.name}: wrote {len(result)} points to {written} ({summary})")
        return 0
    written = write(result, args.output, overwrite=args.overwrite)
    print(f"{operation.name}: wrote {written}")
    return 0


def _load_feature_settings(path: str | None) -> dict:
    """A pyradiomics parameter file as a ParameterSet; problems become ValueError with the file named."""
    from .analysis.radiomics import ParameterSet, load_settings

    if path is None:
        return ParameterSet({}, {}, {})  # pyradiomics defaults: binWidth 25, label 1, all but shape2D
    try:
        params = load_settings(path)
    except FileNotFoundError as exc:
        raise ValueError(str(exc)) from None
    except ValueError:
        raise
    except Exception as exc:  # yaml.YAMLError / json.JSONDecodeError: say where and why
        raise ValueError(f"cannot read the parameter file {path}: {exc}") from None
    other = sorted(set(params.image_types) - {"Original"})
    if other:
        raise ValueError(
            f"{path}: imageType {', '.join(other)} not supported; only Original is computed "
            "(remove the other image types)"
        )
    if params.image_types and "Original" not in params.image_types:
        raise ValueError(f"{path}: imageType does not enable Original, so nothing would be computed")
    return params


def _cmd_features(args: argparse.Namespace) -> int:
    import numpy as np

    from . import read
    from .io.csv_table import write_csv
    from .analysis.radiomics import ParameterSet, extract

    from ._cli_outputs import check_output, write_table_output, write_text_output

    if args.out:
        check_output(args.out, [p for p in (args.image, args.labels, args.config) if p], overwrite=args.overwrite)
    params = _load_feature_settings(args.config)
    image, labels = read(args.image), read(args.labels)
    if args.all_labels:
        array = np.asarray(labels.array)
        if array.size and np.issubdtype(array.dtype, np.number) and array.min() < 0:
            raise ValueError(f"{args.labels}: labels must not be negative")
        wanted = [int(v) for v in np.unique(array) if v != 0]
        if not wanted:
            raise ValueError(f"{args.labels}: the label image is empty (no voxel above 0)")
    else:
        wanted = [int(args.label) if args.label is not None else params.get("label", 1)]
    rows: list[dict[str, object]] = []
    for label in wanted:
        settings = ParameterSet({**params, "label": label}, params.feature_classes, params.image_types)
        try:
            values = extract(image, labels, settings)
        except ValueError as exc:
            if not args.all_labels:
                raise
            raise ValueError(f"label {label}: {exc}") from None
        rows.append({"image": args.image, "labels": args.labels, "label": label, **values})
    columns: dict[str, list[object]] = {}
    for row in rows:
        for key in row:
            columns.setdefault(key, [])
    for row in rows:
        for key, column in columns.items():
            column.append(row.get(key, float("nan")))
    if args.json:
        def clean(value: object) -> object:
            return None if isinstance(value, float) and not np.isfinite(value) else value

        text = json.dumps([{k: clean(v) for k, v in row.items()} for row in rows], indent=1)
        if args.out:
            write_text_output(text + "\n", args.out, overwrite=args.overwrite)
        else:
            print(text)
    elif args.out:
        write_table_output(columns, args.out, overwrite=args.overwrite)
    else:
        write_csv(columns, sys.stdout)
    if args.out:
        print(f"features: {len(rows)} row(s) x {len(columns) - 3} feature(s) -> {args.out}", file=sys.stderr)
    return 0


#: The demo's own output folder (the README's ``bash scripts/demo.sh`` writes there).
DEMO_FOLDER = "medimg-demo"


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    # The default folder is the demo's own: running the README's command again replaces
    # its earlier results. A folder given with --out is the user's: --overwrite to replace.
    own_folder = args.out is None
    out = Path(DEMO_FOLDER if own_folder else args.out)
    return run_demo(out, gui=args.gui, overwrite=own_folder or args.overwrite)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for documentation and tests)."""
    parser = argparse.ArgumentParser(prog="napari-medimg", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    info = sub.add_parser("info", help="geometry, value range and anomalies of an image or DICOM folder")
    info.add_argument("path")
    info.add_argument("--json", action="store_true", help="print JSON (ITK convention: x, y, z; LPS)")

    run = sub.add_parser(
        "run",
        help="run one registered operation: run OPERATION INPUT OUTPUT --param value",
        description="Run one operation. Parameters follow as --name value; "
        "`run OPERATION --help-operation` lists them.",
    )
    run.add_argument("operation", nargs="?")
    run.add_argument("input", nargs="?")
    run.add_argument("output", nargs="?")
    run.add_argument("--list", action="store_true", help="print the operation names, one a line")
    run.add_argument("--help-operation", action="store_true", help="describe OPERATION and its parameters")
    run.add_argument(
        "--overwrite", action="store_true", help="replace OUTPUT when it exists (never an input of the command)"
    )

    features = sub.add_parser(
        "features",
        help="radiomics features (pyradiomics 3.1.0 definitions) of a labelled ROI: "
        "features IMAGE LABELS --config SETTINGS.yaml --out FEATURES.csv",
        description="Compute radiomics features of IMAGE inside a label of LABELS, with pyradiomics' "
        "parameter-file format (setting: binWidth, binCount, resampledPixelSpacing, interpolator, "
        "normalize, normalizeScale, resegmentRange, force2D, force2Ddimension, label ...; featureClass: "
        "enabled classes with optional feature lists; imageType: Original). Without --config: "
        "pyradiomics' defaults (binWidth 25, label 1, all classes but shape2D). The output has one "
        "row per label with columns image, labels, label and original_<class>_<Feature> at full precision.",
    )
    features.add_argument("image", help="image file or DICOM folder")
    features.add_argument("labels", help="label image on the image's grid (or see correctMask / resampling)")
    features.add_argument(
        "--config", metavar="SETTINGS.yaml", help="pyradiomics parameter file (YAML or JSON)"
    )
    features.add_argument("--out", metavar="FEATURES.csv", help="output file (default: print to stdout)")
    which = features.add_mutually_exclusive_group()
    which.add_argument(
        "--label", type=int, help="label value to measure (overrides the file's setting label)"
    )
    which.add_argument("--all-labels", action="store_true", help="one row per label present in LABELS")
    features.add_argument("--json", action="store_true", help="write JSON (a list of rows) instead of CSV")
    features.add_argument(
        "--overwrite", action="store_true", help="replace --out when it exists (never an input of the command)"
    )

    from ._cli_dicom import add_parsers as add_dicom_parsers
    from ._cli_learn import add_parsers

    add_parsers(sub)
    add_dicom_parsers(sub)
    from ._cli_pipeline import add_parsers as add_pipeline_parsers

    add_pipeline_parsers(sub)
    demo = sub.add_parser("demo", help="the main job on the bundled chest CT")
    demo.add_argument(
        "--out",
        default=None,
        help=f"folder for the outputs (headless mode; default ./{DEMO_FOLDER}, whose earlier results are replaced)",
    )
    demo.add_argument(
        "--overwrite",
        action="store_true",
        help="replace earlier results in the --out folder (without it an existing result file is an error)",
    )
    demo.add_argument(
        "--gui",
        choices=("auto", "yes", "no"),
        default="auto",
        help="open napari (yes), run headless (no), or open napari only when a display exists (auto)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``napari-medimg`` command."""
    from .io.errors import ImageReadError, ImageWriteError

    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "run":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        if args.command == "info":
            return _cmd_info(args)
        if args.command == "run":
            return _cmd_run(args, extra)
        if args.command == "features":
            return _cmd_features(args)
        if args.command in ("models", "predict", "train", "generate"):
            from . import _cli_learn

            return getattr(_cli_learn, f"cmd_{args.command}")(args)
        if args.command == "batch":
            from ._cli_pipeline import cmd_batch

            return cmd_batch(args)
        if args.command in ("anonymize", "export-seg", "export-sr"):
            from . import _cli_dicom

            return getattr(_cli_dicom, f"cmd_{args.command.replace('-', '_')}")(args)
        return _cmd_demo(args)
    except MemoryError:
        print(
            f"napari-medimg {args.command}: error: not enough memory; use a smaller image or region, "
            "or parameters that make a smaller result",
            file=sys.stderr,
        )
        return 1
    except (ImageReadError, ImageWriteError, KeyError, ValueError, OSError, RuntimeError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        if isinstance(exc, OSError):  # name the file and the cause, never a traceback
            import errno

            from .io.atomic import os_error_message

            if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
                message = os_error_message(exc, Path(exc.filename or "."))
            elif exc.filename:
                message = f"{exc.filename}: {exc.strerror or exc}"
        if isinstance(exc, RuntimeError):  # SimpleITK: its last non-empty line says what went wrong
            lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
            message = lines[-1] if lines else repr(exc)
        print(f"napari-medimg {args.command}: error: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
