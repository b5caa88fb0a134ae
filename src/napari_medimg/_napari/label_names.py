"""Names and colours of label values on a napari Labels layer (no Qt).

Names live in the layer's ``features`` as a ``name`` column next to ``index`` (the label
value), so napari shows them in the status bar when the cursor is over the object
(``Labels.get_status`` appends every feature of the label under the cursor). Colours go
into the layer's colormap as a direct map (label value -> RGBA); labels that a class map
gives no colour keep napari's default colour for their value.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

import numpy as np

from ..io.label_map import LabelClass

__all__ = ["class_map_layer_kwargs", "sidecar_layer_kwargs", "label_names", "set_label_name", "keep_names", "label_rgba"]

NAME = "name"
# napari's default label colours: 49 colours cycled, seed 0.5 (as Labels.__init__ makes them)
_DEFAULT_COLOURS = 49
_DEFAULT_SEED = 0.5


def _default_rgba(values: np.ndarray) -> np.ndarray:
    from napari.utils.colormaps import label_colormap

    return label_colormap(_DEFAULT_COLOURS, _DEFAULT_SEED).map(np.asarray(values))


def class_map_layer_kwargs(classes: Mapping[int, LabelClass], present: Iterable[int] = ()) -> dict[str, Any]:
    """Labels-layer keyword arguments that carry a class map: ``features`` and ``colormap``.

    Parameters
    ----------
    classes : dict of int to LabelClass
        From :func:`napari_medimg.io.label_map.read_label_map`.
    present : iterable of int
        Label values in the data; those missing from the map get a row with an empty name.

    Returns
    -------
    dict
        ``features`` (``index`` with the background row 0 first, ``name``) and, when the
        map has at least one colour, ``colormap`` (label value -> RGBA; other values keep
        napari's default colour, unknown values are drawn white).
    """
    values = sorted(set(int(v) for v in classes) | {int(v) for v in present if int(v) != 0})
    names = [classes[v].name if v in classes else "" for v in values]
    kwargs: dict[str, Any] = {"features": {"index": np.array([0, *values], dtype=np.int64), NAME: np.array(["", *names], dtype=object)}}
    if any(c.color is not None for c in classes.values()):
        rgba = _default_rgba(np.array(values, dtype=np.int64)) if values else np.zeros((0, 4))
        colours: dict[Any, Any] = {0: "transparent", None: "white"}
        for value, default in zip(values, rgba):
            given = classes[value].color if value in classes else None
            colours[value] = (*given, 1.0) if given is not None else tuple(float(c) for c in default)
        kwargs["colormap"] = colours
    return kwargs


def sidecar_layer_kwargs(path: Any) -> dict[str, Any]:
    """``features`` and ``colormap`` from the JSON sidecar of a labels file ({} without one).

    Parameters
    ----------
    path : str or PathLike
        The labels file; its sidecar is ``<same stem>.json`` beside it
        (:func:`napari_medimg.io.label_map.sidecar_of`).

    Raises
    ------
    napari_medimg.io.ImageReadError
        The sidecar exists but is not a class map.
    """
    from ..io.label_map import read_label_map, sidecar_of

    sidecar = sidecar_of(path)
    if sidecar is None:
        return {}
    return class_map_layer_kwargs(read_label_map(sidecar))


def embedded_layer_kwargs(volume: Any) -> dict[str, Any]:
    """``features`` and ``colormap`` from classes a file carries itself (a DICOM SEG's segments)."""
    from ..io.label_map import LabelClass

    embedded = volume.metadata.get("label_classes") or {}
    classes = {int(v): LabelClass(int(v), c["name"], tuple(c["color"]) if c.get("color") else None) for v, c in embedded.items()}
    return class_map_layer_kwargs(classes) if classes else {}


def label_names(layer: Any) -> dict[int, str]:
    """Label value -> name from the layer's ``features`` (empty when it has no names)."""
    features = layer.features
    if features is None or NAME not in features:
        return {}
    index = features["index"] if "index" in features else range(len(features))
    return {int(i): str(n) for i, n in zip(index, features[NAME]) if int(i) != 0 and isinstance(n, str) and n}


def _background_of(column: Any) -> Any:
    kind = np.asarray(column).dtype.kind
    return np.nan if kind == "f" else 0 if kind in "iub" else ""


def set_label_name(layer: Any, value: int, name: str) -> None:
    """Give label ``value`` of ``layer`` a name (a row is added when it has none).

    The other feature columns are kept; a new row holds NaN, 0 or "" in them.

    Parameters
    ----------
    layer : napari.layers.Labels
    value : int
        Label value (> 0).
    name : str
        The name; "" clears it.
    """
    import pandas as pd

    value = int(value)
    if value <= 0:
        raise ValueError(f"only objects (label > 0) have names, got {value}")
    features = pd.DataFrame(layer.features).copy()
    if "index" not in features:
        features.insert(0, "index", np.arange(len(features), dtype=np.int64))
    if len(features) == 0 or not np.any(features["index"].to_numpy() == 0):
        background = {c: _background_of(features[c]) for c in features.columns}
        background["index"] = 0
        features = pd.concat([pd.DataFrame([background]), features], ignore_index=True)
    if NAME not in features:
        features[NAME] = ""
    features[NAME] = features[NAME].astype(object).where(features[NAME].notna(), "")
    rows = np.flatnonzero(features["index"].to_numpy() == value)
    if len(rows):
        features.loc[rows[0], NAME] = str(name)
    else:
        row = {c: _background_of(features[c]) for c in features.columns}
        row.update({"index": value, NAME: str(name)})
        features = pd.concat([features, pd.DataFrame([row])], ignore_index=True)
    layer.features = features


def keep_names(layer: Any, features: Mapping[str, Any]) -> dict[str, Any]:
    """``features`` (napari form, with ``index``) plus the layer's current names.

    For a widget that replaces a layer's features with new measurements: the names the
    user gave (or a class map brought) stay on the objects.
    """
    names = label_names(layer)
    out = dict(features)
    if not names or NAME in out or "index" not in out:
        return out
    out[NAME] = np.array([names.get(int(i), "") for i in out["index"]], dtype=object)
    return out


def label_rgba(layer: Any, values: Iterable[int]) -> np.ndarray:
    """The RGBA (0-1) of each label value in ``layer``'s colormap, shape (n, 4).

    The colour of the object itself, also while the layer shows only the selected label.
    """
    values = np.asarray(list(values), dtype=np.int64)
    if not len(values):
        return np.zeros((0, 4))
    colormap = layer.colormap.model_copy(update={"use_selection": False})
    return np.asarray(colormap.map(values), dtype=np.float64).reshape(-1, 4)
