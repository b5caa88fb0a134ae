"""A dock widget that ranks and selects the features of a labels layer's objects.

On the objects of a labels layer whose ``features`` hold a class column (the tags of
the Object classifier, its predictions, clusters, or any integer / text column), it runs
in a worker thread, in this order (:mod:`napari_medimg.analysis.selection`):

1. :func:`~napari_medimg.analysis.selection.variance_filter`: drop constant features;
2. :func:`~napari_medimg.analysis.selection.correlation_filter`: of each pair with
   ``|r|`` above the threshold keep the more relevant one (mutual information with the
   class, since the columns have mixed units);
3. :func:`~napari_medimg.analysis.selection.mutual_information_ranking` of every feature;
4. :func:`~napari_medimg.analysis.selection.rfe_cv` on the features left by 1 and 2.

The table lists every feature ranked by mutual information with the outcome of each step;
the selected ones (kept by all steps) are highlighted. The RFE cross-validated score
against the number of features is drawn (matplotlib) or, without matplotlib, written
out. The selection is kept in the layer's metadata, where the Object classifier's "Use
the Feature selection result" button finds it.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import numpy as np
from magicgui.widgets import (
    ComboBox,
    Container,
    FloatSpinBox,
    ProgressBar,
    PushButton,
    SpinBox,
    create_widget,
)
from qtpy.QtGui import QBrush, QColor, QFont
from qtpy.QtWidgets import QAbstractItemView, QTableWidget

from .classify_widget import (
    SELECTION_METADATA_KEY,
    TAG_COLUMN,
    FeatureColumnsPicker,
    _feature_table,
    _is_untagged,
    class_columns,
    object_rows,
)
from ._common import read_only_text, run_in_worker
from .features_table import _NumberItem
from ._viewer_events import follow_viewer

__all__ = ["FeatureSelectionWidget", "FeatureSelectionReport", "select_features", "TABLE_COLUMNS"]

TABLE_COLUMNS = (
    "feature", "MI rank", "mutual information", "variance", "correlated with", "RFE rank", "selected",
)
RFE_ESTIMATORS = ("logistic", "linear_svm", "random_forest")


@dataclasses.dataclass
class FeatureSelectionReport:
    """Outcome of :func:`select_features`.

    Attributes
    ----------
    table : dict of str to list
        Columns :data:`TABLE_COLUMNS`, one row per feature, sorted by mutual information
        rank.
    selected : list of str
        Features kept by every step, in input order.
    n_features, cv_mean, cv_std : numpy.ndarray or None
        RFE's CV score curve (None when RFE could not run).
    n_selected : int
        Number of features RFE kept (or of features left by the filters).
    summary : str
        What each step did, as text.
    """

    table: dict[str, list]
    selected: list[str]
    n_features: np.ndarray | None
    cv_mean: np.ndarray | None
    cv_std: np.ndarray | None
    n_selected: int
    summary: str
    target: str


def _target(rows: Any, target: str) -> tuple[np.ndarray, np.ndarray]:
    """Class labels of the rows with a class, and which rows those are."""
    if target not in rows.columns:
        raise ValueError(f"the features table has no column {target!r}")
    values = rows[target].to_numpy()
    keep = ~_is_untagged(values)
    y = values[keep]
    if y.dtype.kind == "O":
        y = y.astype(str)
    if y.dtype.kind == "f" and np.all(y == np.round(y)):
        y = y.astype(np.int64)
    classes = np.unique(y)
    if len(classes) < 2:
        raise ValueError(
            f"column {target!r} holds {len(classes)} class(es) among {int(keep.sum())} object(s) with a "
            "class; "
            "feature selection needs at least two (tag more objects, or train / cluster first)"
        )
    return y, keep


def select_features(
    features: Any,
    columns: Sequence[str],
    target: str = TAG_COLUMN,
    *,
    variance_threshold: float = 0.0,
    correlation_threshold: float = 0.9,
    estimator: str = "logistic",
    cv: int = 5,
    tolerance: float = 0.0,
    random_state: int = 0,
) -> FeatureSelectionReport:
    """Variance filter, correlation filter, mutual-information ranking and RFE-CV.

    Parameters
    ----------
    features : pandas.DataFrame
        A labels layer's features (``index`` column, background row 0).
    columns : sequence of str
        Candidate feature columns.
    target : str
        Class column; objects without a class (0, NaN, "") are left out.
    variance_threshold : float
        Features with variance ``<=`` this are dropped (in each feature's own units).
    correlation_threshold : float
        Largest ``|r|`` (Pearson) allowed between two kept features.
    estimator : {"logistic", "linear_svm", "random_forest"}
        Importance model of RFE.
    cv : int
        RFE folds (fewer when a class has fewer objects).
    tolerance : float
        RFE keeps the fewest features whose CV score is within this of the best.
    random_state : int
        Seed.

    Returns
    -------
    FeatureSelectionReport
    """
    from ..analysis.selection import (
        correlation_filter,
        mutual_information_ranking,
        rfe_cv,
        variance_filter,
    )

    rows = object_rows(features)
    X = _feature_table(rows, [c for c in columns if c != target])
    y, keep = _target(rows, target)
    X = X[keep]
    names = list(X.columns)
    notes = [f"{len(y)} object(s) with a class in {target!r}, {len(names)} candidate feature(s)"]

    variance = variance_filter(X, threshold=variance_threshold)
    notes.append(f"variance filter (> {variance_threshold:g}): {len(variance.selected)} kept")
    X_var = X[variance.selected]
    dropped_for: dict[str, str] = {}
    if len(variance.selected) >= 2:
        correlation = correlation_filter(
            X_var, y, threshold=correlation_threshold, prefer="relevance", random_state=random_state
        )
        after_correlation = correlation.selected
        dropped_for = dict(correlation.details["dropped_for"])
    else:
        after_correlation = list(variance.selected)
    if not after_correlation:
        raise ValueError("every feature is constant on these objects; nothing to select")
    notes.append(f"correlation filter (|r| <= {correlation_threshold:g}): {len(after_correlation)} kept")
    information = mutual_information_ranking(X, y, random_state=random_state)
    mi = dict(zip(information.names, information.scores))
    mi_rank = dict(zip(information.names, information.ranking))

    rfe_rank: dict[str, Any] = {}
    curve: tuple[Any, Any, Any] = (None, None, None)
    _, counts = np.unique(y, return_counts=True)
    if len(after_correlation) >= 2 and counts.min() >= 2:
        rfe = rfe_cv(
            X[after_correlation], y,
            estimator=estimator, cv=cv, tolerance=tolerance, random_state=random_state,
        )
        rfe_rank = dict(zip(rfe.names, rfe.ranking))
        selected_set = set(rfe.selected)
        curve = (rfe.details["n_features"], rfe.details["cv_mean"], rfe.details["cv_std"])
        n_selected = int(rfe.details["n_selected"])
        notes.append(
            f"RFE-CV ({estimator}, {rfe.details['folds']} folds, {rfe.details['scoring']}): best "
            f"{rfe.details['best_score']:.3f}; {n_selected} feature(s) kept, score "
            f"{rfe.details['selected_score']:.3f}"
        )
    else:
        selected_set = set(after_correlation)
        n_selected = len(selected_set)
        notes.append("RFE-CV skipped: it needs two features and two objects of every class")
    selected = [n for n in names if n in selected_set]
    notes.append("selected: " + ", ".join(selected))

    order = sorted(names, key=lambda n: mi_rank[n])
    variances = dict(zip(variance.names, variance.scores))
    table: dict[str, list] = {column: [] for column in TABLE_COLUMNS}
    for name in order:
        table["feature"].append(name)
        table["MI rank"].append(int(mi_rank[name]))
        table["mutual information"].append(float(mi[name]))
        table["variance"].append(float(variances[name]))
        table["correlated with"].append(dropped_for.get(name, ""))
        table["RFE rank"].append(int(rfe_rank[name]) if name in rfe_rank else "")
        table["selected"].append("yes" if name in selected_set else "")
    return FeatureSelectionReport(table, selected, *curve, n_selected, "\n".join(notes), target)


class FeatureSelectionWidget(Container):
    """Rank the features of a labels layer's objects and select a small informative set.

    Parameters
    ----------
    napari_viewer : napari.Viewer
        The viewer whose labels layers are offered.
    """

    def __init__(self, napari_viewer: Any) -> None:
        import napari

        super().__init__(labels=True)
        self.viewer = napari_viewer
        self.labels_layer = create_widget(annotation=napari.layers.Labels, label="labels")
        self._targets: list[str] = []
        self.target = ComboBox(choices=self._target_choices, label="class column",
                               tooltip="Objects with 0 / empty here are left out.")
        self.feature_columns = FeatureColumnsPicker(tooltip="Candidate features.")
        self.variance_threshold = FloatSpinBox(
            value=0.0, min=0.0, max=1e12, step=0.01, label="variance >",
            tooltip="Drop features whose variance is at most this (0: constants).",
        )
        self.correlation_threshold = FloatSpinBox(
            value=0.9, min=0.0, max=1.0, step=0.01, label="max |r|",
            tooltip="Of two features correlated above this, keep the more relevant.",
        )
        self.estimator = ComboBox(choices=list(RFE_ESTIMATORS), value="logistic", label="RFE model")
        self.cv_folds = SpinBox(value=5, min=2, max=20, label="RFE folds")
        self.tolerance = FloatSpinBox(
            value=0.0, min=0.0, max=1.0, step=0.01, label="RFE tolerance",
            tooltip="Keep the fewest features whose CV score is within this of the best.",
        )
        self.run_button = PushButton(text="Select features")
        self.progress_bar = ProgressBar(value=0, min=0, max=1, label="working", visible=False)
        self.status = read_only_text("summary", height=110)
        self.extend(
            [
                self.labels_layer, self.target, self.feature_columns, self.variance_threshold,
                self.correlation_threshold, self.estimator, self.cv_folds, self.tolerance, self.run_button,
                self.progress_bar, self.status,
            ]
        )
        self.table = QTableWidget()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setMinimumHeight(160)
        self.native.layout().addWidget(self.table)
        self.figure = None
        self.canvas = None
        try:
            from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
            from matplotlib.figure import Figure
        except ImportError:  # the curve is written in the status instead
            pass
        else:
            self.figure = Figure(figsize=(4, 2.6), layout="constrained")
            self.canvas = FigureCanvasQTAgg(self.figure)
            self.canvas.setMinimumHeight(180)
            self.native.layout().addWidget(self.canvas)
        self.report: FeatureSelectionReport | None = None
        self.worker: Any = None
        self._layer: Any = None
        self.labels_layer.changed.connect(self._set_layer)
        self.run_button.changed.connect(self.start)
        self.target.changed.connect(self._target_changed)
        self.reset_choices()
        follow_viewer(self, napari_viewer.layers.events.inserted, self.reset_choices)
        follow_viewer(self, napari_viewer.layers.events.removed, self.reset_choices)
        self._set_layer(self.labels_layer.value)

    def _target_choices(self, *_: Any) -> list[str]:
        return list(self._targets)

    def _set_layer(self, layer: Any) -> None:
        if layer is self._layer:
            return
        if self._layer is not None:
            self._layer.events.features.disconnect(self._features_changed)
        self._layer = layer
        if layer is not None:
            layer.events.features.connect(self._features_changed)
        self._update_targets()
        self.feature_columns.update_from(self._features(), reset=True, exclude=[self.target.value])

    def _features(self) -> Any:
        return None if self._layer is None else self._layer.features

    def _features_changed(self, *_: Any) -> None:
        self._update_targets()
        self.feature_columns.update_from(self._features(), exclude=[self.target.value])

    def _target_changed(self, *_: Any) -> None:
        # the class column is never a candidate feature of itself
        self.feature_columns.update_from(self._features(), exclude=[self.target.value])

    def _update_targets(self) -> None:
        current = self.target.value
        self._targets = class_columns(self._features())
        self.target.reset_choices()
        if current in self._targets:
            self.target.value = current
        elif TAG_COLUMN in self._targets:
            self.target.value = TAG_COLUMN

    def start(self, *, start_thread: bool = True) -> Any:
        """Run the selection on a snapshot of the features in a worker; returns the worker."""
        from napari.utils.notifications import show_error

        layer = self._layer
        if layer is None or not self.target.value:
            show_error(
                "Feature selection: choose a labels layer with a class column (tag or classify objects first)"
            )
            return None
        columns = list(self.feature_columns.value or ())
        if not columns:
            show_error("Feature selection: tick at least one feature column")
            return None
        self.status.value = "selecting ..."
        worker = run_in_worker(
            select_features, layer.features.copy(), columns, self.target.value,
            variance_threshold=float(self.variance_threshold.value),
            correlation_threshold=float(self.correlation_threshold.value),
            estimator=self.estimator.value,
            cv=int(self.cv_folds.value),
            tolerance=float(self.tolerance.value),
            on_result=lambda report: self._show(layer, report), title="Feature selection",
            busy=[self.run_button, self.progress_bar], status=self.status,
        )
        self.worker = worker
        if start_thread:
            worker.start()
        return worker

    def _show(self, layer: Any, report: FeatureSelectionReport) -> None:
        self.report = report
        self.status.value = report.summary
        layer.metadata[SELECTION_METADATA_KEY] = {"selected": list(report.selected), "target": report.target}
        self._fill_table(report)
        self._draw_curve(report)

    def _fill_table(self, report: FeatureSelectionReport) -> None:
        table = self.table
        table.setSortingEnabled(False)
        table.clear()
        columns = list(report.table)
        table.setColumnCount(len(columns))
        table.setHorizontalHeaderLabels(columns)
        n = len(report.table["feature"])
        table.setRowCount(n)
        highlight = QBrush(QColor(60, 140, 80, 110))
        for row in range(n):
            chosen = report.table["selected"][row] == "yes"
            for column, name in enumerate(columns):
                item = _NumberItem(report.table[name][row])
                if chosen:
                    item.setBackground(highlight)
                    font = QFont(item.font())
                    font.setBold(True)
                    item.setFont(font)
                table.setItem(row, column, item)
        table.resizeColumnsToContents()
        table.setSortingEnabled(True)

    def _draw_curve(self, report: FeatureSelectionReport) -> None:
        if report.n_features is None:
            if self.figure is not None:
                self.figure.clear()
                self.canvas.draw_idle()
            return
        if self.figure is None:
            points = ", ".join(f"{n}: {m:.3f}" for n, m in zip(report.n_features, report.cv_mean))
            self.status.value = report.summary + "\nCV score by number of features: " + points
            return
        self.figure.clear()
        axes = self.figure.add_subplot()
        n, mean, std = report.n_features, report.cv_mean, report.cv_std
        axes.plot(n, mean, marker="o", markersize=3, label="CV score")
        axes.fill_between(n, mean - std, mean + std, alpha=0.25)
        axes.axvline(
            report.n_selected, color="tab:green", linestyle="--", label=f"{report.n_selected} selected"
        )
        axes.set_xlabel("number of features")
        axes.set_ylabel("CV score")
        axes.legend(loc="lower right", fontsize="small")
        self.canvas.draw_idle()
