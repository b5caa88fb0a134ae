"""A dock widget that classifies the objects of a labels layer from their features.

The labels layer's ``features`` table (one row per object, an ``index`` column and a
background row 0, as the Measure widget fills it) holds the features. The user tags a
few objects with a class (the object selected in the layer, or Ctrl+click on an object),
then trains a classifier on the tagged objects that predicts all the others
(:func:`napari_medimg.analysis.classify.fit_predict_partial`), or clusters all objects
without tags (:func:`~napari_medimg.analysis.classify.cluster`). Results go back into
the features table (``class_tag``, ``class_predicted``, ``class_probability``,
``cluster``) and into a new labels layer whose voxels carry each object's class, on the
source layer's grid. Trained models are saved and loaded with the safe skops format of
:mod:`napari_medimg.analysis.model_io`.

The worker-side functions (:func:`classify_objects`, :func:`cluster_objects`,
:func:`apply_model`, :func:`class_image`) take plain arrays and DataFrames, never layers,
so they can run in a thread and be tested without Qt.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any, Callable, Sequence

import numpy as np
from magicgui.widgets import (
    CheckBox,
    ComboBox,
    Container,
    FileEdit,
    Label,
    ProgressBar,
    PushButton,
    Select,
    SpinBox,
    create_widget,
)

from ._common import load_model_file, report_save, save_model_file, confusion_text, counts_text, read_only_text, run_in_worker, side_by_side
from ._viewer_events import follow_viewer

__all__ = [
    "ObjectClassifierWidget",
    "ObjectClasses",
    "classify_objects",
    "cluster_objects",
    "apply_model",
    "class_image",
    "object_rows",
    "numeric_feature_columns",
    "default_feature_columns",
    "class_columns",
    "FeatureColumnsPicker",
    "TAG_COLUMN",
    "PREDICTED_COLUMN",
    "PROBABILITY_COLUMN",
    "CLUSTER_COLUMN",
    "SELECTION_METADATA_KEY",
]

TAG_COLUMN = "class_tag"
PREDICTED_COLUMN = "class_predicted"
PROBABILITY_COLUMN = "class_probability"
CLUSTER_COLUMN = "cluster"
CLUSTER_PROBABILITY_COLUMN = "cluster_probability"
UNTAGGED = 0
#: integer columns with more distinct values than this are not offered as class columns
MAX_CLASSES = 20
#: ``layer.metadata`` key where the Feature selection widget leaves its selected columns
SELECTION_METADATA_KEY = "medimg_feature_selection"
_ID_COLUMNS = ("index", "label")
_POSITION_PREFIXES = ("centroid_", "bbox_min_", "bbox_max_")


# ============================================================================ tables
def object_rows(features: Any) -> Any:
    """The object rows of a labels layer's features table (background row 0 left out).

    Raises
    ------
    ValueError
        No table, no ``index`` column, or no object rows.
    """
    if features is None or getattr(features, "shape", (0, 0))[1] == 0 or "index" not in features.columns:
        raise ValueError(
            "the labels layer has no features table with an 'index' column; measure its objects "
            "first (Measure objects widget)"
        )
    rows = features[features["index"] != 0]
    if len(rows) == 0:
        raise ValueError("the features table has no object rows (only the background)")
    return rows


def _is_result_column(name: str) -> bool:
    return name.startswith("class_") or name.startswith(CLUSTER_COLUMN)


def numeric_feature_columns(features: Any) -> list[str]:
    """Numeric columns usable as features: all but ids, class tags / predictions, clusters."""
    if features is None or getattr(features, "shape", (0, 0))[1] == 0:
        return []
    out = []
    for name in features.columns:
        name = str(name)
        if name in _ID_COLUMNS or _is_result_column(name):
            continue
        kind = features[name].dtype.kind
        if kind in "iuf":
            out.append(name)
    return out


def default_feature_columns(features: Any) -> list[str]:
    """The columns ticked by default: numeric features that are finite for every object.

    Position columns (``centroid_*``, ``bbox_*``) are left out by default: with a few
    tags a classifier would learn *where* the tagged objects are instead of what they
    look like. So are integer columns that look like classes (:func:`class_columns`),
    lest a class be used to predict itself. All of them can still be ticked.
    """
    try:
        rows = object_rows(features)
    except ValueError:
        return []
    classes = set(class_columns(features))
    out = []
    for name in numeric_feature_columns(features):
        if name.startswith(_POSITION_PREFIXES) or name in classes:
            continue
        values = rows[name].to_numpy(dtype=np.float64)
        if np.all(np.isfinite(values)):
            out.append(name)
    return out


def class_columns(features: Any) -> list[str]:
    """Columns that can hold a class, not ids or counts.

    Boolean, text and categorical columns; ``class_*`` and ``cluster*`` integer columns;
    other integer columns with at most :data:`MAX_CLASSES` distinct values whose name
    does not say they count something (``voxel_count`` ...). Preferred ones first:
    ``class_predicted``, ``cluster``, ``class_tag``.
    """
    if features is None or getattr(features, "shape", (0, 0))[1] == 0:
        return []
    found = []
    for name in features.columns:
        name = str(name)
        dtype = features[name].dtype
        if name in _ID_COLUMNS:
            continue
        if dtype.kind in "bOSUT" or str(getattr(dtype, "name", "")) in ("category", "string", "str"):
            found.append(name)
        elif dtype.kind in "iu" and (
            _is_result_column(name)
            or ("count" not in name.lower() and features[name].nunique(dropna=True) <= MAX_CLASSES)
        ):
            found.append(name)
    preferred = [c for c in (PREDICTED_COLUMN, CLUSTER_COLUMN, TAG_COLUMN) if c in found]
    return preferred + [c for c in found if c not in preferred]


def _feature_table(rows: Any, columns: Sequence[str]) -> Any:
    """The chosen feature columns of the object rows, checked (float64 DataFrame)."""
    columns = list(columns)
    if not columns:
        raise ValueError("choose at least one feature column")
    missing = [c for c in columns if c not in rows.columns]
    if missing:
        raise ValueError(f"the features table has no column(s) {missing}; measure the objects again")
    table = rows[columns].astype(np.float64)
    bad = [c for c in columns if not np.all(np.isfinite(table[c].to_numpy()))]
    if bad:
        raise ValueError(
            f"feature column(s) {bad} have NaN or infinite values for some objects; untick them "
            "(or remove those objects) before training"
        )
    return table


def _is_untagged(values: np.ndarray) -> np.ndarray:
    """True where a class column holds no class: 0, NaN, None or an empty string."""
    values = np.asarray(values)
    if values.dtype.kind in "iub":
        return values == UNTAGGED
    if values.dtype.kind == "f":
        return np.isnan(values) | (values == UNTAGGED)
    return np.array(
        [v is None or (isinstance(v, float) and np.isnan(v)) or v == "" or v == UNTAGGED for v in values],
        bool,
    )


# ============================================================================ voxels
def class_image(labels: np.ndarray, index: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Voxel-wise class: every voxel of object ``index[i]`` becomes ``classes[i]``.

    Vectorised: a lookup table indexed by label value (or a sorted search when label
    values are sparse and large); voxels of objects not in ``index`` and the background
    become 0.

    Parameters
    ----------
    labels : numpy.ndarray
        Label image (non-negative integers).
    index : numpy.ndarray
        Label value of each object.
    classes : numpy.ndarray
        Class (positive integer) of each object, same length as ``index``.

    Returns
    -------
    numpy.ndarray
        Same shape as ``labels``, the smallest unsigned dtype that holds the classes.

    Examples
    --------
    >>> class_image(np.array([[0, 3, 3], [7, 7, 5]]), np.array([3, 7]), np.array([2, 1])).tolist()
    [[0, 2, 2], [1, 1, 0]]
    """
    from ..dtypes import smallest_label_dtype

    labels = np.asarray(labels)
    if labels.dtype.kind not in "iub":
        raise ValueError(f"labels must hold integers, got dtype {labels.dtype}")
    index = np.asarray(index, dtype=np.int64)
    classes = np.asarray(classes, dtype=np.int64)
    if index.shape != classes.shape:
        raise ValueError(f"index {index.shape} and classes {classes.shape} differ in length")
    if classes.size and classes.min() < 0:
        raise ValueError("classes must be non-negative integers")
    dtype = smallest_label_dtype(int(classes.max()) if classes.size else 0)
    if labels.size == 0:
        return np.zeros(labels.shape, dtype)
    low, high = int(labels.min()), int(labels.max())
    if low >= 0 and high <= max(1 << 20, 8 * len(index)):
        lut = np.zeros(high + 1, dtype)
        keep = (index >= 0) & (index <= high)
        lut[index[keep]] = classes[keep]
        return lut[labels]
    order = np.argsort(index, kind="stable")
    sorted_index, sorted_classes = index[order], classes[order].astype(dtype)
    if not len(sorted_index):
        return np.zeros(labels.shape, dtype)
    position = np.clip(np.searchsorted(sorted_index, labels), 0, len(sorted_index) - 1)
    hit = sorted_index[position] == labels
    return np.where(hit, sorted_classes[position], dtype.type(0))


def _class_codes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Layer values 1..K for any class labels: positive integers stay, others are numbered."""
    values = np.asarray(values)
    classes = np.unique(values)
    if values.dtype.kind in "iu" and classes.size and classes.min() >= 1:
        return values.astype(np.int64), classes
    return np.searchsorted(classes, values).astype(np.int64) + 1, classes


# ============================================================================ results
@dataclasses.dataclass
class ObjectClasses:
    """What a classification or clustering of objects gives back to the widget.

    Attributes
    ----------
    column : str
        Features column to write (``class_predicted`` or ``cluster``).
    index : numpy.ndarray
        Label value of each object.
    values : numpy.ndarray
        Class / cluster of each object (what goes into ``column``).
    probability : numpy.ndarray or None
        Probability of that class per object (classifiers with probabilities, GMM).
    image : numpy.ndarray
        Voxel-wise class image (1..K, 0 background) on the labels' grid.
    summary : str
        Scores, confusion matrix and counts as text.
    model : object
        The fitted pipeline (to save).
    metadata : dict
        JSON metadata saved with the model (task, features, classes ...).
    scores : object
        :class:`~napari_medimg.analysis.classify.Scores` of the CV on tagged objects, or None.
    """

    column: str
    index: np.ndarray
    values: np.ndarray
    probability: np.ndarray | None
    image: np.ndarray
    summary: str
    model: Any
    metadata: dict
    scores: Any = None


def classify_objects(
    labels: np.ndarray,
    features: Any,
    columns: Sequence[str],
    *,
    kind: str = "random_forest",
    tag_column: str = TAG_COLUMN,
    cv: int = 5,
    random_state: int = 0,
) -> ObjectClasses:
    """Train on the tagged objects, predict all, and paint the classes into the voxels.

    Parameters
    ----------
    labels : numpy.ndarray
        The label image (a snapshot).
    features : pandas.DataFrame
        The layer's features (``index`` column, background row 0).
    columns : sequence of str
        Feature columns to use.
    kind : {"random_forest", "svm", "logistic"}
        Classifier (see :func:`~napari_medimg.analysis.classify.make_classifier`).
    tag_column : str
        Column with the tags; 0 (or NaN / "") means untagged.
    cv : int
        Folds of the cross-validation on the tagged objects.
    random_state : int
        Seed.

    Returns
    -------
    ObjectClasses
        ``values`` are the final classes (the tag where tagged, else the prediction).
    """
    from ..analysis.classify import fit_predict_partial

    rows = object_rows(features)
    X = _feature_table(rows, columns)
    if tag_column not in rows.columns:
        raise ValueError(f"no object is tagged yet: tag a few objects of each class (column {tag_column!r})")
    tags = rows[tag_column].to_numpy()
    untagged = _is_untagged(tags)
    y = np.where(untagged, np.nan, tags) if tags.dtype.kind == "f" else tags
    if tags.dtype.kind == "O":
        y = np.array([None if u else v for u, v in zip(untagged, tags)], dtype=object)
    fit = fit_predict_partial(X, y, missing=UNTAGGED, kind=kind, cv=cv, random_state=random_state)
    index = rows["index"].to_numpy(np.int64)
    values = np.asarray(fit.predictions)
    probability = None
    if fit.probabilities is not None:
        column = np.searchsorted(fit.classes, values)
        probability = fit.probabilities[np.arange(len(values)), column].astype(np.float64)
    codes, _ = _class_codes(values)
    image = class_image(labels, index, codes)
    n_tagged = int(fit.tagged.sum())
    lines = [f"{kind} on {len(columns)} feature(s); {n_tagged} tagged, {len(values) - n_tagged} predicted"]
    if fit.scores is None:
        lines.append("CV: tag at least two objects of every class for a cross-validated score")
    else:
        s = fit.scores
        lines.append(
            f"CV on the tagged objects ({s.folds} folds): accuracy {s.accuracy:.3f} ± {s.accuracy_std:.3f}, "
            f"balanced accuracy {s.balanced_accuracy:.3f} ± {s.balanced_accuracy_std:.3f}"
        )
        lines.append(confusion_text(s.confusion, s.classes))
    lines.append(counts_text(values, "objects per class"))
    metadata = {
        "task": "classify",
        "kind": kind,
        "features": list(columns),
        "classes": [c.item() if hasattr(c, "item") else c for c in fit.classes],
        "tag_column": tag_column,
    }
    summary = "\n".join(lines)
    return ObjectClasses(
        PREDICTED_COLUMN, index, values, probability, image, summary, fit.model, metadata, fit.scores
    )


def cluster_objects(
    labels: np.ndarray,
    features: Any,
    columns: Sequence[str],
    *,
    method: str = "kmeans",
    n_clusters: int = 2,
    random_state: int = 0,
) -> ObjectClasses:
    """Cluster all objects (no tags needed) and paint the clusters into the voxels.

    Clusters are numbered 1..n_clusters by decreasing size
    (:func:`~napari_medimg.analysis.classify.cluster`).
    """
    from ..analysis.classify import cluster

    rows = object_rows(features)
    X = _feature_table(rows, columns)
    result = cluster(X, method=method, n_clusters=n_clusters, random_state=random_state)
    index = rows["index"].to_numpy(np.int64)
    values = result.labels.astype(np.int64)
    probability = None
    if result.probabilities is not None:
        probability = result.probabilities[np.arange(len(values)), values - 1].astype(np.float64)
    image = class_image(labels, index, values)
    summary = f"{method}, {n_clusters} clusters on {len(columns)} feature(s)\n" + counts_text(
        values, "objects per cluster"
    )
    metadata = {
        "task": "cluster", "method": method, "features": list(columns), "order": result.order.tolist(),
    }
    return ObjectClasses(CLUSTER_COLUMN, index, values, probability, image, summary, result.model, metadata)


def apply_model(model: Any, metadata: dict, labels: np.ndarray, features: Any) -> ObjectClasses:
    """Predict the objects of a labels layer with a saved model (see :func:`save_model`).

    ``metadata["features"]`` names the columns the model was trained on; a clustering
    model (``metadata["task"] == "cluster"``) gives the clusters numbered as when saved.
    """
    from ..analysis.classify import predict

    columns = metadata.get("features")
    if not columns:
        raise ValueError("the model file does not name its feature columns; it was not saved by this widget")
    rows = object_rows(features)
    X = _feature_table(rows, columns)
    index = rows["index"].to_numpy(np.int64)
    if metadata.get("task") == "cluster":
        order = np.asarray(metadata["order"], np.int64)
        inverse = np.empty(len(order), np.int64)
        inverse[order] = np.arange(len(order))
        values = inverse[np.asarray(model.predict(X.to_numpy()), np.int64)] + 1
        column = CLUSTER_COLUMN
    else:
        values = np.asarray(predict(model, X))
        column = PREDICTED_COLUMN
    probability = None
    if column == PREDICTED_COLUMN and hasattr(model, "predict_proba") and metadata.get("kind") != "svm":
        proba = model.predict_proba(X.to_numpy())
        column_of = np.searchsorted(model.classes_, values)
        probability = proba[np.arange(len(values)), column_of].astype(np.float64)
    codes, _ = _class_codes(values)
    image = class_image(labels, index, codes)
    what = metadata.get("kind", metadata.get("method", ""))
    summary = (
        f"loaded {metadata.get('task', 'classify')} model ({what}) on {len(columns)} feature(s)\n"
        + counts_text(values, "objects per class")
    )
    return ObjectClasses(column, index, values, probability, image, summary, model, dict(metadata))


# ============================================================================ Qt helpers
class FeatureColumnsPicker(Select):
    """A multi-select list of a features table's numeric columns.

    When the table changes (new columns appear, e.g. after training), the user's ticks
    are kept and only columns never seen before get the default (see
    :func:`default_feature_columns`).
    """

    def __init__(self, label: str = "features", **kwargs: Any) -> None:
        self._columns: list[str] = []
        # a callable, so that the container's reset_choices keeps the columns
        super().__init__(choices=self._current_columns, value=[], allow_multiple=True, label=label, **kwargs)
        self.native.setMinimumHeight(120)
        self._known: set[str] = set()

    def _current_columns(self, *_: Any) -> list[str]:
        return list(self._columns)

    def update_from(self, features: Any, *, reset: bool = False, exclude: Sequence[str] = ()) -> None:
        """Offer the numeric columns of ``features`` but ``exclude``; keep ticks unless ``reset``."""
        columns = [c for c in numeric_feature_columns(features) if c not in exclude]
        defaults = set(default_feature_columns(features))
        current = set(self.value or ())
        if reset:
            chosen = [c for c in columns if c in defaults]
            self._known = set(columns)
        else:
            chosen = [c for c in columns if c in current or (c not in self._known and c in defaults)]
            self._known |= set(columns)
        self._columns = columns
        self.reset_choices()
        self.value = chosen


def select_object(viewer: Any, layer: Any, label: int) -> None:
    """Show object ``label`` of ``layer`` alone and move the view to the slice through it."""
    layer.selected_label = int(label)
    layer.show_selected_label = True
    data = np.asarray(layer.data[0] if getattr(layer, "multiscale", False) else layer.data)
    where = np.argwhere(data == label)
    if len(where):
        centre = layer.data_to_world(where.mean(axis=0))
        for axis in range(layer.ndim - viewer.dims.ndisplay):
            viewer.dims.set_point(axis, centre[axis])


def geometry_kwargs(layer: Any) -> dict[str, Any]:
    """Layer keyword arguments that put a new layer exactly on ``layer``'s grid."""
    try:
        metadata = copy.deepcopy(dict(layer.metadata or {}))
    except Exception:  # pragma: no cover - metadata that cannot be copied
        metadata = dict(layer.metadata or {})
    metadata.pop(SELECTION_METADATA_KEY, None)
    return {
        "scale": tuple(layer.scale),
        "translate": tuple(layer.translate),
        "rotate": np.asarray(layer.rotate),
        "shear": np.asarray(layer.shear),
        "affine": layer.affine,
        "units": tuple(layer.units),
        "axis_labels": tuple(layer.axis_labels),
        "metadata": metadata,
    }


def write_column(
    layer: Any, column: str, index: np.ndarray, values: np.ndarray, *, background: Any = 0
) -> None:
    """Write ``values`` (one per object ``index``) into ``layer.features[column]``.

    Rows are matched by the ``index`` column, so a table reordered or grown since the
    snapshot still gets each value on its object's row; other rows get ``background``.
    """
    import pandas as pd

    features = layer.features.copy()
    mapped = features["index"].map(pd.Series(np.asarray(values), index=np.asarray(index)))
    if background is not None and not (isinstance(background, float) and np.isnan(background)):
        mapped = mapped.fillna(background)
    if np.asarray(values).dtype.kind in "iub" and not mapped.isna().any():
        mapped = mapped.astype(np.int64)
    features[column] = mapped.to_numpy()
    layer.features = features


# ============================================================================ widget
class ObjectClassifierWidget(Container):
    """Tag objects, train a classifier that predicts the others, or cluster them.

    Parameters
    ----------
    napari_viewer : napari.Viewer
        The viewer whose labels layers are offered and receive the class layers.
    """

    def __init__(self, napari_viewer: Any) -> None:
        import napari

        from ..analysis.classify import CLASSIFIERS, CLUSTERINGS

        super().__init__(labels=True)
        self.viewer = napari_viewer
        self.labels_layer = create_widget(annotation=napari.layers.Labels, label="labels")
        self.feature_columns = FeatureColumnsPicker(
            tooltip="Feature columns the classifier / clustering uses (numeric; ids and class columns "
            "left out)."
        )
        self.use_selection_button = PushButton(
            text="Use the Feature selection result",
            tooltip="Tick the columns the Feature selection widget selected for this layer.",
        )
        # tagging
        self.class_value = SpinBox(value=1, min=1, max=255, label="class",
                                   tooltip="Class to give to the tagged objects (1, 2, ...).")
        self.tag_button = PushButton(text="Tag selected object")
        self.clear_button = PushButton(text="Untag selected")
        self.clear_all_button = PushButton(text="Clear all tags")
        self.click_to_tag = CheckBox(
            value=True, text="Ctrl+click an object to tag it (pan/zoom mode)",
            tooltip="With the labels layer active, Ctrl+click an object to give it the class above.",
        )
        self.tag_status = Label(value="")
        # training
        self.model_kind = ComboBox(choices=list(CLASSIFIERS), value="random_forest", label="model")
        self.cv_folds = SpinBox(
            value=5, min=2, max=20, label="CV folds",
            tooltip="Folds of the cross-validation on the tagged objects (fewer if a class has few tags).",
        )
        self.train_button = PushButton(text="Train and predict")
        self.cluster_method = ComboBox(choices=list(CLUSTERINGS), value="kmeans", label="clustering")
        self.n_clusters = SpinBox(value=2, min=2, max=50, label="clusters")
        self.cluster_button = PushButton(text="Cluster (no tags)")
        self.progress_bar = ProgressBar(value=0, min=0, max=1, label="working", visible=False)
        self.results = read_only_text("results", height=150)
        # model files
        self.save_path = FileEdit(mode="w", filter="*.skops", label="save model to", value="")
        self.save_button = PushButton(text="Save model")
        self.load_path = FileEdit(mode="r", filter="*.skops", label="model file", value="")
        self.load_button = PushButton(text="Load model and predict")
        self.extend(
            [
                self.labels_layer,
                self.feature_columns,
                self.use_selection_button,
                self.class_value,
                side_by_side(self.tag_button, self.clear_button, self.clear_all_button),
                self.click_to_tag,
                self.tag_status,
                self.model_kind,
                self.cv_folds,
                self.train_button,
                self.cluster_method,
                self.n_clusters,
                self.cluster_button,
                self.progress_bar,
                self.results,
                self.save_path,
                self.save_button,
                self.load_path,
                self.load_button,
            ]
        )
        self.model: Any = None
        self.model_metadata: dict = {}
        self.worker: Any = None
        self._layer: Any = None
        self._class_layers: dict[tuple[int, str], Any] = {}
        self.labels_layer.changed.connect(self._set_layer)
        self.tag_button.changed.connect(self.tag_selected)
        self.clear_button.changed.connect(self.untag_selected)
        self.clear_all_button.changed.connect(self.clear_tags)
        self.use_selection_button.changed.connect(self.use_feature_selection)
        self.train_button.changed.connect(self.train)
        self.cluster_button.changed.connect(self.cluster)
        self.save_button.changed.connect(self._save_clicked)
        self.load_button.changed.connect(self._load_clicked)
        self.reset_choices()
        follow_viewer(self, napari_viewer.layers.events.inserted, self.reset_choices)
        follow_viewer(self, napari_viewer.layers.events.removed, self.reset_choices)
        self._set_layer(self.labels_layer.value)

    # ------------------------------------------------------------------ layer
    def _set_layer(self, layer: Any) -> None:
        if layer is self._layer:
            return
        if self._layer is not None:
            self._layer.events.features.disconnect(self._features_changed)
            if self._on_click in self._layer.mouse_drag_callbacks:
                self._layer.mouse_drag_callbacks.remove(self._on_click)
        self._layer = layer
        if layer is not None:
            layer.events.features.connect(self._features_changed)
            layer.mouse_drag_callbacks.append(self._on_click)
        self.feature_columns.update_from(self._features(), reset=True)
        self._show_tags()

    def _features(self) -> Any:
        layer = self._layer
        return None if layer is None else layer.features

    def _features_changed(self, *_: Any) -> None:
        self.feature_columns.update_from(self._features())
        self._show_tags()

    def use_feature_selection(self) -> None:
        """Tick the columns chosen by the Feature selection widget (kept in the layer's metadata)."""
        from napari.utils.notifications import show_error

        layer = self._layer
        chosen = ((layer.metadata or {}).get(SELECTION_METADATA_KEY) or {}).get("selected") if layer else None
        if not chosen:
            show_error("Object classifier: run the Feature selection widget on this layer first")
            return
        self.feature_columns.value = [c for c in chosen if c in self.feature_columns.choices]

    # ---------------------------------------------------------------- tagging
    def tag(self, label: int, value: int | None) -> None:
        """Give object ``label`` the class ``value`` (None or 0 removes its tag)."""
        from napari.utils.notifications import show_error

        layer = self._layer
        if layer is None:
            show_error("Object classifier: choose a labels layer")
            return
        try:
            features = object_rows(layer.features)
        except ValueError as exc:
            show_error(f"Object classifier: {exc}")
            return
        label = int(label)
        if label == 0:
            show_error("Object classifier: select an object, not the background")
            return
        if not np.any(features["index"].to_numpy() == label):
            show_error(
                f"Object classifier: object {label} has no row in the features table; "
                "measure the objects again"
            )
            return
        table = layer.features.copy()
        if TAG_COLUMN not in table.columns:
            table[TAG_COLUMN] = np.zeros(len(table), np.int64)
        table.loc[table["index"] == label, TAG_COLUMN] = UNTAGGED if value is None else int(value)
        layer.features = table

    def tag_selected(self) -> None:
        """Tag the layer's selected object with the chosen class."""
        if self._layer is not None:
            self.tag(self._layer.selected_label, int(self.class_value.value))

    def untag_selected(self) -> None:
        """Remove the tag of the layer's selected object."""
        if self._layer is not None:
            self.tag(self._layer.selected_label, None)

    def clear_tags(self) -> None:
        """Remove every tag of the layer."""
        layer = self._layer
        if layer is not None and TAG_COLUMN in layer.features.columns:
            table = layer.features.copy()
            table[TAG_COLUMN] = UNTAGGED
            layer.features = table

    def _on_click(self, layer: Any, event: Any) -> None:
        if not self.click_to_tag.value or "Control" not in tuple(event.modifiers):
            return
        value = layer.get_value(
            event.position,
            view_direction=event.view_direction,
            dims_displayed=event.dims_displayed,
            world=True,
        )
        if isinstance(value, tuple):  # multiscale: (level, value)
            value = value[-1]
        if value:
            layer.selected_label = int(value)
            self.tag(int(value), int(self.class_value.value))

    def _show_tags(self) -> None:
        features = self._features()
        if features is None or TAG_COLUMN not in features.columns:
            self.tag_status.value = "no tags yet"
            return
        tags = features.loc[features["index"] != 0, TAG_COLUMN].to_numpy()
        tags = tags[~_is_untagged(tags)]
        self.tag_status.value = counts_text(tags, "tags") if len(tags) else "no tags yet"

    # ---------------------------------------------------------------- running
    def _snapshot(self, title: str) -> tuple[Any, np.ndarray, Any] | None:
        from napari.utils.notifications import show_error

        from .._napari.layers import layer_snapshot

        layer = self._layer
        if layer is None:
            show_error(f"{title}: choose a labels layer")
            return None
        columns = list(self.feature_columns.value or ())
        if not columns:
            show_error(f"{title}: tick at least one feature column (measure the objects first)")
            return None
        return layer, layer_snapshot(layer).array, layer.features.copy()

    def _buttons(self) -> list[Any]:
        return [self.train_button, self.cluster_button, self.load_button, self.progress_bar]

    def train(self, *, start_thread: bool = True) -> Any:
        """Train on the tagged objects and predict the rest, in a worker; returns the worker."""
        snapshot = self._snapshot("Train")
        if snapshot is None:
            return None
        layer, labels, features = snapshot
        self.results.value = "training ..."
        return self._start(
            classify_objects, labels, features, list(self.feature_columns.value),
            kind=self.model_kind.value, cv=int(self.cv_folds.value),
            on_result=lambda result: self._show_result(layer, result, "classes"), title="Train",
            start_thread=start_thread,
        )

    def cluster(self, *, start_thread: bool = True) -> Any:
        """Cluster all objects (no tags), in a worker; returns the worker."""
        snapshot = self._snapshot("Cluster")
        if snapshot is None:
            return None
        layer, labels, features = snapshot
        self.results.value = "clustering ..."
        return self._start(
            cluster_objects, labels, features, list(self.feature_columns.value),
            method=self.cluster_method.value, n_clusters=int(self.n_clusters.value),
            on_result=lambda result: self._show_result(layer, result, "clusters"), title="Cluster",
            start_thread=start_thread,
        )

    def _start(self, function: Callable[..., Any], *args: Any, on_result: Callable[[Any], None], title: str,
               start_thread: bool, **kwargs: Any) -> Any:
        worker = run_in_worker(function, *args, on_result=on_result, title=title, busy=self._buttons(),
                                status=self.results, **kwargs)
        self.worker = worker
        if start_thread:
            worker.start()
        return worker

    def _show_result(self, layer: Any, result: ObjectClasses, suffix: str) -> None:
        if layer not in self.viewer.layers:
            return
        self.model, self.model_metadata = result.model, {**result.metadata, "source_layer": layer.name}
        write_column(layer, result.column, result.index, result.values)
        probability_column = (
            PROBABILITY_COLUMN if result.column == PREDICTED_COLUMN else CLUSTER_PROBABILITY_COLUMN
        )
        if result.probability is not None:
            write_column(layer, probability_column, result.index, result.probability, background=np.nan)
        elif probability_column in layer.features.columns:
            features = layer.features.copy()
            del features[probability_column]
            layer.features = features
        self.results.value = result.summary
        self.class_layer = self._show_class_layer(layer, result.image, suffix)

    def _show_class_layer(self, layer: Any, image: np.ndarray, suffix: str) -> Any:
        """Add ``"<name> <suffix>"`` on the source grid, or update the one this widget made before."""
        classes, counts = np.unique(image[image > 0], return_counts=True)
        features = {"index": np.concatenate([[0], classes]).astype(np.int64),
                    "voxel_count": np.concatenate([[0], counts]).astype(np.int64)}
        key = (id(layer), suffix)
        existing = self._class_layers.get(key)
        if existing is not None and existing in self.viewer.layers and existing.data.shape == image.shape:
            existing.data = image
            existing.features = features
            return existing
        new = self.viewer.add_labels(
            image, name=f"{layer.name} {suffix}", features=features, **geometry_kwargs(layer)
        )
        self._class_layers[key] = new
        return new

    # ------------------------------------------------------------------ models
    def _save_clicked(self) -> None:
        report_save(self.save_model, self.save_path.value)

    def save_model(self, path: Any) -> Any:
        """Save the last trained classifier / clustering with its feature names (skops)."""
        missing = "train a classifier or run a clustering first"
        return save_model_file(self.model, self.model_metadata, path, missing=missing)

    def _load_clicked(self) -> None:
        self.load_and_predict(self.load_path.value)

    def load_and_predict(self, path: Any, *, start_thread: bool = True) -> Any:
        """Load a saved model (safely) and predict the objects of the chosen layer; returns the worker."""
        from napari.utils.notifications import show_error

        loaded = load_model_file(path)
        if loaded is None:
            return None
        model, metadata = loaded
        layer = self._layer
        if layer is None:
            show_error("Load model: choose a labels layer")
            return None
        from .._napari.layers import layer_snapshot

        suffix = "clusters" if metadata.get("task") == "cluster" else "classes"
        self.results.value = "predicting ..."
        return self._start(
            apply_model, model, metadata, layer_snapshot(layer).array, layer.features.copy(),
            on_result=lambda result: self._show_result(layer, result, suffix), title="Predict",
            start_thread=start_thread,
        )
