"""Clinical recipes: workflows with a report, shipped with the package (``<name>.yaml`` here).

A recipe is a :class:`~napari_medimg.pipeline.Workflow` whose ``report`` section says what it
was validated on and what its picture shows. It runs from napari (Layers > Segment > Recipes >
*Run a clinical recipe*), from Python (``load_workflow("chest_ct_study").run(image)``) and in
batch (``napari-medimg batch chest_ct_study STUDIES OUT``), which writes a report per study.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["RECIPES_FOLDER", "recipe_names", "recipe_path"]

RECIPES_FOLDER = Path(__file__).parent


def recipe_names() -> list[str]:
    """The shipped recipes' names, sorted."""
    return sorted(p.stem for p in RECIPES_FOLDER.glob("*.yaml"))


def recipe_path(name: str) -> Path | None:
    """The YAML file of the shipped recipe ``name``, or None."""
    path = RECIPES_FOLDER / f"{name}.yaml"
    return path if name in recipe_names() else None
