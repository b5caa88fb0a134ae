"""Workflows: named steps (operations, model predictions, measurements) saved as readable YAML.

A workflow file (schema version 1)::

    workflow: 1
    name: ct_lungs
    description: Both lungs of a chest CT, their volumes and HU statistics.
    steps:
      - name: lungs                 # the step's output, referred to by later steps
        operation: chest_ct_lungs   # a registered operation (`napari-medimg run --list`)
        input: image                # "image" = the case's image, or an earlier output
        params: {closing_mm: 3.0}   # checked and converted as on the command line
      - name: lung_table
        measure: lungs              # per-object table of a labels output
        image: image                # intensity statistics from this image (optional)
        params: {radiomics: true}   # and pyradiomics features (radiomics_settings: a parameter file)

An optional ``report`` mapping makes a *recipe*: ``title``, ``validation`` (what the recipe
was checked on and how well, printed on every report) and ``show`` (the outputs drawn on the
picture); a batch then writes ``report.html`` for each case (:mod:`.report`).

A step has exactly one of ``operation``, ``model`` (a shipped model's name or a checkpoint
path; segmentation models give labels) or ``measure``. Parameters that take a second input
(a mask, seed points) name an earlier output or an extra input of the case, declared under
``inputs`` with its kind (``inputs: {seeds: points}``: a click; in a batch, a CSV column of the
cases). Outputs named in ``outputs`` (default: every step) are what a batch
writes.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from ..volume import Volume

__all__ = ["SCHEMA_VERSION", "Step", "Workflow", "WorkflowError", "WorkflowResult", "load_workflow"]

SCHEMA_VERSION = 1
_KINDS = ("operation", "model", "measure")
_STEP_KEYS = {"name", "operation", "model", "measure", "input", "image", "params", "label"}
_REPORT_KEYS = {"title", "validation", "show"}
#: kinds of a case's extra inputs (a workflow's ``inputs``)
INPUT_KINDS = ("points", "labels", "image")


class WorkflowError(ValueError):
    """A workflow that cannot run: the message lists every problem, with the step's name."""


@dataclass
class Step:
    """One step: what it runs, on which input, with which parameters, under which name.

    Parameters
    ----------
    name : str
        Name of the step's output (unique in the workflow).
    operation, model, measure : str, optional
        Exactly one: a registered operation, a model (shipped name or checkpoint path), or
        the labels output to measure.
    input : str
        The main input: ``"image"`` (the case) or an earlier step's output (operation and
        model steps).
    image : str, optional
        For ``measure``: the image whose intensities are summarised inside each object.
    params : dict
        Parameter values by name (units as the operation states them).
    label : str
        A description for people (shown in the workflow dock).
    """

    name: str
    operation: str | None = None
    model: str | None = None
    measure: str | None = None
    input: str = "image"
    image: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    label: str = ""

    @property
    def kind(self) -> str:
        """``"operation"``, ``"model"`` or ``"measure"``."""
        return next(k for k in _KINDS if getattr(self, k))

    def to_dict(self) -> dict[str, Any]:
        """The step as it is written in YAML (empty fields left out)."""
        out: dict[str, Any] = {"name": self.name, self.kind: getattr(self, self.kind)}
        if self.kind != "measure":
            out["input"] = self.input
        elif self.image:
            out["image"] = self.image
        if self.params:
            out["params"] = dict(self.params)
        if self.label:
            out["label"] = self.label
        return out


@dataclass
class WorkflowResult:
    """What a run gave: volumes (images, labels) and tables, by output name; seconds per step; the input image."""

    volumes: dict[str, Volume] = field(default_factory=dict)
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    image: Volume | None = None


@dataclass
class Workflow:
    """An ordered list of steps with a name; loads, saves, validates and runs.

    Examples
    --------
    >>> wf = Workflow("smooth", steps=[Step("smoothed", operation="gaussian", params={"sigma": 1.0})])
    >>> wf.validate()
    >>> "gaussian" in wf.to_yaml()
    True
    """

    name: str
    steps: list[Step] = field(default_factory=list)
    description: str = ""
    outputs: list[str] | None = None
    report: dict[str, Any] | None = None
    inputs: dict[str, str] | None = None

    # ------------------------------------------------------------------ files
    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "workflow") -> "Workflow":
        """A workflow from its YAML mapping; raises :class:`WorkflowError` on a malformed one."""
        if not isinstance(data, Mapping):
            raise WorkflowError(f"{source}: a workflow file holds a mapping (workflow: 1, name:, steps:)")
        version = data.get("workflow")
        if version != SCHEMA_VERSION:
            raise WorkflowError(
                f"{source}: 'workflow: {version}' is not a schema this version reads (it reads workflow: {SCHEMA_VERSION})"
            )
        raw_steps = data.get("steps")
        if not isinstance(raw_steps, list) or not raw_steps:
            raise WorkflowError(f"{source}: 'steps' must be a non-empty list")
        steps = []
        for i, raw in enumerate(raw_steps, start=1):
            if not isinstance(raw, Mapping):
                raise WorkflowError(f"{source}: step {i} is not a mapping")
            unknown = sorted(set(raw) - _STEP_KEYS)
            if unknown:
                raise WorkflowError(f"{source}: step {i} has unknown keys {unknown} (known: {sorted(_STEP_KEYS)})")
            kinds = [k for k in _KINDS if raw.get(k)]
            if len(kinds) != 1:
                raise WorkflowError(f"{source}: step {i} needs exactly one of operation, model, measure")
            params = raw.get("params") or {}
            if not isinstance(params, Mapping):
                raise WorkflowError(f"{source}: step {i}: params must be a mapping of name: value")
            steps.append(
                Step(
                    name=str(raw.get("name") or f"step{i}"),
                    operation=raw.get("operation"),
                    model=None if raw.get("model") is None else str(raw.get("model")),
                    measure=raw.get("measure"),
                    input=str(raw.get("input", "image")),
                    image=raw.get("image"),
                    params=dict(params),
                    label=str(raw.get("label", "")),
                )
            )
        outputs = data.get("outputs")
        report = data.get("report")
        if report is not None and (not isinstance(report, Mapping) or set(report) - _REPORT_KEYS):
            raise WorkflowError(f"{source}: 'report' is a mapping of {sorted(_REPORT_KEYS)}")
        inputs = data.get("inputs")
        if inputs is not None and (not isinstance(inputs, Mapping) or any(
                str(kind) not in INPUT_KINDS for kind in inputs.values())):
            raise WorkflowError(f"{source}: 'inputs' maps each extra input of a case to its kind, one of "
                                f"{', '.join(INPUT_KINDS)} (e.g. seeds: points)")
        workflow = cls(str(data.get("name") or "workflow"), steps, str(data.get("description") or ""),
                       None if outputs is None else [str(o) for o in outputs],
                       None if report is None else {k: report[k] for k in report},
                       None if inputs is None else {str(k): str(v) for k, v in inputs.items()})
        workflow.validate(source=source)
        return workflow

    def to_dict(self) -> dict[str, Any]:
        """The YAML mapping (schema version first)."""
        out: dict[str, Any] = {"workflow": SCHEMA_VERSION, "name": self.name}
        if self.description:
            out["description"] = self.description
        if self.inputs:
            out["inputs"] = dict(self.inputs)
        out["steps"] = [s.to_dict() for s in self.steps]
        if self.outputs is not None:
            out["outputs"] = list(self.outputs)
        if self.report is not None:
            out["report"] = dict(self.report)
        return out

    def to_yaml(self) -> str:
        """Readable YAML text."""
        import yaml

        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)

    def save(self, path: str | os.PathLike, *, overwrite: bool = True) -> Path:
        """Write the YAML file atomically."""
        from ..io.atomic import atomic_write

        text = self.to_yaml()
        return atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"), overwrite=overwrite)

    @property
    def digest(self) -> str:
        """SHA-256 of the canonical JSON of the workflow: equal for equal workflows."""
        text = json.dumps(self.to_dict(), sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()

    # ------------------------------------------------------------------ checks
    def validate(self, *, source: str = "workflow", extras: tuple[str, ...] = ()) -> None:
        """Check names, references and every parameter before anything runs.

        Parameters
        ----------
        extras : tuple of str
            Names of the case's extra inputs (CSV columns of a batch) that steps may refer to.

        Raises
        ------
        WorkflowError
            Listing every problem found, each with its step.
        """
        from ..operations import OPERATIONS, get_operation

        known = {op.name for op in OPERATIONS}
        available = {"image", *(self.inputs or {}), *extras}
        kinds = {"image": "image"}
        problems = []
        for step in self.steps:
            where = f"step '{step.name}'"
            if step.name in available:
                problems.append(f"{where}: the name is already used")
            if step.kind == "operation":
                if step.operation not in known:
                    problems.append(f"{where}: unknown operation {step.operation!r} (see `napari-medimg run --list`)")
                else:
                    operation = get_operation(step.operation)
                    problems += self._check_params(step, operation, available, where)
                    kinds[step.name] = operation.output_kind
            elif step.kind == "model":
                kinds[step.name] = "labels"
            else:
                if step.measure not in available:
                    problems.append(f"{where}: measures {step.measure!r}, which no earlier step makes")
                elif kinds.get(step.measure) not in (None, "labels"):
                    problems.append(f"{where}: {step.measure!r} is a {kinds[step.measure]}, not labels")
                if step.image and step.image not in available:
                    problems.append(f"{where}: image {step.image!r} is not the case's image nor an earlier output")
                problems += self._check_measure_params(step, where)
                kinds[step.name] = "table"
            if step.kind != "measure" and step.input not in available:
                problems.append(f"{where}: input {step.input!r} is not the case's image nor an earlier output")
            available.add(step.name)
        for name in self.outputs or []:
            if name not in available:
                problems.append(f"outputs: {name!r} is no step's name")
        for name in (self.report or {}).get("show", []) or []:
            if name not in available:
                problems.append(f"report: shows {name!r}, which is no step's name")
        if problems:
            raise WorkflowError(f"{source}: " + "; ".join(problems))

    def case_inputs(self) -> dict[str, str]:
        """The inputs a case brings besides its image: name -> kind (``"points"``, ``"labels"``, ``"image"``).

        Those declared under ``inputs`` (``{"seeds": "points"}`` for a one-click recipe), and the
        second inputs of operation steps that name no earlier output (a recorded workflow's mask
        or click layer). A batch takes them from the cases' CSV columns, the docks from layers.
        """
        from ..operations import OPERATIONS

        operations = {op.name: op for op in OPERATIONS}
        made = {"image"}
        needed = dict(self.inputs or {})
        for step in self.steps:
            operation = operations.get(step.operation) if step.kind == "operation" else None
            for key, value in (step.params.items() if operation is not None else ()):
                parameter = next((p for p in operation.parameters if p.name == key), None)
                if parameter is not None and parameter.is_layer and str(value) not in made:
                    needed.setdefault(str(value), parameter.layer_kind)
            made.add(step.name)
        return needed

    @staticmethod
    def _check_measure_params(step: Step, where: str) -> list[str]:
        from ..analysis.measure import MEASURE_OPTIONS

        problems = [f"{where}: measuring has no parameter {key!r} (it has {list(MEASURE_OPTIONS)})"
                    for key in step.params if key not in MEASURE_OPTIONS]
        if step.params.get("radiomics") and not step.image:
            problems.append(f"{where}: radiomics needs 'image:' (the image the labels were drawn on)")
        settings = step.params.get("radiomics_settings")
        if settings:
            from ..analysis.radiomics import load_settings

            try:
                load_settings(settings)
            except (OSError, ValueError) as exc:
                problems.append(f"{where}: radiomics_settings: {exc}")
        return problems

    @staticmethod
    def _check_params(step: Step, operation: Any, available: set[str], where: str) -> list[str]:
        problems = []
        names = {p.name for p in operation.parameters}
        for key, value in step.params.items():
            if key not in names:
                problems.append(f"{where}: {operation.name} has no parameter {key!r} (it has {sorted(names)})")
                continue
            parameter = operation.parameter(key)
            if parameter.is_layer:
                if str(value) not in available:
                    problems.append(f"{where}: {key} names {value!r}, which is no earlier output nor case input")
                continue
            try:
                parameter.convert(value)
            except ValueError as exc:
                problems.append(f"{where}: {exc}")
        missing = [p.name for p in operation.parameters if p.is_layer and p.name not in step.params]
        if missing:
            problems.append(f"{where}: {operation.name} needs {', '.join(missing)} (an earlier output or case input)")
        return problems

    # ------------------------------------------------------------------ running
    def run(
        self,
        image: Volume | str | os.PathLike,
        extras: Mapping[str, Any] | None = None,
        *,
        progress: Callable[[float], None] | None = None,
        cancel: Callable[[], Any] | None = None,
    ) -> WorkflowResult:
        """Run every step on one case.

        Parameters
        ----------
        image : Volume or path
            The case's image (a path is read with :func:`napari_medimg.read`).
        extras : mapping, optional
            The case's extra inputs by name: Volumes, paths, or for seed parameters CSV paths.
        progress, cancel : callable, optional
            Fraction done; a check that raises to stop between (and within) steps.

        Returns
        -------
        WorkflowResult
        """
        import time

        from ..io import read
        from ..progress import check_cancel, report

        extras = dict(extras or {})
        missing = [f"{name} ({kind})" for name, kind in (self.inputs or {}).items() if extras.get(name) is None]
        if missing:
            raise WorkflowError(f"{self.name} needs {', '.join(missing)} besides the image (a click: world "
                                "coordinates in mm, or a CSV of them; in a batch, a column of the cases' CSV)")
        self.validate(extras=tuple(extras))
        volume = image if isinstance(image, Volume) else read(image)
        values: dict[str, Any] = {"image": volume, **extras}
        result = WorkflowResult(image=volume)
        for i, step in enumerate(self.steps):
            check_cancel(cancel)
            start = time.perf_counter()
            output = self._run_step(step, values, cancel)
            result.seconds[step.name] = time.perf_counter() - start
            values[step.name] = output
            if isinstance(output, Volume):
                result.volumes[step.name] = output
            else:
                result.tables[step.name] = output
            report(progress, (i + 1) / len(self.steps))
        wanted = set(self.outputs) if self.outputs is not None else {s.name for s in self.steps}
        result.volumes = {k: v for k, v in result.volumes.items() if k in wanted}
        result.tables = {k: v for k, v in result.tables.items() if k in wanted}
        return result

    def _run_step(self, step: Step, values: dict[str, Any], cancel: Callable[[], Any] | None) -> Any:
        if step.kind == "operation":
            from ..operations import get_operation

            operation = get_operation(step.operation)
            params = {
                k: (_as_input(values[str(v)], operation.parameter(k)) if operation.parameter(k).is_layer else v)
                for k, v in step.params.items()
            }
            output = operation.run(_volume(values[step.input], step), params, cancel=cancel)
            return output.table() if operation.output_kind == "points" else output
        if step.kind == "model":
            from ..learn.apply import predict_volume
            from ..learn.registry import shipped_names

            model, card = _cached_model(step.model, step.model in shipped_names())
            labels = predict_volume(model, card, _volume(values[step.input], step))
            history = list(values[step.input].metadata.get("history", [])) + [{"model": step.model}]
            labels.metadata["history"] = history
            return labels
        from ..analysis.measure import measure_objects

        image = _volume(values[step.image], step) if step.image else None
        return measure_objects(_volume(values[step.measure], step), image, cancel=cancel, **step.params)


def _volume(value: Any, step: Step) -> Volume:
    if isinstance(value, Volume):
        return value
    if isinstance(value, (str, os.PathLike)):
        from ..io import read

        return read(value)
    raise WorkflowError(f"step '{step.name}': its input is a table, not an image or labels")


def _as_input(value: Any, parameter: Any) -> Any:
    """A second input for an operation: Volumes as they are, paths converted by the parameter."""
    return value if isinstance(value, Volume) else parameter.convert(value)


_MODELS: dict[str, Any] = {}


def _cached_model(name: str, shipped: bool) -> Any:
    """A model loaded once per process (a batch worker runs many cases with one load)."""
    if name not in _MODELS:
        from ..learn.registry import load_model, shipped_model

        _MODELS[name] = shipped_model(name) if shipped else load_model(name)
    return _MODELS[name]


def load_workflow(path: str | os.PathLike) -> Workflow:
    """Read a workflow YAML file, or a shipped recipe by its name (e.g. ``"chest_ct_study"``).

    Raises
    ------
    WorkflowError
        Unreadable, malformed, or naming operations / parameters / inputs that do not exist.
    """
    import yaml

    from ..recipes import recipe_path

    path = Path(path)
    if not path.exists() and recipe_path(str(path)) is not None:
        path = recipe_path(str(path))
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise WorkflowError(f"{path}: cannot read the workflow ({exc})") from None
    return Workflow.from_dict(copy.deepcopy(data), source=str(path))
