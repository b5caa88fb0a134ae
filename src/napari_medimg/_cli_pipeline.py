"""The ``batch`` command: a workflow over a cohort on dask.distributed."""

from __future__ import annotations

import argparse

__all__ = ["add_parsers", "cmd_batch"]


def add_parsers(sub) -> None:
    """Add ``batch`` to the command's subparsers."""
    from .recipes import recipe_names

    batch = sub.add_parser(
        "batch",
        help="run a workflow on every case: batch WORKFLOW.yaml INPUTS OUTPUT_DIR [--workers N | --scheduler ADDRESS]",
        description="Run WORKFLOW (a YAML file, e.g. examples/workflows/ct_lungs.yaml, or a shipped recipe: "
        f"{', '.join(recipe_names())}, which also write a report per case) on every case of INPUTS: a "
        "folder (one case per DICOM series or image file, searched recursively), a glob, or a CSV with an 'image' "
        "column (further columns are extra inputs). Cases run in parallel on dask.distributed; each case's outputs "
        "go to OUTPUT_DIR/<case>/, one combined CSV per table, and OUTPUT_DIR/manifest.json records every case "
        "(status done / failed / skipped, its error, hashes, geometry, timings). A re-run skips finished cases. "
        "Exit status 0 when every case is done or skipped, 1 when some failed, 130 when stopped with Ctrl-C "
        "(the finished cases are kept; the same command goes on from there).",
    )
    batch.add_argument("workflow", help="workflow YAML file, or a shipped recipe's name")
    batch.add_argument("inputs", help="folder, glob pattern or CSV of cases")
    batch.add_argument("output", help="output folder")
    where = batch.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, help="worker processes of a local cluster (default: CPU count)")
    where.add_argument("--scheduler", metavar="ADDRESS", help="a running dask scheduler, e.g. tcp://10.0.0.5:8786")
    batch.add_argument("--memory-per-worker", metavar="SIZE",
                       help="memory each local worker may use, e.g. 4GB (default: the machine's memory / workers); "
                       "a case that needs more is refused with the figure")


def cmd_batch(args: argparse.Namespace) -> int:
    """Run ``batch``."""
    from .pipeline import find_cases, load_workflow, run_batch

    if args.workers is not None and args.workers < 1:
        raise ValueError("--workers must be at least 1")
    if args.memory_per_worker and args.scheduler:
        raise ValueError("--memory-per-worker applies to local workers; give the scheduler's workers --memory-limit")
    if args.memory_per_worker:
        from dask.utils import parse_bytes

        try:
            parse_bytes(args.memory_per_worker)
        except ValueError:
            raise ValueError(f"--memory-per-worker {args.memory_per_worker!r}: give a size such as 4GB or 1500MB") from None
    workflow = load_workflow(args.workflow)
    cases = find_cases(args.inputs)
    print(f"batch: {workflow.name}: {len(cases)} case(s) from {args.inputs}", flush=True)
    try:
        manifest = run_batch(workflow, cases, args.output, workers=args.workers, scheduler=args.scheduler,
                             memory_per_worker=args.memory_per_worker, say=lambda line: print(line, flush=True))
    except KeyboardInterrupt:  # run_batch has said what is kept; the shell's code for Ctrl-C
        return 130
    return 1 if manifest["summary"]["failed"] else 0
