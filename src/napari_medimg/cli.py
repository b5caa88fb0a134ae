"""The ``napari-medimg`` command: info, run, demo.

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


def _parse_operation_values(operation, extra: list[str]) -> dict[str, object]:
    """``--name value`` pairs after INPUT OUTPUT, checked against the operation's parameters."""
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
        values[key.replace("-", "_")] = operation.parameter(key.replace("-", "_")).convert(value)
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

    values = _parse_operation_values(operation, extra)
    result = operation.run(read(args.input), values)
    written = write(result, args.output)
    print(f"{operation.name}: wrote {written}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(Path(args.out), gui=args.gui)


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

    demo = sub.add_parser("demo", help="the main job on the bundled chest CT")
    demo.add_argument("--out", default="medimg-demo", help="folder for the outputs (headless mode)")
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
        return _cmd_demo(args)
    except (ImageReadError, ImageWriteError, KeyError, ValueError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"napari-medimg {args.command}: error: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
