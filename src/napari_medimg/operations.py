"""The one registry of operations.

Each :class:`Operation` names its function lazily (``"module:attribute"``) with its
parameters (units, defaults, ranges) and the kinds of its input and output. napari
menus and widgets, ``napari-medimg run`` and recorded workflows are all generated from
this list; nothing lists operations a second time.

A registered function takes the input array first and keyword-only parameters, plus
``spacing`` (mm, numpy order) when ``needs_spacing`` is set, and ``progress`` / ``cancel``
callables when ``reports_progress`` is set. It returns an array of the same spatial
shape (``geometry="same"``) or a :class:`~napari_medimg.volume.Volume`
(``geometry="new"``) when it changes the grid.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import math
from typing import Any, Callable

import numpy as np

from .learn.registry import automatic_segmentation_names
from .volume import Volume

__all__ = ["Parameter", "Operation", "OPERATIONS", "get_operation", "list_operations", "run_operation"]

KINDS = ("image", "labels", "points")
PREVIEW_MODES = ("slab", "whole", "none")


@dataclasses.dataclass(frozen=True)
class Parameter:
    """One parameter of an operation.

    Attributes
    ----------
    name : str
        Keyword name of the function argument.
    type : type
        ``float``, ``int``, ``str`` or ``bool``.
    default : Any
        Default value.
    unit : str
        Physical unit shown to the user ("mm", "HU", "" for none).
    minimum, maximum : float, optional
        Allowed range.
    choices : tuple of str, optional
        Allowed values for a string parameter.
    help : str
        One sentence for tooltips and ``--help``.
    layer_kind : str, optional
        For a second input (``type`` is :class:`~napari_medimg.volume.Volume`):
        ``"image"`` or ``"labels"``. napari offers a layer picker, the command line
        takes a file path, and the function receives a Volume. For seed points
        (``type`` is ``numpy.ndarray``): ``"points"``. They are world coordinates in mm
        in numpy order (z, y, x): a Points layer in napari, a CSV file on the command
        line; the function receives voxel indices of the input, ``(N, ndim)`` int.
    """

    name: str
    type: type
    default: Any
    unit: str = ""
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] | None = None
    help: str = ""
    layer_kind: str | None = None

    @property
    def is_layer(self) -> bool:
        """True for a second input (a Volume / a napari layer)."""
        return self.layer_kind is not None

    @property
    def label(self) -> str:
        """Name with its unit, e.g. ``"sigma (mm)"``."""
        words = self.name.split("_")
        if self.unit and len(words) > 1 and words[-1].lower() == self.unit.lower():
            words = words[:-1]  # "closing_mm" in mm reads "closing (mm)", not "closing mm (mm)"
        text = " ".join(words)
        return f"{text} ({self.unit})" if self.unit else text

    def convert(self, value: Any) -> Any:
        """Check and convert a value (e.g. a command-line string) to this parameter's type.

        A second input accepts a Volume, or a path that is read. A float must be finite
        (NaN and infinity are refused, also where no range is set) and inside
        ``minimum`` / ``maximum``.

        Raises
        ------
        ValueError
            When the value does not convert, is not finite, is not one of ``choices``
            or lies outside the range; the message names the parameter.
        """
        if self.layer_kind == "points":
            return _points_from(value, self.name)
        if self.is_layer:
            if isinstance(value, Volume):
                return value
            if value is None:
                raise ValueError(f"{self.name}: choose a {self.layer_kind} input")
            from .io import read

            return read(value)
        try:
            if self.type is bool and isinstance(value, str):
                lowered = value.strip().lower()
                if lowered not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError(value)
                converted: Any = lowered in ("true", "1", "yes")
            else:
                converted = self.type(value)
        except (TypeError, ValueError, OverflowError):  # int(float("inf")) overflows
            raise ValueError(
                f"{self.name} must be {self.type.__name__}, got {value!r}"
            ) from None
        if self.choices is not None and converted not in self.choices:
            raise ValueError(f"{self.name} must be one of {', '.join(self.choices)}, got {converted!r}")
        if self.type is float and not math.isfinite(converted):
            # NaN compares False with everything, so it would slip through the range checks
            # below; an infinite size, level or weight has no meaning for any operation.
            raise ValueError(f"{self.name} must be a finite number, got {converted}")
        unit = f" {self.unit}" if self.unit else ""
        if self.minimum is not None and not converted >= self.minimum:
            raise ValueError(f"{self.name} must be at least {self.minimum}{unit}, got {converted}")
        if self.maximum is not None and not converted <= self.maximum:
            raise ValueError(f"{self.name} must be at most {self.maximum}{unit}, got {converted}")
        return converted


@dataclasses.dataclass(frozen=True)
class Operation:
    """A registered operation.

    Attributes
    ----------
    name : str
        Identifier used on the command line and in workflows (snake_case).
    title : str
        Menu text.
    menu : str
        Menu group ("Enhance", "Denoise", "Threshold", "Clean up", ...): a submenu of one
        of napari's Layers menus (see ``napari_medimg._napari.manifest.MENUS``).
    function : str
        ``"package.module:attribute"``, imported only when the operation runs.
    input_kind, output_kind : str
        ``"image"`` or ``"labels"``.
    parameters : tuple of Parameter
        In the order shown.
    needs_spacing : bool
        Pass ``spacing=`` (mm, numpy order) to the function.
    reports_progress : bool
        Pass ``progress=`` and ``cancel=`` to the function.
    geometry : str
        ``"same"`` when the function returns an array on the input grid, ``"new"`` when
        it returns a Volume with its own geometry.
    keeps_units : bool
        The output is in the input's units (a denoising filter keeps HU); otherwise the
        units and window presets of the input are dropped from the result.
    estimate : str, optional
        ``"package.module:attribute"`` of ``estimate(volume, **parameters) ->``
        :class:`~napari_medimg.budget.Cost` for operations whose memory or time depends
        strongly on their parameters (see :meth:`estimate_cost`).
    preview : str
        How a widget previews the slice in view; the shown slice always equals the full
        run's slice (a test checks every operation). ``"slab"``: run on the slices
        within ``preview_reach`` of it; ``"whole"``: run on the whole volume, because
        the result depends on all of it (global statistics, thresholds or fits,
        connectivity, flooding) and the run is cheap; ``"none"``: no preview, because
        the result depends on the whole volume and the run takes as long as a real one.
    preview_reach : tuple
        For ``"slab"``: how far along the slice axis the result at a voxel depends on
        the input, as a sum of terms: ``(parameter, factor)`` adds ``factor`` times the
        parameter's value (mm for a parameter in mm, else slices), an int adds slices.
        Empty: each slice depends on itself only.

    Notes
    -----
    An operation with ``output_kind="points"`` receives the Volume and returns an object
    with ``index`` (``(N, ndim)`` voxel indices), ``world`` (mm, numpy order) and
    ``table()`` (columns for a Points layer's features), e.g. keypoints.
    """

    name: str
    title: str
    menu: str
    function: str
    input_kind: str
    output_kind: str
    parameters: tuple[Parameter, ...] = ()
    needs_spacing: bool = False
    reports_progress: bool = False
    geometry: str = "same"
    keeps_units: bool = False
    estimate: str | None = None
    preview: str = "slab"
    preview_reach: tuple[tuple[str, float] | int, ...] = ()

    def __post_init__(self) -> None:
        if self.preview not in PREVIEW_MODES:
            raise ValueError(f"{self.name}: preview must be one of {', '.join(PREVIEW_MODES)}, got {self.preview!r}")

    @property
    def previewable(self) -> bool:
        """True when a widget can preview the slice in view (see ``preview``)."""
        return self.preview != "none" and self.geometry == "same" and self.output_kind != "points"

    @property
    def preview_note(self) -> str:
        """One sentence for the widget on how (or why not) the slice in view is previewed."""
        if self.output_kind == "points":
            return "no preview: the result is a set of points"
        if self.geometry != "same" and self.preview != "none":
            return "no preview: the result has a new voxel grid"
        return {
            "slab": "Shows the result on the slice in view, computed from the neighbouring slices it depends on.",
            "whole": "The result depends on the whole volume: the preview runs on all of it and shows the slice in view.",
            "none": "no preview: the result depends on the whole volume and takes as long as the full run",
        }[self.preview]

    def preview_halo(self, spacing: float, values: dict[str, Any]) -> int:
        """Slices on each side of the one in view that a ``"slab"`` preview needs.

        Parameters
        ----------
        spacing : float
            Slice spacing in mm.
        values : dict
            Resolved parameter values (see :meth:`resolve`).

        Returns
        -------
        int
            ``ceil`` of the sum of the ``preview_reach`` terms, in slices.
        """
        slices = 0.0
        for term in self.preview_reach:
            if isinstance(term, int):
                slices += term
                continue
            name, factor = term
            reach = factor * float(values[name])
            slices += reach / float(spacing) if self.parameter(name).unit == "mm" else reach
        return int(math.ceil(slices - 1e-9))

    def load(self) -> Callable[..., Any]:
        """Import and return the function."""
        module_name, _, attribute = self.function.partition(":")
        return getattr(importlib.import_module(module_name), attribute)

    @property
    def description(self) -> str:
        """First paragraph of the function's docstring (imports the function's module)."""
        doc = inspect.getdoc(self.load()) or ""
        return doc.split("\n\n", 1)[0].replace("\n", " ")

    def parameter(self, name: str) -> Parameter:
        """The parameter called ``name``."""
        for parameter in self.parameters:
            if parameter.name == name:
                return parameter
        known = ", ".join(p.name for p in self.parameters) or "none"
        raise KeyError(f"{self.name} has no parameter {name!r}; its parameters: {known}")

    def resolve(self, values: dict[str, Any] | None = None) -> dict[str, Any]:
        """Defaults updated with ``values``, each checked and converted."""
        resolved = {p.name: p.default for p in self.parameters}
        for name, value in (values or {}).items():
            resolved[name] = self.parameter(name).convert(value)
        missing = [
            p.name
            for p in self.parameters
            if p.is_layer and not isinstance(resolved[p.name], (Volume, np.ndarray))
        ]
        if missing:
            raise ValueError(f"{self.name} needs {', '.join(missing)}: give a {self.parameter(missing[0]).layer_kind} input")
        return resolved

    def estimate_cost(self, volume: Volume, values: dict[str, Any] | None = None):
        """What running on ``volume`` with ``values`` would need, without running it.

        Widgets can show it before a run; :meth:`run` refuses a result that would not
        fit in memory and warns before a run of minutes (see :mod:`napari_medimg.budget`).

        Parameters
        ----------
        volume : Volume
            The input.
        values : dict, optional
            Parameter values (checked as in :meth:`resolve`).

        Returns
        -------
        napari_medimg.budget.Cost
            From the operation's ``estimate`` function; otherwise a float32 result of the
            input's size (``geometry="same"``) and no time estimate.
        """
        from .budget import Cost

        resolved = self.resolve(values)
        if self.estimate is not None:
            module_name, _, attribute = self.estimate.partition(":")
            estimate = getattr(importlib.import_module(module_name), attribute)
            return estimate(volume, **{k: v for k, v in resolved.items() if not self.parameter(k).is_layer})
        if self.geometry == "same" and self.output_kind != "points":
            return Cost(memory_bytes=int(volume.array.size) * 4, detail=f"a result of {volume.array.shape} voxels")
        return Cost(memory_bytes=0)

    def _checked_input(self, volume: Volume) -> Volume:
        """``volume`` after the input check every operation shares (float16 becomes float32)."""
        from .processing._validate import check_operation_input

        array = check_operation_input(volume.array, self.name, self.input_kind)
        return volume if array is volume.array else dataclasses.replace(volume, array=array)

    @staticmethod
    def _recordable(values: dict[str, Any]) -> dict[str, Any]:
        """Parameter values for the history: second inputs by their source name."""
        return {
            k: (
                v.metadata.get("source_name", "volume")
                if isinstance(v, Volume)
                else v.tolist() if isinstance(v, np.ndarray) else v
            )
            for k, v in values.items()
        }

    def run(
        self,
        volume: Volume,
        values: dict[str, Any] | None = None,
        *,
        progress: Callable[[float], None] | None = None,
        cancel: Callable[[], bool] | None = None,
    ) -> Volume:
        """Run on a Volume and return a Volume in the right geometry.

        Parameters
        ----------
        volume : Volume
            The input.
        values : dict, optional
            Parameter values; missing ones take their defaults.
        progress : callable, optional
            Called with a fraction in [0, 1].
        cancel : callable, optional
            Returns True when the user asked to stop.

        Returns
        -------
        Volume

        Raises
        ------
        TypeError, ValueError
            For an input no operation can use (complex or non-numeric values, no voxels)
            and for bad parameter values; the message names the operation.
        """
        from .budget import enforce

        volume = self._checked_input(volume)
        kwargs = self.resolve(values)
        enforce(self.name, self.estimate_cost(volume, kwargs))  # refuse or warn before any work
        function = self.load()
        if self.needs_spacing:
            kwargs["spacing"] = volume.spacing
        if self.output_kind == "points":
            kwargs.pop("spacing", None)
            if self.reports_progress:
                kwargs.update(progress=progress, cancel=cancel)
            return function(volume, **kwargs)
        history = list(volume.metadata.get("history", [])) + [
            {"operation": self.name, "parameters": self._recordable(self.resolve(values))}
        ]
        metadata = {**volume.metadata, "history": history, "kind": self.output_kind}
        if not (self.keeps_units and self.output_kind == "image"):
            metadata.pop("window_presets", None)
            metadata["units"] = ""
        if self.geometry == "new":
            if self.reports_progress:
                kwargs.update(progress=progress, cancel=cancel)
            result_volume = function(volume, **kwargs)
            result_volume.metadata.update(history=history, kind=self.output_kind)
            if not self.keeps_units and self.output_kind != "image":
                result_volume.metadata.pop("window_presets", None)
            return result_volume
        result, rgb = self._run_frames(function, volume, kwargs, progress, cancel)
        return Volume(result, volume.spacing, volume.origin, volume.direction, metadata, rgb=rgb)

    def _run_frames(
        self,
        function: Callable[..., Any],
        volume: Volume,
        kwargs: dict[str, Any],
        progress: Callable[[float], None] | None,
        cancel: Callable[[], bool] | None,
    ) -> tuple[np.ndarray, bool]:
        """Call ``function`` on each time frame and colour channel of ``volume``.

        Processing functions see spatial arrays only: a (t, z, y, x) series runs frame
        by frame (second inputs with the same frames are sliced alike; seed points go to
        the frame they were placed in), and a colour image runs channel by channel for
        image outputs, or on its luminance for labels.
        """
        array = volume.array
        if volume.rgb:
            if self.output_kind == "image":
                channels = [self._run_frames(function, _channel(volume, c), kwargs, progress, cancel)[0]
                            for c in range(array.shape[-1])]
                return np.stack(channels, axis=-1), True
            return self._run_frames(function, _luminance(volume), kwargs, progress, cancel)[0], False
        lead = volume.leading_shape
        points = {p.name for p in self.parameters if p.layer_kind == "points"}
        seeds = {name: seeds_to_indices(kwargs[name], volume) for name in points}
        frames = list(np.ndindex(*lead)) if lead else [()]
        outputs = []
        for number, frame in enumerate(frames):
            frame_kwargs = dict(kwargs)
            skip = False
            for name, (indices, frame_of_seed) in seeds.items():
                chosen = indices if frame_of_seed is None else indices[np.all(frame_of_seed == frame, axis=1)]
                skip = skip or len(chosen) == 0
                frame_kwargs[name] = chosen
            for parameter in self.parameters:
                value = frame_kwargs.get(parameter.name)
                if isinstance(value, Volume) and lead and value.leading_shape == lead:
                    frame_kwargs[parameter.name] = value.with_frame(frame)
            if self.reports_progress:
                frame_kwargs["cancel"] = cancel
                frame_kwargs["progress"] = None if progress is None else (
                    lambda f, n=number: progress((n + f) / len(frames))
                )
            if skip:  # no seed in this frame: nothing grows there
                outputs.append(None)
                continue
            outputs.append(np.asarray(function(array[frame], **frame_kwargs)))
        template = next((o for o in outputs if o is not None), None)
        if template is None:
            raise ValueError(f"{self.name}: no seed point lies in any frame of the series")
        outputs = [np.zeros_like(template) if o is None else o for o in outputs]
        if not lead:
            return outputs[0], False
        return np.stack(outputs).reshape(lead + template.shape), False


def _channel(volume: Volume, channel: int) -> Volume:
    """One colour channel of an RGB volume as a grey-level volume."""
    return dataclasses.replace(volume, array=volume.array[..., channel], rgb=False)


def _luminance(volume: Volume) -> Volume:
    """Grey-level float32 luminance (ITU-R BT.601) of an RGB volume."""
    rgb = volume.array[..., :3].astype(np.float32)
    grey = rgb @ np.asarray([0.299, 0.587, 0.114], np.float32)
    return dataclasses.replace(volume, array=grey, rgb=False)


def _points_from(value: Any, name: str) -> np.ndarray:
    """World coordinates ``(N, ndim)`` from an array or a CSV file (header line optional)."""
    if value is None:
        raise ValueError(f"{name}: give at least one point (a Points layer, or a CSV of z,y,x in mm)")
    if isinstance(value, np.ndarray):
        points = value
    else:
        try:
            points = np.loadtxt(value, delimiter=",", ndmin=2)
        except ValueError:
            points = np.loadtxt(value, delimiter=",", ndmin=2, skiprows=1)
        except OSError as exc:
            raise ValueError(f"{name}: cannot read points from {value}: {exc}") from None
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or len(points) == 0 or not np.all(np.isfinite(points)):
        raise ValueError(f"{name}: expected rows of finite world coordinates (z, y, x) in mm, got shape {points.shape}")
    return points


def seeds_to_indices(world: np.ndarray, volume: Volume) -> tuple[np.ndarray, np.ndarray | None]:
    """Voxel indices (numpy order, int) of world points (mm, numpy order) in ``volume``.

    Returns
    -------
    indices : numpy.ndarray
        ``(N, spatial_ndim)`` int64 voxel indices.
    frames : numpy.ndarray or None
        ``(N, n_leading)`` frame indices for a (t, z, y, x) series: the points' leading
        coordinates (napari gives the time index there), or None for a single volume.

    Raises
    ------
    ValueError
        Naming any point outside the image, or a series given points without a time.
    """
    n = volume.spatial_ndim
    lead = len(volume.leading_shape)
    if world.shape[1] < n:
        raise ValueError(f"points have {world.shape[1]} coordinates; the image has {n} spatial axes")
    indices = np.round(volume.world_to_index(world[:, -n:])).astype(np.int64)
    shape = np.asarray(volume.spatial_shape)
    outside = np.flatnonzero(np.any((indices < 0) | (indices >= shape), axis=1))
    if outside.size:
        i = int(outside[0])
        raise ValueError(
            f"point {i + 1} at {np.round(world[i], 2).tolist()} mm is outside the image "
            f"(voxel {indices[i].tolist()}, image shape {shape.tolist()})"
        )
    if not lead:
        return indices, None
    if world.shape[1] < n + lead:
        raise ValueError(
            f"the image is a series of {volume.leading_shape} volumes: give each point its frame "
            "as leading coordinate(s) (t, z, y, x)"
        )
    frames = np.round(world[:, -n - lead : -n]).astype(np.int64)
    if np.any((frames < 0) | (frames >= np.asarray(volume.leading_shape))):
        raise ValueError(f"a point's frame is outside the series of {volume.leading_shape} volumes")
    return indices, frames


def _p(name: str, type_: type, default: Any, unit: str = "", help: str = "", **kw: Any) -> Parameter:
    return Parameter(name, type_, default, unit, help=help, **kw)


INTERPOLATIONS = ("linear", "bspline", "nearest", "label")
_LABEL_INTERPOLATIONS = ("label", "nearest")

OPERATIONS: tuple[Operation, ...] = (
    Operation(
        name="window",
        title="Window / level",
        menu="Enhance",
        function="napari_medimg.processing.enhance:window",
        input_kind="image",
        output_kind="image",
        parameters=(
            _p("center", float, 40.0, "HU", "Centre of the intensity window."),
            _p("width", float, 400.0, "HU", "Width of the intensity window.", minimum=1e-6),
        ),
    ),
    Operation(
        name="window_preset",
        title="Window preset (CT)",
        menu="Enhance",
        function="napari_medimg.processing.enhance:window_preset",
        input_kind="image",
        output_kind="image",
        parameters=(
            _p(
                "preset", str, "lung", "", "Standard CT window (centre and width in HU).",
                choices=("lung", "mediastinum", "soft_tissue", "bone", "brain", "stroke", "stroke_narrow", "liver", "abdomen"),
            ),
        ),
    ),
    Operation(
        name="percentile_window",
        title="Auto window (percentiles)",
        menu="Enhance",
        function="napari_medimg.processing.enhance:percentile_window",
        input_kind="image",
        output_kind="image",
        parameters=(
            _p("lower_percentile", float, 0.5, "%", "Percentile shown as black.", minimum=0.0, maximum=100.0),
            _p("upper_percentile", float, 99.5, "%", "Percentile shown as white.", minimum=0.0, maximum=100.0),
        ),
        preview="whole",
    ),
    Operation(
        name="contrast_stretch",
        title="Contrast stretch",
        menu="Enhance",
        function="napari_medimg.processing.enhance:contrast_stretch",
        input_kind="image",
        output_kind="image",
        parameters=(
            _p("lower_percentile", float, 2.0, "%", "Percentile mapped to 0; lower values are clipped.", minimum=0.0, maximum=100.0),
            _p("upper_percentile", float, 98.0, "%", "Percentile mapped to 1; higher values are clipped.", minimum=0.0, maximum=100.0),
        ),
        preview="whole",
    ),
    Operation(
        name="log_transform",
        title="Log transform",
        menu="Enhance",
        function="napari_medimg.processing.enhance:log_transform",
        input_kind="image",
        output_kind="image",
        preview="whole",
    ),
    Operation(
        name="gamma",
        title="Gamma correction",
        menu="Enhance",
        function="napari_medimg.processing.enhance:gamma",
        input_kind="image",
        output_kind="image",
        parameters=(
            _p("gamma", float, 1.0, "", "Exponent on the min-max normalised image; <1 brightens, >1 darkens.", minimum=0.01, maximum=10.0),
        ),
        preview="whole",
    ),
    Operation(
        name="equalize_histogram",
        title="Histogram equalization",
        menu="Enhance",
        function="napari_medimg.processing.enhance:equalize_histogram",
        input_kind="image",
        output_kind="image",
        parameters=(_p("bins", int, 256, "", "Number of histogram bins.", minimum=2, maximum=65536),),
        reports_progress=True,
        preview="whole",
    ),
    Operation(
        name="clahe",
        title="CLAHE (adaptive equalization)",
        menu="Enhance",
        function="napari_medimg.processing.enhance:clahe",
        input_kind="image",
        output_kind="image",
        parameters=(
            _p("kernel_size", float, 0.0, "mm", "Edge of the local region; 0 = 1/8 of the image per axis.", minimum=0.0, maximum=1000.0),
            _p("clip_limit", float, 0.01, "", "Contrast limit; higher gives more contrast (0 = unlimited).", minimum=0.0, maximum=1.0),
            _p("bins", int, 256, "", "Grey-level bins of the local histograms.", minimum=2, maximum=16384),
            _p("per_slice", bool, False, "", "Equalize each slice as a 2D image (thick-slice CT/MR)."),
        ),
        needs_spacing=True,
        reports_progress=True,
        preview="whole",
    ),
    Operation(
        name="unsharp_mask",
        title="Unsharp mask (sharpen)",
        menu="Enhance",
        function="napari_medimg.processing.enhance:unsharp_mask",
        input_kind="image",
        output_kind="image",
        parameters=(
            _p("radius", float, 1.0, "mm", "Standard deviation of the blur that is subtracted.", minimum=0.0, maximum=100.0),
            _p("amount", float, 1.0, "", "Sharpening strength; 0 leaves the image unchanged.", minimum=0.0, maximum=10.0),
        ),
        needs_spacing=True,
        reports_progress=True,
        keeps_units=True,
        preview_reach=(("radius", 4.0), 1),
    ),
    Operation(
        name="gaussian",
        title="Gaussian smoothing",
        menu="Denoise",
        function="napari_medimg.processing.denoise:gaussian",
        input_kind="image",
        output_kind="image",
        parameters=(
            _p("sigma", float, 1.0, "mm", "Standard deviation of the gaussian.", minimum=0.0, maximum=100.0),
        ),
        needs_spacing=True,
        reports_progress=True,
        keeps_units=True,
        preview_reach=(("sigma", 4.0), 1),
    ),
    *(
        Operation(
            name=name,
            title=title,
            menu="Denoise",
            function=f"napari_medimg.processing.denoise:{name}",
            input_kind="image",
            output_kind="image",
            parameters=(
                _p("radius", float, 1.0, "mm", help, minimum=0.0, maximum=50.0),
                _p(
                    "footprint", str, "box", "",
                    "Box (every voxel within the radius per axis) or ball (within the radius in mm).",
                    choices=("box", "ball"),
                ),
            ),
            needs_spacing=True,
            reports_progress=True,
            keeps_units=True,
            preview_reach=(("radius", 1.0), 1),
        )
        for name, title, help in (
            ("mean_filter", "Mean filter", "Neighbourhood radius; converted to whole voxels per axis."),
            ("median_filter", "Median filter", "Neighbourhood radius; removes specks smaller than about this."),
            ("minimum_filter", "Minimum filter", "Neighbourhood radius."),
            ("maximum_filter", "Maximum filter", "Neighbourhood radius."),
        )
    ),
    Operation(
        name="bilateral",
        title="Bilateral filter (edge-preserving)",
        menu="Denoise",
        function="napari_medimg.processing.denoise:bilateral",
        input_kind="image",
        output_kind="image",
        parameters=(
            _p("sigma_spatial", float, 1.0, "mm", "Spatial standard deviation.", minimum=0.01, maximum=20.0),
            _p("sigma_range", float, 50.0, "", "Intensity standard deviation (image units, e.g. HU); stronger edges are kept.", minimum=1e-6),
        ),
        needs_spacing=True,
        reports_progress=True,
        keeps_units=True,
        preview_reach=(("sigma_spatial", 2.5), 1),
    ),
    Operation(
        name="anisotropic_diffusion",
        title="Curvature anisotropic diffusion (edge-preserving)",
        menu="Denoise",
        function="napari_medimg.processing.denoise:anisotropic_diffusion",
        input_kind="image",
        output_kind="image",
        parameters=(
            _p("iterations", int, 5, "", "Diffusion steps; more is smoother and slower.", minimum=1, maximum=200),
            _p("conductance", float, 3.0, "", "Edge sensitivity; lower keeps more edges.", minimum=0.01, maximum=100.0),
        ),
        needs_spacing=True,
        reports_progress=True,
        keeps_units=True,
        preview="none",
    ),
    Operation(
        name="non_local_means",
        title="Non-local means",
        menu="Denoise",
        function="napari_medimg.processing.denoise:non_local_means",
        input_kind="image",
        output_kind="image",
        parameters=(
            _p("patch_radius", float, 1.0, "mm", "Half-width of the compared patches.", minimum=0.0, maximum=5.0),
            _p("search_radius", float, 3.0, "mm", "Half-width of the search window; cost grows with its volume.", minimum=0.0, maximum=15.0),
            _p("h", float, 0.0, "", "Filtering strength in image units; 0 = automatic (0.8 x estimated noise).", minimum=0.0),
            _p("sigma", float, 0.0, "", "Noise standard deviation in image units; 0 = estimate.", minimum=0.0),
        ),
        needs_spacing=True,
        reports_progress=True,
        keeps_units=True,
        preview="none",
    ),
    *(
        Operation(
            name=name,
            title=title,
            menu="Bias field",
            function="napari_medimg.processing.bias:n4_bias_correction",
            input_kind="image",
            output_kind="image",
            parameters=mask
            + (
                _p("shrink_factor", int, 4, "", "Downsampling for the fit along the finest axes.", minimum=1, maximum=8),
                _p("iterations", int, 50, "", "Maximum iterations per fitting level.", minimum=1, maximum=500),
                _p("levels", int, 4, "", "Fitting levels (the B-spline mesh doubles at each).", minimum=1, maximum=8),
            ),
            needs_spacing=True,
            reports_progress=True,
            keeps_units=True,
            preview="none",
        )
        for name, title, mask in (
            ("n4_bias_correction", "N4 bias-field correction (MR)", ()),
            (
                "n4_bias_correction_masked",
                "N4 bias-field correction within a mask (MR)",
                (Parameter("mask", Volume, None, help="Region to fit, e.g. a brain mask.", layer_kind="labels"),),
            ),
        )
    ),
    Operation(
        name="sobel",
        title="Sobel gradient (per mm)",
        menu="Edges",
        function="napari_medimg.analysis.edges:sobel",
        input_kind="image",
        output_kind="image",
        needs_spacing=True,
        reports_progress=True,
        preview_reach=(1,),
    ),
    Operation(
        name="gradient_magnitude",
        title="Gradient magnitude (gaussian)",
        menu="Edges",
        function="napari_medimg.analysis.edges:gradient_magnitude",
        input_kind="image",
        output_kind="image",
        parameters=(_p("sigma", float, 1.0, "mm", "Standard deviation of the gaussian derivative.", minimum=0.01, maximum=100.0),),
        needs_spacing=True,
        reports_progress=True,
        preview_reach=(("sigma", 4.0), 2),
    ),
    Operation(
        name="laplacian_of_gaussian",
        title="Laplacian of Gaussian",
        menu="Edges",
        function="napari_medimg.analysis.edges:laplacian_of_gaussian",
        input_kind="image",
        output_kind="image",
        parameters=(
            _p("sigma", float, 1.0, "mm", "Scale; a blob of radius r responds most at r / sqrt(dimensions).", minimum=0.01, maximum=100.0),
            _p("normalize", bool, True, "", "Multiply by sigma squared so that scales are comparable."),
        ),
        needs_spacing=True,
        reports_progress=True,
        preview_reach=(("sigma", 4.0), 2),
    ),
    Operation(
        name="canny",
        title="Canny edges",
        menu="Edges",
        function="napari_medimg.analysis.edges:canny",
        input_kind="image",
        output_kind="labels",
        parameters=(
            _p("sigma", float, 1.0, "mm", "Smoothing before the gradient.", minimum=0.0, maximum=100.0),
            _p("per_slice", bool, True, "", "2D edges in each slice; off = 3D surfaces."),
        ),
        needs_spacing=True,
        reports_progress=True,
        preview="whole",
    ),
    Operation(
        name="glcm_map",
        title="Local GLCM texture map",
        menu="Texture",
        function="napari_medimg.analysis.texture:glcm_map",
        input_kind="image",
        output_kind="image",
        parameters=(
            _p("feature", str, "contrast", "", "GLCM statistic.", choices=("contrast", "homogeneity", "energy", "correlation", "entropy")),
            _p("window", float, 5.0, "mm", "Side of the in-plane window.", minimum=0.1, maximum=200.0),
            _p("levels", int, 8, "", "Grey levels (image min..max); cost grows with levels squared.", minimum=2, maximum=64),
            _p("distance", int, 1, "px", "Pixel distance of the pairs.", minimum=1, maximum=10),
        ),
        needs_spacing=True,
        reports_progress=True,
        preview="none",
    ),
    Operation(
        name="lbp_map",
        title="Local binary patterns",
        menu="Texture",
        function="napari_medimg.analysis.texture:lbp_map",
        input_kind="image",
        output_kind="image",
        parameters=(
            _p("radius", float, 1.0, "mm", "Radius of the sampling circle.", minimum=0.01, maximum=50.0),
            _p("points", int, 8, "", "Sampling points on the circle.", minimum=1, maximum=64),
            _p("method", str, "uniform", "", "scikit-image LBP method.", choices=("uniform", "default", "ror", "nri_uniform", "var")),
        ),
        needs_spacing=True,
        reports_progress=True,
    ),
    Operation(
        name="keypoints",
        title="Keypoints (SIFT / ORB) to points",
        menu="Texture",
        function="napari_medimg.analysis.descriptors:detect_keypoints",
        input_kind="image",
        output_kind="points",
        parameters=(_p("method", str, "sift", "", "Detector.", choices=("sift", "orb")),),
        reports_progress=True,
    ),
    Operation(
        name="threshold",
        title="Threshold range",
        menu="Threshold",
        function="napari_medimg.processing.segment:threshold_range",
        input_kind="image",
        output_kind="labels",
        parameters=(
            _p("lower", float, -1000.0, "", "Lowest value inside (image units, e.g. HU)."),
            _p("upper", float, -400.0, "", "Highest value inside (image units, e.g. HU)."),
        ),
    ),
    Operation(
        name="connected_components",
        title="Label connected components",
        menu="Objects",
        function="napari_medimg.processing.segment:connected_components",
        input_kind="labels",
        output_kind="labels",
        parameters=(
            _p("min_volume", float, 0.0, "mm³", "Drop components smaller than this.", minimum=0.0),
        ),
        needs_spacing=True,
        preview="whole",
    ),
    Operation(
        name="clear_border",
        title="Remove objects touching the border",
        menu="Objects",
        function="napari_medimg.processing.segment:clear_border",
        input_kind="labels",
        output_kind="labels",
        parameters=(
            _p("in_plane_only", bool, True, "", "Only rows and columns count as border, not the end slices."),
        ),
        preview="whole",
    ),
    Operation(
        name="keep_largest",
        title="Keep the largest objects",
        menu="Objects",
        function="napari_medimg.processing.segment:keep_largest",
        input_kind="labels",
        output_kind="labels",
        parameters=(_p("count", int, 1, "", "How many of the largest objects to keep.", minimum=1),),
        preview="whole",
    ),
    Operation(
        name="threshold_auto",
        title="Automatic threshold (Otsu, Li, Yen, ...)",
        menu="Threshold",
        function="napari_medimg.processing.threshold:threshold_auto",
        input_kind="image",
        output_kind="labels",
        parameters=(
            _p("method", str, "otsu", "", "Automatic threshold method.", choices=("otsu", "li", "yen", "triangle", "isodata", "mean")),
            _p("invert", bool, False, "", "Label dark voxels (at or below the level) instead of bright ones."),
        ),
        preview="whole",
    ),
    Operation(
        name="threshold_multi_otsu",
        title="Multi-level Otsu",
        menu="Threshold",
        function="napari_medimg.processing.threshold:threshold_multi_otsu",
        input_kind="image",
        output_kind="labels",
        parameters=(_p("classes", int, 3, "", "Number of intensity classes (1 = darkest).", minimum=2, maximum=5),),
        preview="whole",
    ),
    Operation(
        name="threshold_local",
        title="Adaptive (local) threshold",
        menu="Threshold",
        function="napari_medimg.processing.threshold:threshold_local",
        input_kind="image",
        output_kind="labels",
        parameters=(
            _p("block_size", float, 25.0, "mm", "Side of the neighbourhood compared with.", minimum=0.1, maximum=1000.0),
            _p("offset", float, 0.0, "", "Added to the local mean; larger is stricter."),
            _p("method", str, "gaussian", "", "Local mean weighting.", choices=("gaussian", "mean", "median")),
        ),
        needs_spacing=True,
        reports_progress=True,
    ),
    *(
        Operation(
            name=name,
            title=title,
            menu="Cluster",
            function=f"napari_medimg.processing.cluster:{name}",
            input_kind="image",
            output_kind="labels",
            parameters=(
                _p("n_classes", int, 3, "", "Number of classes (1 = darkest).", minimum=2, maximum=20),
                _p("sigma", float, 0.0, "mm", "Add a smoothed-intensity feature (0: off).", minimum=0.0, maximum=100.0),
                _p("position_weight", float, 0.0, "", "Weight of position features (0: off).", minimum=0.0, maximum=100.0),
            ),
            needs_spacing=True,
            reports_progress=True,
            preview="none",
        )
        for name, title in (("kmeans", "k-means clustering"), ("gaussian_mixture", "Gaussian mixture clustering"))
    ),
    Operation(
        name="watershed_markers",
        title="Watershed from seed labels",
        menu="Grow",
        function="napari_medimg.processing.watershed:watershed_markers",
        input_kind="image",
        output_kind="labels",
        parameters=(
            Parameter("markers", Volume, None, help="Seed labels: one label per region.", layer_kind="labels"),
            _p("sigma", float, 1.0, "mm", "Gradient scale.", minimum=0.01, maximum=100.0),
            _p("use_gradient", bool, True, "", "Flood the gradient magnitude (else the image)."),
            _p("compactness", float, 0.0, "", "Compact watershed (0: classic).", minimum=0.0, maximum=1e6),
        ),
        needs_spacing=True,
        reports_progress=True,
        preview="none",
    ),
    Operation(
        name="split_objects",
        title="Split touching objects (distance watershed)",
        menu="Objects",
        function="napari_medimg.processing.watershed:split_objects",
        input_kind="labels",
        output_kind="labels",
        parameters=(_p("min_distance", float, 5.0, "mm", "Minimum distance between object centres.", minimum=0.01, maximum=1000.0),),
        needs_spacing=True,
        reports_progress=True,
        preview="none",
    ),
    Operation(
        name="region_grow",
        title="Region growing from points (connected threshold)",
        menu="Grow",
        function="napari_medimg.processing.region_growing:connected_threshold",
        input_kind="image",
        output_kind="labels",
        parameters=(
            Parameter("seeds", np.ndarray, None, help="Seed points: clicks inside the object.", layer_kind="points"),
            _p("multiplier", float, 2.0, "", "Range half-width in standard deviations around the seeds.", minimum=0.1, maximum=20.0),
            _p("radius", float, 5.0, "mm", "Neighbourhood used to estimate the range.", minimum=0.1, maximum=100.0),
            _p("sigma", float, 1.0, "mm", "Smoothing before growing (0: none).", minimum=0.0, maximum=50.0),
            _p("opening", float, 0.0, "mm", "Cut leaks through bridges thinner than this (0: off).", minimum=0.0, maximum=50.0),
            _p("fill_holes", bool, True, "", "Fill enclosed holes."),
            _p("smoothing", float, 0.0, "mm", "Smooth the surface (0: off).", minimum=0.0, maximum=50.0),
        ),
        needs_spacing=True,
        reports_progress=True,
        preview="whole",
    ),
    Operation(
        name="confidence_connected",
        title="Region growing from points (confidence connected)",
        menu="Grow",
        function="napari_medimg.processing.region_growing:confidence_connected",
        input_kind="image",
        output_kind="labels",
        parameters=(
            Parameter("seeds", np.ndarray, None, help="Seed points: clicks inside the object.", layer_kind="points"),
            _p("multiplier", float, 2.0, "", "Range half-width in standard deviations (2.5 floods from a lung nodule "
               "into the chest wall).", minimum=0.1, maximum=20.0),
            _p("iterations", int, 4, "", "Re-estimations of the range from the region.", minimum=0, maximum=50),
            _p("radius", float, 3.0, "mm", "Initial neighbourhood around the seeds.", minimum=0.1, maximum=100.0),
            _p("sigma", float, 0.0, "mm", "Smoothing before growing (0: none).", minimum=0.0, maximum=50.0),
            _p("fill_holes", bool, True, "", "Fill enclosed holes."),
        ),
        needs_spacing=True,
        reports_progress=True,
        preview="whole",
    ),
    Operation(
        name="fast_marching",
        title="Geodesic growing from points (fast marching)",
        menu="Grow",
        function="napari_medimg.processing.region_growing:fast_marching",
        input_kind="image",
        output_kind="labels",
        parameters=(
            Parameter("seeds", np.ndarray, None, help="Seed points: clicks inside the object.", layer_kind="points"),
            _p("volume_ml", float, 10.0, "mL", "Volume to keep (the earliest reached voxels).", minimum=1e-6, maximum=1e5),
            _p("sigma", float, 1.0, "mm", "Gradient scale.", minimum=0.01, maximum=50.0),
        ),
        needs_spacing=True,
        reports_progress=True,
        preview="none",
    ),
    Operation(
        name="pixel_classifier",
        title="Pixel classifier from scribbles",
        menu="Learn",
        function="napari_medimg.analysis.pixel_classifier:segment_from_scribbles",
        input_kind="image",
        output_kind="labels",
        parameters=(
            Parameter(
                "scribbles", Volume, None, help="Labels painted on the image: 0 unpainted, 1..K classes (at least two).", layer_kind="labels"
            ),
            _p("smallest_scale", float, 1.0, "mm", "Smallest feature sigma.", minimum=0.1, maximum=50.0),
            _p("largest_scale", float, 4.0, "mm", "Largest feature sigma (scales double up to it).", minimum=0.1, maximum=50.0),
            _p("n_estimators", int, 100, "", "Trees in the random forest.", minimum=1, maximum=500),
            _p("clean_up", bool, False, "", "Keep only regions touching their own class's scribbles; fill holes."),
            _p("opening", float, 0.0, "mm", "With clean-up: cut thin bridges with an opening of this radius.", minimum=0.0, maximum=20.0),
        ),
        needs_spacing=True,
        reports_progress=True,
        preview="none",
    ),
    Operation(
        name="fill_holes",
        title="Fill holes",
        menu="Clean up",
        function="napari_medimg.processing.morphology:fill_holes",
        input_kind="labels",
        output_kind="labels",
        parameters=(_p("per_slice", bool, False, "", "Fill holes in each slice (else only holes enclosed in 3D)."),),
        preview="whole",
    ),
    Operation(
        name="remove_small_objects",
        title="Remove small objects",
        menu="Clean up",
        function="napari_medimg.processing.morphology:remove_small_objects",
        input_kind="labels",
        output_kind="labels",
        parameters=(_p("min_volume", float, 10.0, "mm³", "Drop objects smaller than this.", minimum=0.0),),
        needs_spacing=True,
        preview="whole",
    ),
    *(
        Operation(
            name=name,
            title=title,
            menu="Clean up",
            function=f"napari_medimg.processing.morphology:binary_{name}",
            input_kind="labels",
            output_kind="labels",
            parameters=(_p("radius", float, 1.0, "mm", "Radius of the ball.", minimum=0.0, maximum=100.0),),
            needs_spacing=True,
            estimate="napari_medimg.processing.morphology:estimate_ball_morphology",
            preview_reach=(("radius", passes), 1),  # opening and closing are two passes of the ball
        )
        for name, title, passes in (
            ("dilation", "Dilate mask", 1.0), ("erosion", "Erode mask", 1.0), ("opening", "Open mask", 2.0), ("closing", "Close mask", 2.0)
        )
    ),
    Operation(
        name="smooth_labels",
        title="Smooth label surfaces",
        menu="Clean up",
        function="napari_medimg.processing.morphology:smooth_labels",
        input_kind="labels",
        output_kind="labels",
        parameters=(_p("sigma", float, 1.0, "mm", "Gaussian smoothing of each label.", minimum=0.0, maximum=50.0),),
        needs_spacing=True,
        reports_progress=True,
        preview_reach=(("sigma", 4.0), 1),
    ),
    Operation(
        name="chest_ct_lungs",
        title="Lungs (chest CT)",
        menu="Recipes",
        function="napari_medimg.apps.chest_ct:segment_lungs",
        input_kind="image",
        output_kind="labels",
        parameters=(_p("closing_mm", float, 3.0, "mm", "Radius of the closing that smooths the lung outline.", minimum=0.0, maximum=20.0),),
        needs_spacing=True,
        preview="whole",
    ),
    Operation(
        name="chest_ct_lungs_left_right",
        title="Right and left lung (chest CT)",
        menu="Recipes",
        function="napari_medimg.apps.chest_ct:segment_lungs_left_right",
        input_kind="image",
        output_kind="labels",
        parameters=(_p("closing_mm", float, 3.0, "mm", "Radius of the closing that smooths the lung outline.", minimum=0.0, maximum=20.0),),
        reports_progress=True,
        geometry="new",
        preview="none",
    ),
    Operation(
        name="brain_tumour_from_click",
        title="Brain tumour from one click (FLAIR)",
        menu="Recipes",
        function="napari_medimg.apps.brain_mr:tumour_from_click",
        input_kind="image",
        output_kind="labels",
        parameters=(
            Parameter("seeds", np.ndarray, None, help="A click in the tumour (a dark core is fine).", layer_kind="points"),
            _p("threshold_sd", float, 2.0, "", "Tumour is brighter than the brain's median by this many robust SDs.",
               minimum=0.5, maximum=6.0),
            _p("sigma", float, 1.0, "mm", "Smoothing before the threshold.", minimum=0.0, maximum=5.0),
            _p("search_mm", float, 20.0, "mm", "A click off the bright tumour takes the nearest bright part within this.",
               minimum=1.0, maximum=100.0),
        ),
        needs_spacing=True,
        reports_progress=True,
        preview="whole",
    ),
    Operation(
        name="breast_lesion_from_click",
        title="Breast lesion from one click (ultrasound)",
        menu="Recipes",
        function="napari_medimg.apps.breast_us:lesion_from_click",
        input_kind="image",
        output_kind="labels",
        parameters=(
            Parameter("seeds", np.ndarray, None, help="A click in each dark (hypoechoic) lesion.", layer_kind="points"),
            _p("method", str, "unet", "", "'unet': the shipped click-guided U-Net busi-lesion-click; 'watershed': "
               "the classical watershed at the best-fitting scale.", choices=("unet", "watershed")),
        ),
        needs_spacing=True,
        reports_progress=True,
        preview="whole",
    ),
    Operation(
        name="chest_xray_lung_fields",
        title="Lung fields (chest X-ray)",
        menu="Recipes",
        function="napari_medimg.apps.chest_xray:segment_lung_fields",
        input_kind="image",
        output_kind="labels",
        parameters=(
            _p("method", str, "unet", "", "'unet': the shipped cxr-lungs-heart model; 'classical': threshold and hulls.", choices=("unet", "classical")),
            _p("smoothing_px", float, 2.0, "px", "Gaussian smoothing before the threshold (classical method).", minimum=0.0, maximum=20.0),
        ),
        preview="whole",
    ),
    Operation(
        name="segment_with_model",
        title="Segment with a shipped model (U-Net)",
        menu="Learn",
        function="napari_medimg.learn.apply:segment_with_model",
        input_kind="image",
        output_kind="labels",
        parameters=(
            _p("model", str, "cxr-lungs-heart", "", "A shipped model (`napari-medimg models` lists what each segments, "
               "on which images, and its validation figure).",
               choices=tuple(automatic_segmentation_names())),
        ),
        reports_progress=True,
        geometry="new",
        preview="none",
    ),
    Operation(
        name="lung_nodule_candidates",
        title="Lung nodule candidates (chest CT)",
        menu="Recipes",
        function="napari_medimg.apps.chest_ct_nodules:nodule_candidates",
        input_kind="image",
        output_kind="points",
        parameters=(
            _p("min_diameter_mm", float, 5.0, "mm", "Smallest nodule looked for; also the least distance between two.",
               minimum=1.0, maximum=50.0),
            _p("max_diameter_mm", float, 30.0, "mm", "Largest nodule looked for.", minimum=2.0, maximum=80.0),
            _p("min_hu", float, -400.0, "HU", "A candidate's centre is denser than this.", minimum=-1000.0,
               maximum=500.0),
            _p("max_candidates", int, 30, "", "Keep the best this many, ranked by blob strength.", minimum=1,
               maximum=1000),
        ),
        reports_progress=True,
    ),
    Operation(
        name="brain_tumour_centres",
        title="Brain tumour centres (MR FLAIR)",
        menu="Recipes",
        function="napari_medimg.apps.brain_tumour_centres:tumour_centres",
        input_kind="image",
        output_kind="points",
        parameters=(
            _p("min_volume_ml", float, 0.5, "mL", "Pieces of the tumour map smaller than this are not reported.",
               minimum=0.0, maximum=100.0),
            _p("max_tumours", int, 10, "", "At most this many points, the largest pieces first.", minimum=1,
               maximum=100),
        ),
        reports_progress=True,
    ),
    Operation(
        name="chest_xray_landmarks",
        title="Landmarks and cardiothoracic ratio (chest X-ray)",
        menu="Recipes",
        function="napari_medimg.apps.chest_xray_landmarks:detect_chest_landmarks",
        input_kind="image",
        output_kind="points",
    ),
    Operation(
        name="resample_isotropic",
        title="Resample to isotropic voxels",
        menu="Geometry",
        function="napari_medimg.processing.resample:resample_isotropic",
        input_kind="image",
        output_kind="image",
        parameters=(
            _p("spacing", float, 1.0, "mm", "Voxel size of the cubic output voxels.", minimum=0.05, maximum=20.0),
            _p("interpolation", str, "linear", "", "How values between voxel centres are computed.", choices=INTERPOLATIONS),
        ),
        reports_progress=True,
        geometry="new",
        estimate="napari_medimg.processing.resample:estimate_isotropic",
    ),
    Operation(
        name="resample_labels_isotropic",
        title="Resample labels to isotropic voxels",
        menu="Geometry",
        function="napari_medimg.processing.resample:resample_isotropic",
        input_kind="labels",
        output_kind="labels",
        parameters=(
            _p("spacing", float, 1.0, "mm", "Voxel size of the cubic output voxels.", minimum=0.05, maximum=20.0),
            _p("interpolation", str, "label", "", "'label' keeps thin structures; 'nearest' copies the closest voxel.", choices=_LABEL_INTERPOLATIONS),
        ),
        reports_progress=True,
        geometry="new",
        estimate="napari_medimg.processing.resample:estimate_isotropic",
    ),
    Operation(
        name="resample_to_reference",
        title="Resample onto another layer's grid",
        menu="Geometry",
        function="napari_medimg.processing.resample:resample_to_reference",
        input_kind="image",
        output_kind="image",
        parameters=(
            Parameter("reference", Volume, None, help="Layer whose voxel grid the result takes.", layer_kind="image"),
            _p("interpolation", str, "linear", "", "How values between voxel centres are computed.", choices=INTERPOLATIONS),
            _p("default_value", float, 0.0, "", "Value where the reference grid lies outside the input."),
        ),
        reports_progress=True,
        geometry="new",
    ),
    Operation(
        name="resample_labels_to_reference",
        title="Resample labels onto another layer's grid",
        menu="Geometry",
        function="napari_medimg.processing.resample:resample_to_reference",
        input_kind="labels",
        output_kind="labels",
        parameters=(
            Parameter("reference", Volume, None, help="Layer whose voxel grid the result takes.", layer_kind="image"),
            _p("interpolation", str, "label", "", "'label' keeps thin structures; 'nearest' copies the closest voxel.", choices=_LABEL_INTERPOLATIONS),
            _p("default_value", float, 0.0, "", "Label where the reference grid lies outside the input."),
        ),
        reports_progress=True,
        geometry="new",
    ),
    Operation(
        name="resample_axis_aligned",
        title="Resample oblique volume to axis-aligned grid",
        menu="Geometry",
        function="napari_medimg.processing.resample:resample_axis_aligned",
        input_kind="image",
        output_kind="image",
        parameters=(
            _p("interpolation", str, "linear", "", "How values between voxel centres are computed.", choices=INTERPOLATIONS),
        ),
        reports_progress=True,
        geometry="new",
    ),
    Operation(
        name="crop_to_labels",
        title="Crop to labels",
        menu="Geometry",
        function="napari_medimg.processing.crop:crop_to_labels",
        input_kind="image",
        output_kind="image",
        parameters=(
            Parameter("labels", Volume, None, help="Labels on the same grid whose bounding box is kept.", layer_kind="labels"),
            _p("margin_mm", float, 10.0, "mm", "Margin added on every side of the box.", minimum=0.0, maximum=500.0),
            _p("label", int, 0, "", "Label value to crop to; 0 means all labels.", minimum=0),
        ),
        geometry="new",
    ),
)


def list_operations(menu: str | None = None) -> list[Operation]:
    """All operations, or those of one menu group."""
    return [op for op in OPERATIONS if menu is None or op.menu == menu]


def get_operation(name: str) -> Operation:
    """The operation called ``name``; the error lists the known names."""
    for op in OPERATIONS:
        if op.name == name:
            return op
    raise KeyError(f"no operation {name!r}; known: {', '.join(op.name for op in OPERATIONS)}")


def run_operation(name: str, volume: Volume, **values: Any) -> Volume:
    """Run a registered operation by name on a Volume (a shortcut for scripts)."""
    return get_operation(name).run(volume, values)
