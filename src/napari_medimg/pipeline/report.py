"""One-page study reports of a recipe: a picture of the result, the figures with units, what was validated.

:func:`write_report` writes ``report.html`` (self-contained: the picture is embedded), the
same page as ``report.pdf`` (A4, for printing or filing) and ``report.png`` into a
folder. The picture is napari's screenshot when the report is made
from napari, else :func:`render_overlay`: the slice through the first point shown (a nodule
candidate) or with the most labelled voxels, in radiological orientation (patient's right
on the left, anterior up), windowed for the organ shown, labels in their colours, points as
circles of their diameter. No patient identifier is written: the input is named by the
first 16 hex digits of its content hash only.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from ..volume import Volume
from .workflow import Workflow, WorkflowResult

__all__ = ["render_overlay", "write_report", "REPORT_HTML", "REPORT_PDF", "REPORT_PNG"]

REPORT_HTML = "report.html"
REPORT_PDF = "report.pdf"
REPORT_PNG = "report.png"
_PALETTE = ("#1f77b4", "#2ca02c", "#d62728", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")


def _rgb(colour: str) -> np.ndarray:
    colour = colour.lstrip("#")
    return np.array([int(colour[i:i + 2], 16) for i in (0, 2, 4)], np.float32)


def _window(image: Volume, labels: list[Volume]) -> tuple[float, float]:
    """Grey limits: the lung or soft-tissue window of a CT, else the 1st to 99th percentile."""
    from ..processing.enhance import WINDOW_PRESETS

    values = np.asarray(image.array)
    if str(image.metadata.get("units", "")).upper() == "HU" or (values.min() < -500 and values.max() > 300):
        names = " ".join(str(c.get("name", "")) for v in labels for c in v.metadata.get("classes", []))
        centre, width = WINDOW_PRESETS["lung" if "lung" in names else "soft_tissue"]
        return centre - width / 2, centre + width / 2
    low, high = np.percentile(values, (1, 99))
    return float(low), float(max(high, low + 1e-6))


def _colours(volume: Volume) -> dict[int, np.ndarray]:
    named = {int(c["value"]): _rgb(c["color"]) for c in volume.metadata.get("classes", []) if c.get("color")}
    values = [int(v) for v in np.unique(volume.array) if v]
    return {v: named.get(v, _rgb(_PALETTE[i % len(_PALETTE)])) for i, v in enumerate(values)}


def render_overlay(image: Volume, labels: list[Volume], points: list[dict[str, np.ndarray]]) -> np.ndarray:
    """An RGB picture (uint8) of one slice with the labels and points drawn on it.

    Parameters
    ----------
    image : Volume
        The study (2D or 3D, grey).
    labels : list of Volume
        Labels on the image's grid (filled at 40 % opacity, outlined).
    points : list of dict
        Point tables with world columns ``z_mm``/``y_mm``/``x_mm`` (or ``y_mm``/``x_mm``)
        and optionally ``diameter_mm`` (circle size, else 6 mm).

    Returns
    -------
    numpy.ndarray
        ``(rows, columns, 3)`` uint8.
    """
    from PIL import Image, ImageDraw
    from scipy import ndimage

    from ..io.orientation import to_nearest_axes

    shown, how = to_nearest_axes(image)
    shown_labels = [to_nearest_axes(v)[0] for v in labels]
    ndim = shown.spatial_ndim
    axes = ("z", "y", "x")[-ndim:]
    marks = []
    for table in points:
        if all(f"{a}_mm" in table for a in axes) and len(table[f"{axes[0]}_mm"]):
            world = np.stack([np.asarray(table[f"{a}_mm"], float) for a in axes], axis=1)
            diameters = np.asarray(table.get("diameter_mm", np.full(len(world), 6.0)), float)
            marks += list(zip(shown.world_to_index(world), diameters))
    if ndim == 3:
        if marks:
            z = int(round(marks[0][0][0]))
        elif shown_labels:
            z = int(np.argmax(sum((v.array != 0).sum(axis=(1, 2)) for v in shown_labels)))
        else:
            z = shown.array.shape[0] // 2
        z = int(np.clip(z, 0, shown.array.shape[0] - 1))
        grey, planes = shown.array[z], [v.array[z] for v in shown_labels]
    else:
        z, grey, planes = 0, shown.array, [v.array for v in shown_labels]
    low, high = _window(shown, labels)
    rgb = np.repeat((np.clip((grey.astype(np.float32) - low) / (high - low), 0, 1) * 255)[..., None], 3, axis=2)
    for volume, plane in zip(shown_labels, planes):
        for value, colour in _colours(volume).items():
            inside = plane == value
            if inside.any():
                rgb[inside] = 0.6 * rgb[inside] + 0.4 * colour
                edge = inside & ~ndimage.binary_erosion(inside)
                rgb[edge] = colour
    # square pixels: stretch the slice to its aspect in mm
    spacing = shown.spacing[-2:]
    picture = Image.fromarray(rgb.astype(np.uint8))
    scale = 512.0 / max(grey.shape[0] * spacing[0], grey.shape[1] * spacing[1])
    size = (max(1, round(grey.shape[1] * spacing[1] * scale)), max(1, round(grey.shape[0] * spacing[0] * scale)))
    picture = picture.resize(size, Image.Resampling.BILINEAR)
    draw = ImageDraw.Draw(picture)
    for rank, (index, diameter) in enumerate(marks, start=1):
        if ndim == 3 and abs(index[0] - z) * shown.spacing[0] > max(diameter / 2, shown.spacing[0] / 2):
            continue  # not on this slice
        row, col = index[-2] * spacing[0] * scale, index[-1] * spacing[1] * scale
        radius = max(3.0, diameter / 2 * scale)
        draw.ellipse((col - radius, row - radius, col + radius, row + radius), outline=(255, 255, 0), width=2)
        draw.text((col + radius + 2, row - radius), str(rank), fill=(255, 255, 0))
    return np.asarray(picture)


def _cell(value: Any) -> str:
    if isinstance(value, (float, np.floating)):
        return "" if not np.isfinite(value) else f"{value:.4g}"
    return str(value)


@dataclasses.dataclass
class _Table:
    """A measurement table as the report shows it: the columns a reader wants, cells as text."""

    name: str
    columns: list[str]
    rows: list[list[str]]
    more: str  # "N more rows in NAME.csv", or empty

    @classmethod
    def of(cls, name: str, table: dict[str, Any], limit: int = 30) -> "_Table":
        def shown(column: str) -> bool:  # no boxes, no columns left empty
            values = np.asarray(table[column])
            return not column.startswith("bbox_") and not (values.dtype.kind == "f" and np.isnan(values).all())

        columns = [c for c in table if shown(c)]
        count = len(next(iter(table.values()))) if table else 0
        rows = [[_cell(np.asarray(table[c])[i]) for c in columns] for i in range(min(count, limit))]
        return cls(name, columns, rows, f"{count - limit} more rows in {name}.csv" if count > limit else "")

    def html(self) -> str:
        head = "".join(f"<th>{html.escape(c)}</th>" for c in self.columns)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in row) + "</tr>" for row in self.rows)
        more = f"<p>{html.escape(self.more)}</p>" if self.more else ""
        return f"<h2>{html.escape(self.name)}</h2><table><tr>{head}</tr>{body}</table>{more}"


def _with_names(workflow: Workflow, result: WorkflowResult, name: str, table: dict[str, Any]) -> dict[str, Any]:
    """A measurement table with the measured labels' names (``right lung`` ...) after ``label``."""
    step = next((s for s in workflow.steps if s.name == name), None)
    measured = result.volumes.get(step.measure) if step is not None and step.kind == "measure" else None
    classes = {int(c["value"]): c.get("name", "") for c in (measured.metadata.get("classes", []) if measured else [])}
    if not classes or "label" not in table:
        return table
    out = {"label": table["label"], "name": np.asarray([classes.get(int(v), "") for v in table["label"]])}
    return {**out, **{k: v for k, v in table.items() if k != "label"}}


@dataclasses.dataclass
class _Page:
    """What a study report says, written once and rendered as HTML and as PDF."""

    title: str
    description: str
    stamp: str  # date, input hash, recipe digest, version, research-use line
    picture: np.ndarray
    notes: list[str]
    tables: list[_Table]
    validation: str
    steps: list[tuple[str, str, str]]  # name, what it runs with its parameters, label

    def html(self, picture_png_base64: str) -> str:
        """The self-contained HTML page (the picture embedded as PNG)."""
        notes = ("<h2>Notes on the input</h2><ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in self.notes)
                 + "</ul>" if self.notes else "")
        steps = "".join(f"<li><b>{html.escape(name)}</b>: {html.escape(what)} <i>{html.escape(label)}</i></li>"
                        for name, what, label in self.steps)
        title = html.escape(self.title)
        return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:1em auto}}table{{border-collapse:collapse;font-size:90%}}
td,th{{border:1px solid #999;padding:2px 6px;text-align:right}}img{{max-width:100%}}</style></head><body>
<h1>{title}</h1>
<p>{html.escape(self.description)}</p>
<p><small>{html.escape(self.stamp)}</small></p>
<img src="data:image/png;base64,{picture_png_base64}" alt="result picture">
{notes}
{"".join(t.html() for t in self.tables)}
<h2>What it was validated on</h2><p>{html.escape(self.validation)}</p>
<h2>Steps</h2><ol>{steps}</ol>
</body></html>
"""

    def pdf(self) -> bytes:
        """The same page as a PDF (A4; what does not fit flows onto a second page)."""
        from .pdf_page import PdfReport

        doc = PdfReport(self.title)
        doc.heading(self.title, 16)
        doc.text(self.description)
        doc.text(self.stamp, 8, grey=True)
        doc.space()
        doc.picture(self.picture, max_height=300)
        if self.notes:
            doc.heading("Notes on the input", 11)
            doc.bullets(self.notes)
        for table in self.tables:
            doc.heading(table.name, 11)
            doc.table(table.columns, table.rows, note=table.more)
        doc.heading("What it was validated on", 11)
        doc.text(self.validation, 9.5)
        doc.heading("Steps", 11)
        doc.bullets([f"{name}: {what}" + (f" ({label})" if label else "") for name, what, label in self.steps],
                    numbered=True)
        return doc.to_bytes()


def write_report(
    workflow: Workflow,
    result: WorkflowResult,
    folder: str | os.PathLike,
    *,
    picture: np.ndarray | None = None,
    source_sha256: str | None = None,
) -> Path:
    """Write ``report.html``, ``report.pdf`` and ``report.png`` of one study into ``folder``.

    Parameters
    ----------
    workflow : Workflow
        The recipe (its ``report`` section: title, validation, outputs shown).
    result : WorkflowResult
        Its run on the study (``result.image`` is the study).
    folder : path
        Where the files go (created; files replaced atomically).
    picture : numpy.ndarray, optional
        An RGB picture (napari's screenshot); else :func:`render_overlay` draws one.
    source_sha256 : str, optional
        The input's content hash, the only reference to it in the report.

    Returns
    -------
    Path
        The HTML file.
    """
    from PIL import Image

    from ..io.atomic import atomic_write
    from ..io.provenance import software_versions

    folder = Path(folder)
    section = workflow.report or {}
    shown = [n for n in section.get("show", []) or []]
    if picture is None:
        if result.image is None:
            raise ValueError("the result holds no image to draw: pass the picture")
        labels = [result.volumes[n] for n in shown if n in result.volumes]
        points = [result.tables[n] for n in shown if n in result.tables]
        picture = render_overlay(result.image, labels, points)
    png = atomic_write(folder / REPORT_PNG, lambda p: Image.fromarray(np.asarray(picture, np.uint8)).save(p),
                       overwrite=True)
    versions = software_versions()
    steps = [(s.name, f"{s.operation or s.model or 'measure ' + str(s.measure)} {s.params if s.params else ''}".strip(),
              s.label) for s in workflow.steps]
    notes = [str(w) for w in (result.image.metadata.get("warnings", []) if result.image is not None else [])
             if "/" not in str(w) and "\\" not in str(w)]  # what the reader noticed (never a path)
    source = f"input content SHA-256 {source_sha256[:16]}…" if source_sha256 else "input not identified"
    page = _Page(title=str(section.get("title") or workflow.name), description=workflow.description,
                 stamp=(f"{datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}; {source}; recipe "
                        f"{workflow.name} ({workflow.digest[:12]}); napari-medimg {versions.get('napari-medimg', '?')}. "
                        "Research use: every figure needs a clinician's review."),
                 picture=np.asarray(picture, np.uint8), notes=notes,
                 tables=[_Table.of(name, _with_names(workflow, result, name, table))
                         for name, table in result.tables.items()],
                 validation=str(section.get("validation") or "not stated"), steps=steps)
    atomic_write(folder / REPORT_PDF, lambda p: p.write_bytes(page.pdf()), overwrite=True)
    encoded = base64.b64encode(png.read_bytes()).decode("ascii")
    return atomic_write(folder / REPORT_HTML, lambda p: p.write_text(page.html(encoded), encoding="utf-8"),
                        overwrite=True)
