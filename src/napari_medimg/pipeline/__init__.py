"""Recorded workflows and cohort batches.

Public API
----------
Workflow, Step, load_workflow(path), WorkflowError
    Named steps saved as readable YAML (schema version 1); validate and run on a Volume or a path.
find_cases(inputs) -> list[Case]
    The cases of a folder (one per DICOM series or image file), a glob, or a CSV listing.
run_batch(workflow, cases, output_dir, *, workers=None, scheduler=None) -> dict
    Every case on dask.distributed, outputs and a manifest; re-runs skip finished cases.

Modules: ``workflow`` (the steps and their file), ``cases`` (finding cases), ``batch``
(running them).
"""

from __future__ import annotations

from .batch import run_batch
from .cases import Case, find_cases
from .workflow import SCHEMA_VERSION, Step, Workflow, WorkflowError, WorkflowResult, load_workflow

__all__ = ["Case", "SCHEMA_VERSION", "Step", "Workflow", "WorkflowError", "WorkflowResult", "find_cases",
           "load_workflow", "run_batch"]
