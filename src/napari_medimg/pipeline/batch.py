"""Run a workflow over many cases on dask.distributed, losing nothing when a case breaks.

Each case runs in a worker process (:func:`run_case`): its outputs go to
``OUTPUT/<case id>/`` (images and labels as ``.nii.gz`` in the source geometry, tables and
points as ``.csv``), written atomically, and last a ``case.json`` record (status, error,
input and output hashes, geometry, timings). A case whose record says *done* for the same
input and workflow is skipped on a re-run; failed and unfinished cases run again. The driver
writes ``OUTPUT/manifest.json`` after every finished case, so an interrupted batch leaves a
complete account of what was done, and one combined table per table output.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import shutil
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from ..io.provenance import software_versions
from ..progress import OperationCancelled, check_cancel, report
from .cases import Case, file_sha256, input_digest
from .workflow import Workflow

__all__ = ["run_batch", "run_case", "MANIFEST", "CASE_RECORD"]

MANIFEST = "manifest.json"
CASE_RECORD = "case.json"


def _write_json(path: Path, data: Any) -> None:
    from ..io.atomic import atomic_write

    text = json.dumps(data, indent=1, default=str)
    atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"), overwrite=True)


def _geometry(volume: Any) -> dict[str, Any]:
    return {"shape": list(volume.array.shape), "spacing_mm": list(volume.spacing), "origin_mm": list(volume.origin),
            "dtype": str(volume.array.dtype)}


def _worker_memory_limit() -> int | None:
    """The memory limit of the dask worker running this task (None outside a worker or unlimited)."""
    try:
        from distributed import get_worker

        limit = get_worker().memory_manager.memory_limit
    except (ImportError, ValueError, AttributeError):
        return None
    return int(limit) if limit else None


def run_case(workflow_data: dict, case_data: dict, output_dir: str) -> dict:
    """Run the workflow on one case in a worker; write its outputs and its record; return the record.

    Never raises for a bad case: the error is in the record (``status`` "failed"). The worker's
    memory limit bounds every budget check (:func:`napari_medimg.budget.set_memory_ceiling`):
    a case that would not fit is refused with the figures before the worker runs out.
    """
    from ..io.csv_table import write_csv
    from ..budget import format_bytes, set_memory_ceiling
    from ..io import read, write

    case = Case(**case_data)
    folder = Path(output_dir) / case.id
    record: dict[str, Any] = {
        "id": case.id, "input": case.path, "series": case.series, "status": "failed", "error": None,
        "input_sha256": None, "workflow_sha256": None, "outputs": {}, "seconds": None,
        "worker": f"{platform.node()}:{os.getpid()}",
    }
    memory_limit = _worker_memory_limit()
    set_memory_ceiling(memory_limit)
    record["worker_memory_limit"] = None if memory_limit is None else format_bytes(memory_limit)
    start = time.perf_counter()
    try:
        workflow = Workflow.from_dict(workflow_data)
        record["workflow_sha256"] = workflow.digest
        record["input_sha256"] = input_digest(case)
        for scratch in folder.glob(".*.partial"):  # left by a worker killed mid-write: never an output
            shutil.rmtree(scratch, ignore_errors=True)
        image = read(case.path, series_uid=case.series) if case.series else read(case.path)
        image.metadata["source_sha256"] = record["input_sha256"]  # into each output's provenance
        record["geometry"] = _geometry(image)
        result = workflow.run(image, case.extras)
        folder.mkdir(parents=True, exist_ok=True)
        for name, volume in result.volumes.items():
            path = write(volume, folder / f"{name}.nii.gz", overwrite=True, allow_geometry_loss=True)
            record["outputs"][name] = {"path": f"{case.id}/{path.name}", "sha256": file_sha256(path)}
        for name, table in result.tables.items():
            path = write_csv(table, folder / f"{name}.csv", overwrite=True)
            record["outputs"][name] = {"path": f"{case.id}/{path.name}", "sha256": file_sha256(path)}
        if workflow.report is not None:  # a recipe: its one-page report of this study
            from .report import REPORT_PDF, write_report

            path = write_report(workflow, result, folder, source_sha256=record["input_sha256"])
            for key, page in (("report", path), ("report_pdf", path.with_name(REPORT_PDF))):
                record["outputs"][key] = {"path": f"{case.id}/{page.name}", "sha256": file_sha256(page)}
        record["step_seconds"] = {k: round(v, 3) for k, v in result.seconds.items()}
        record["status"] = "done"
    except Exception as exc:  # noqa: BLE001 - one broken case must not stop the batch
        record["error"] = f"{type(exc).__name__}: {exc}"
        if memory_limit is not None and "memory" in str(exc):
            record["error"] += (f" (this worker may use {format_bytes(memory_limit)}: run fewer workers with more "
                                "memory each, --memory-per-worker)")
        record["traceback"] = traceback.format_exc(limit=4)
    record["seconds"] = round(time.perf_counter() - start, 3)
    _write_json(folder / CASE_RECORD, record)  # last: its presence says the case finished
    return record


def thread_share(workers: int) -> int:
    """Threads each of ``workers`` local workers may use: its share of the cores (at least 1).

    One worker uses every core, as a plain process does; two on two cores use one each, so
    that the workers do not fight over the cores. ``$NAPARI_MEDIMG_THREADS`` bounds it further.
    """
    from ..progress import default_workers

    return max(1, default_workers() // max(1, workers))


def _local_cluster(n: int, memory_per_worker: str | int | None) -> Any:
    """``n`` worker processes, one case at a time each, with their share of the cores; Ctrl-C left to the driver."""
    import signal
    import threading

    from distributed import LocalCluster

    from ..progress import THREADS_VARIABLE

    share = str(thread_share(n))  # operations' thread pools, and the numeric libraries' (dask sets 1)
    env = {THREADS_VARIABLE: share, "OMP_NUM_THREADS": share, "OPENBLAS_NUM_THREADS": share, "MKL_NUM_THREADS": share,
           "ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS": share}

    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if main else None  # inherited by the spawned workers
    try:
        return LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                            silence_logs=40, memory_limit=memory_per_worker or "auto", env=env)
    finally:
        if main:
            signal.signal(signal.SIGINT, previous)


def _finished(case: Case, output_dir: Path, workflow_sha: str) -> dict | None:
    """The record of a case done earlier with the same workflow and input, else None."""
    path = output_dir / case.id / CASE_RECORD
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if record.get("status") != "done" or record.get("workflow_sha256") != workflow_sha:
        return None
    if record.get("input_sha256") != input_digest(case):
        return None
    outputs_there = all((output_dir / o["path"]).is_file() for o in record.get("outputs", {}).values())
    return record if outputs_there else None


def _combined_tables(output_dir: Path, records: list[dict]) -> list[Path]:
    """One CSV per table output with a ``case`` column first (cases in batch order)."""
    import csv

    by_name: dict[str, list[tuple[str, Path]]] = {}
    for record in records:
        if record["status"] not in ("done", "skipped"):
            continue
        for name, output in record.get("outputs", {}).items():
            if output["path"].endswith(".csv"):
                by_name.setdefault(name, []).append((record["id"], output_dir / output["path"]))
    written = []
    for name, parts in by_name.items():
        rows, header = [], ["case"]
        for case_id, path in parts:
            with open(path, newline="", encoding="utf-8") as handle:
                for row in csv.DictReader(handle):
                    rows.append({"case": case_id, **row})
                    header += [k for k in row if k not in header]
        from ..io.atomic import atomic_write

        def _write(p: Path, rows=rows, header=header) -> None:
            with open(p, "w", newline="", encoding="utf-8") as handle:
                writer = csv.DictWriter(handle, fieldnames=header)
                writer.writeheader()
                writer.writerows(rows)

        written.append(atomic_write(output_dir / f"{name}.csv", _write, overwrite=True))
    return written


def _collect(client: Any, workflow: Workflow, todo: list[Case], output_dir: Path, records: dict[str, dict], *,
             say: Callable[[str], None], progress: Callable[[float], None] | None,
             cancel: Callable[[], Any] | None, saved: Callable[[], None]) -> None:
    """Submit every case and record each as it finishes; a cancel is checked twice a second."""
    from distributed import wait

    data, digest = workflow.to_dict(), workflow.digest
    futures = [client.submit(run_case, data, dataclasses.asdict(c), str(output_dir), key=f"case-{c.id}-{digest[:8]}",
                             pure=False) for c in todo]
    case_of = {future.key: case for future, case in zip(futures, todo)}
    pending, done = set(futures), 0
    try:
        while pending:
            check_cancel(cancel)
            try:
                finished, pending = wait(pending, timeout=0.5, return_when="FIRST_COMPLETED")
            except TimeoutError:
                continue
            for future in sorted(finished, key=futures.index):
                done += 1
                try:
                    record = future.result()
                except Exception as exc:  # noqa: BLE001 - a worker that died mid-case too often
                    case = case_of[future.key]
                    record = {"id": case.id, "input": case.path, "status": "failed",
                              "error": f"the worker running it was lost ({type(exc).__name__}: {exc}); run the batch again"}
                records[record["id"]] = record
                error = f": {record['error']}" if record["status"] == "failed" else ""
                say(f"batch: [{done}/{len(todo)}] {record['id']} {record['status']}{error}")
                report(progress, done / len(todo))
                saved()
    except BaseException:
        client.cancel(list(pending))  # a scheduler's workers stop them too
        raise


def run_batch(
    workflow: Workflow,
    cases: list[Case],
    output_dir: str | os.PathLike,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    memory_per_worker: str | int | None = None,
    say: Callable[[str], None] = print,
    progress: Callable[[float], None] | None = None,
    cancel: Callable[[], Any] | None = None,
) -> dict:
    """Run ``workflow`` on every case, in parallel, and write the manifest.

    Parameters
    ----------
    workflow : Workflow
        What to run (validated before any case starts).
    cases : list of Case
        From :func:`~napari_medimg.pipeline.find_cases`.
    output_dir : path
        Where each case's folder, the combined tables and ``manifest.json`` go.
    workers : int, optional
        Worker processes of a local cluster (default: the CPU count, at most the cases).
    scheduler : str, optional
        Address of a running ``dask scheduler`` (its workers run the cases) instead.
    memory_per_worker : str or int, optional
        Memory each local worker may use, e.g. ``"4GB"`` (default: the machine's memory shared
        among the workers). A case that would need more is refused with the figure; a worker
        that still goes beyond it is restarted by dask and its case reported. The workers of a
        ``scheduler`` keep their own ``--memory-limit``.
    say : callable
        Receives one line per finished case and the summary (the terminal's progress).
    progress, cancel : callable, optional
        Fraction of the cases finished; a check, made twice a second, that stops the batch
        when it returns True (:class:`~napari_medimg.progress.OperationCancelled` is raised
        after the manifest is saved; finished cases are kept, running ones are abandoned).

    Returns
    -------
    dict
        The manifest (also in ``output_dir/manifest.json``).
    """
    from distributed import Client

    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    workflow.validate(extras=tuple(sorted({k for c in cases for k in c.extras})))
    for name in workflow.case_inputs():
        lacking = [c.id for c in cases if c.extras.get(name) in (None, "")]
        if lacking:
            raise ValueError(f"{workflow.name} needs '{name}' for every case (a column of the cases' CSV); "
                             f"missing for {', '.join(lacking[:5])}{' ...' if len(lacking) > 5 else ''}")
    digest = workflow.digest
    manifest: dict[str, Any] = {
        "software": software_versions(("dask", "distributed")),
        "workflow": workflow.to_dict(),
        "workflow_sha256": digest,
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "cases": [],
    }
    records: dict[str, dict] = {}
    todo = []
    for case in cases:
        earlier = _finished(case, output_dir, digest)
        if earlier is not None:
            records[case.id] = {**earlier, "status": "skipped", "previous_status": "done"}
        else:
            todo.append(case)
    if records:
        say(f"batch: {len(records)} case(s) already done with this workflow and input: skipped")

    def save_manifest() -> None:
        manifest["cases"] = [records.get(c.id, {"id": c.id, "input": c.path, "status": "pending"}) for c in cases]
        counts = {s: sum(1 for r in manifest["cases"] if r["status"] == s) for s in ("done", "failed", "skipped", "pending")}
        manifest["summary"] = counts
        _write_json(output_dir / MANIFEST, manifest)

    cluster = None
    if todo:
        n = workers or min(os.cpu_count() or 1, len(todo))
        if scheduler:
            client = Client(scheduler, timeout="20s")
            manifest["scheduler"] = scheduler
        else:
            cluster = _local_cluster(n, memory_per_worker)
            client = Client(cluster)
            from ._worker_setup import IgnoreCtrlC

            client.register_plugin(IgnoreCtrlC(), name="napari-medimg-ignore-ctrl-c")  # restarted workers too
            manifest["scheduler"] = f"LocalCluster, {n} worker process(es), {thread_share(n)} thread(s) each"
            manifest["memory_per_worker"] = memory_per_worker or "auto (the machine's memory / workers)"
        try:
            _collect(client, workflow, todo, output_dir, records, say=say, progress=progress, cancel=cancel,
                     saved=save_manifest)
        except (KeyboardInterrupt, OperationCancelled) as exc:
            manifest["interrupted"] = True
            for case in todo:  # finished in a worker but not yet collected: recorded as done all the same
                if case.id not in records:
                    earlier = _finished(case, output_dir, digest)
                    if earlier is not None:
                        records[case.id] = earlier
            how = "cancelled" if isinstance(exc, OperationCancelled) else "interrupted"
            say(f"batch: {how}; finished cases are kept, run the same command again to go on")
            raise
        finally:
            manifest["finished"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
            save_manifest()
            client.close()
            if cluster is not None:
                cluster.close()
    manifest["finished"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    manifest["tables"] = [p.name for p in _combined_tables(output_dir, [records[c.id] for c in cases if c.id in records])]
    save_manifest()
    report(progress, 1.0)
    s = manifest["summary"]
    say(f"batch: {s['done']} done, {s['skipped']} skipped, {s['failed']} failed; manifest: {output_dir / MANIFEST}")
    return manifest
