"""A dock widget that classifies whole 2D images (e.g. normal vs pneumonia radiographs).

The input is an image layer holding a stack of 2D images along its first axis
``(n, y, x)``. The user scrolls through the stack and tags some images with a class
(the image in view, or any indices from a script with :meth:`ImageClassifierWidget.tag`),
then trains a descriptor + classifier pipeline on the tagged images
(:func:`napari_medimg.analysis.classify.fit_image_classifier`: HOG, LBP, intensity
histogram and thumbnail descriptors, an RBF SVM whose ``C`` is chosen by
cross-validation on the tagged images) that predicts every image of the stack.

Tags live in ``layer.metadata["medimg_image_tags"]`` (``{image index: class}``) and
predictions in ``layer.metadata["medimg_image_predictions"]`` (``{image index:
predicted class}`` for every image), so they travel with the layer. The widget shows the
cross-validated accuracy, balanced accuracy and confusion matrix on the tagged images,
a table (index, tag, predicted; double-click a row to go to that image), and, as the
user scrolls, what the image in view is tagged and predicted. Trained classifiers are
saved and loaded with the safe skops format of :mod:`napari_medimg.analysis.model_io`.

The worker-side functions (:func:`train_image_classifier`, :func:`predict_images`) take
plain arrays and dicts, never layers, so they run in a thread and test without Qt.
"""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
from magicgui.widgets import (
    ComboBox,
    Container,
    FileEdit,
    Label,
    ProgressBar,
    PushButton,
    SpinBox,
    create_widget,
)

from ._common import load_model_file, report_save, save_model_file, confusion_text, counts_text, plain, read_only_text, run_in_worker, side_by_side
from ._viewer_events import follow_viewer

__all__ = [
    "ImageClassifierWidget",
    "ImageClassification",
    "train_image_classifier",
    "predict_images",
    "tagged_arrays",
    "image_stack",
    "TAGS_METADATA_KEY",
    "PREDICTIONS_METADATA_KEY",
    "PROBABILITIES_METADATA_KEY",
]

#: ``layer.metadata`` key of the tags: ``{image index: class}``
TAGS_METADATA_KEY = "medimg_image_tags"
#: ``layer.metadata`` key of the predictions: ``{image index: predicted class}``, every image
PREDICTIONS_METADATA_KEY = "medimg_image_predictions"
#: ``layer.metadata`` key of a CNN's probability of each predicted class: ``{image index: probability}``
PROBABILITIES_METADATA_KEY = "medimg_image_probabilities"
#: the choice of the model box that trains a CNN (:mod:`.image_classifier_cnn`)
CNN = "cnn"
#: grid of the SVM / logistic regression ``C`` searched by cross-validation on the tagged images
C_GRID = (1.0, 3.0, 10.0)
TABLE_COLUMNS = ("index", "tag", "predicted", "probability")


# ============================================================================ data
def image_stack(layer: Any) -> np.ndarray:
    """The ``(n, y, x)`` stack of a napari image layer (shared, not copied).

    Raises
    ------
    ValueError
        Not a stack of grey-level 2D images (RGB, multiscale, 2D or 4D+ data).
    """
    if layer is None:
        raise ValueError("choose an image layer holding a stack of 2D images (n, y, x)")
    if getattr(layer, "multiscale", False):
        raise ValueError(f"layer {layer.name!r} is multiscale; use a single-resolution (n, y, x) stack")
    if getattr(layer, "rgb", False):
        raise ValueError(f"layer {layer.name!r} is RGB; convert it to grey levels first")
    data = np.asarray(layer.data)
    if data.ndim != 3:
        raise ValueError(
            f"layer {layer.name!r} has {data.ndim} dimension(s); the image classifier needs a stack of "
            "2D images along the first axis (n, y, x)"
        )
    return data


def _read_map(layer: Any, key: str) -> dict[int, Any]:
    """``layer.metadata[key]`` as ``{int index: value}`` (keys may come back as strings from JSON)."""
    if layer is None:
        return {}
    stored = (layer.metadata or {}).get(key) or {}
    try:
        return {int(k): v for k, v in dict(stored).items()}
    except (TypeError, ValueError):
        return {}


def tagged_arrays(tags: Mapping[int, Any], n_images: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted tagged indices and their classes, checked against the stack length.

    Raises
    ------
    ValueError
        An index outside ``0..n_images-1``, fewer than two classes, or a class with a
        single tagged image (the cross-validation needs two of each).
    """
    index = np.array(sorted(int(i) for i in tags), np.int64)
    bad = index[(index < 0) | (index >= n_images)]
    if len(bad):
        raise ValueError(
            f"tagged image(s) {bad[:5].tolist()} are outside the stack of {n_images} images; "
            "clear the tags or choose the layer they were made on"
        )
    y = np.array([tags[int(i)] for i in index])
    classes, counts = np.unique(y, return_counts=True) if len(y) else (np.array([]), np.array([], int))
    if len(classes) < 2:
        raise ValueError(
            f"tag images of at least two different classes (found {len(classes)} class(es) among "
            f"{len(index)} tagged image(s))"
        )
    if counts.min() < 2:
        few = [plain(c) for c, n in zip(classes, counts) if n < 2]
        raise ValueError(f"tag at least two images of every class (class(es) {few} have one)")
    return index, y


# ============================================================================ results
@dataclasses.dataclass
class ImageClassification:
    """What training or a loaded model gives back to the widget.

    Attributes
    ----------
    classifier : ImageClassifier
        The fitted (or loaded) classifier, to save.
    predictions : numpy.ndarray
        Predicted class of every image of the stack (tagged ones too, in-sample).
    scores : Scores or None
        Cross-validation on the tagged images with the chosen parameters (out-of-fold
        accuracy, balanced accuracy, confusion matrix); None for a loaded model.
    summary : str
        Scores, confusion matrix and counts as text.
    metadata : dict
        JSON metadata saved with the model.
    probabilities : numpy.ndarray or None
        ``(n, classes)`` calibrated probabilities (CNN classifiers).
    saliency : numpy.ndarray or None
        ``(n, y, x)`` uint8 Grad-CAM map of each image's prediction (CNN classifiers).
    """

    classifier: Any
    predictions: np.ndarray
    scores: Any
    summary: str
    metadata: dict
    probabilities: np.ndarray | None = None
    saliency: np.ndarray | None = None


def _params_text(params: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={plain(v)}" for k, v in params.items()) or "default parameters"


def train_image_classifier(
    images: np.ndarray,
    tags: Mapping[int, Any],
    *,
    kind: str = "svm",
    C_grid: Sequence[float] = C_GRID,
    gamma_grid: Sequence[float | str] = ("scale",),
    cv: int = 3,
    spacing: Sequence[float] | None = None,
    random_state: int = 0,
    cancel: Callable[[], bool] | None = None,
) -> ImageClassification:
    """Train on the tagged images of a stack and predict every image.

    Parameters
    ----------
    images : array (n, y, x)
        The stack.
    tags : mapping
        ``{image index: class}`` of the tagged images (at least two of each of two classes).
    kind : {"svm", "random_forest", "logistic"}
        The classifier (:func:`~napari_medimg.analysis.classify.fit_image_classifier`).
    C_grid, gamma_grid : sequence
        Grid searched by ``cv``-fold cross-validation on the tagged images.
    cv : int
        Folds of the grid search and of the reported cross-validation.
    spacing : sequence of float, optional
        Pixel spacing (y, x) in mm for the descriptors (1 mm when not given).
    random_state : int
        Seed.
    cancel : callable, optional
        Returns True to stop (raises :class:`~napari_medimg.progress.OperationCancelled`).

    Returns
    -------
    ImageClassification
        The cross-validated scores reuse the C / gamma chosen on the same tagged images,
        so they are slightly optimistic; they never include an image in its own fold.
    """
    from ..analysis.classify import cross_validate, fit_image_classifier
    from ..progress import check_cancel

    images = np.asarray(images)
    if images.ndim != 3:
        raise ValueError(f"images must be a stack (n, y, x), got shape {images.shape}")
    index, y = tagged_arrays(tags, len(images))
    classifier = fit_image_classifier(
        images[index], y, kind=kind, C_grid=C_grid, gamma_grid=gamma_grid, cv=cv, spacing=spacing,
        random_state=random_state, cancel=cancel,
    )
    check_cancel(cancel)
    X = classifier.describe(images, cancel=cancel)
    predictions = np.asarray(classifier.model.predict(X))
    check_cancel(cancel)
    params = dict(classifier.cv_scores.get("params") or {})
    scores = cross_validate(X[index], y, kind=kind, cv=cv, random_state=random_state, **params)
    untagged = np.ones(len(images), bool)
    untagged[index] = False
    disagree = int(np.sum(predictions[index] != y))
    lines = [
        f"{kind} ({_params_text(params)}) on {X.shape[1]} descriptors of "
        f"{images.shape[1]} x {images.shape[2]} images",
        f"{len(index)} tagged, {int(untagged.sum())} predicted; " + counts_text(y, "tags"),
    ]
    best = classifier.cv_scores.get("best_score")
    if best is not None and np.isfinite(best) and len(classifier.cv_scores.get("grid") or ()) > 1:
        lines.append(f"grid search: best CV balanced accuracy {best:.3f}")
    lines.append(
        f"CV on the tagged images ({scores.folds} folds): accuracy {scores.accuracy:.3f} ± "
        f"{scores.accuracy_std:.3f}, balanced accuracy {scores.balanced_accuracy:.3f} ± "
        f"{scores.balanced_accuracy_std:.3f}"
    )
    lines.append(confusion_text(scores.confusion, scores.classes))
    lines.append(f"tagged images the final model disagrees with: {disagree}")
    lines.append(counts_text(predictions[untagged], "untagged images predicted"))
    metadata = {
        "task": "image_classify",
        "kind": kind,
        "params": {k: plain(v) for k, v in params.items()},
        "classes": [plain(c) for c in np.unique(y)],
        "image_shape": [int(s) for s in images.shape[1:]],
        "n_tagged": int(len(index)),
        "cv_accuracy": float(scores.accuracy),
        "cv_balanced_accuracy": float(scores.balanced_accuracy),
    }
    return ImageClassification(classifier, predictions, scores, "\n".join(lines), metadata)


def predict_images(classifier: Any, metadata: Mapping[str, Any], images: np.ndarray,
                   cancel: Callable[[], bool] | None = None) -> ImageClassification:
    """Predict every image of a stack with a loaded :class:`~napari_medimg.analysis.classify.ImageClassifier`.

    ``metadata`` is the one saved with the model (scores shown in the summary).
    """
    from ..analysis.classify import ImageClassifier

    if not isinstance(classifier, ImageClassifier):
        raise ValueError(
            "the model file holds an object classifier, not an image classifier; load it in the "
            "Object classifier widget"
        )
    images = np.asarray(images)
    predictions = np.asarray(classifier.predict(images, cancel=cancel))
    lines = [
        f"loaded {metadata.get('kind', '')} image classifier "
        f"({_params_text(metadata.get('params') or classifier.cv_scores.get('params') or {})}), "
        f"trained on {metadata.get('n_tagged', '?')} images of "
        f"{' x '.join(map(str, classifier.image_shape))}",
        counts_text(predictions, f"{len(images)} images predicted"),
    ]
    if "cv_accuracy" in metadata:
        lines.insert(1, f"CV when trained: accuracy {metadata['cv_accuracy']:.3f}, balanced accuracy "
                        f"{metadata.get('cv_balanced_accuracy', float('nan')):.3f}")
    return ImageClassification(classifier, predictions, None, "\n".join(lines), dict(metadata))


# ============================================================================ gallery
#: the gallery shows at most this many thumbnails (the first images of a longer stack)
GALLERY_LIMIT = 2000
_THUMBNAIL = 64
_INDEX_ROLE = 0x0100 + 1  # Qt.ItemDataRole.UserRole + 1: the image index of a gallery item


def _gallery_widget() -> Any:
    """An icon-mode list of thumbnails (click one to show its image)."""
    from qtpy.QtCore import QSize, Qt
    from qtpy.QtWidgets import QListView, QListWidget

    gallery = QListWidget()
    gallery.setViewMode(QListView.ViewMode.IconMode)
    gallery.setIconSize(QSize(_THUMBNAIL, _THUMBNAIL))
    gallery.setGridSize(QSize(_THUMBNAIL + 36, _THUMBNAIL + 40))  # room for "123" over "t1 p0 .97"
    gallery.setTextElideMode(Qt.TextElideMode.ElideNone)
    gallery.setResizeMode(QListView.ResizeMode.Adjust)
    gallery.setUniformItemSizes(True)
    gallery.setMinimumHeight(200)
    gallery.setToolTip("Thumbnails with their tag and prediction; click one to show it.")
    return gallery


def _thumbnail(image: np.ndarray) -> Any:
    """A grey QIcon of a 2D image (percentile window, at most 64 px a side)."""
    from qtpy.QtCore import Qt
    from qtpy.QtGui import QIcon, QImage, QPixmap

    step = max(1, int(np.ceil(max(image.shape) / _THUMBNAIL)))
    small = np.asarray(image[::step, ::step], dtype=np.float32)
    low, high = np.percentile(small, [1, 99]) if small.size else (0.0, 1.0)
    grey = np.ascontiguousarray(np.clip((small - low) / max(high - low, 1e-12) * 255, 0, 255).astype(np.uint8))
    qimage = QImage(grey.data, grey.shape[1], grey.shape[0], grey.strides[0], QImage.Format.Format_Grayscale8)
    pixmap = QPixmap.fromImage(qimage.copy())
    return QIcon(pixmap.scaled(_THUMBNAIL, _THUMBNAIL, Qt.AspectRatioMode.KeepAspectRatio))


def _fill_gallery(gallery: Any, images: np.ndarray | None) -> None:
    from qtpy.QtWidgets import QListWidgetItem

    gallery.clear()
    if images is None:
        return
    for i in range(min(len(images), GALLERY_LIMIT)):
        item = QListWidgetItem(_thumbnail(images[i]), str(i))
        item.setData(_INDEX_ROLE, i)
        gallery.addItem(item)


def _caption_gallery(gallery: Any, tags: Mapping[int, Any], predictions: Mapping[int, Any],
                     probabilities: Mapping[int, float]) -> None:
    """Each thumbnail's caption: index, tag (``t``), prediction (``p``) and its probability; red if they differ."""
    from qtpy.QtGui import QBrush, QColor

    wrong, plain_brush = QBrush(QColor(200, 60, 60, 120)), QBrush()
    for row in range(gallery.count()):
        item = gallery.item(row)
        i = int(item.data(_INDEX_ROLE))
        tag, predicted, probability = tags.get(i), predictions.get(i), probabilities.get(i)
        parts = [f"{i}\n"]
        if tag is not None:
            parts.append(f"t{tag}")
        if predicted is not None:
            parts.append(f"p{predicted}" + (f" {float(probability):.2f}".replace(" 0.", " .").replace(" 1.00", " 1")
                                             if probability is not None else ""))
        item.setText(" ".join(parts).replace("\n ", "\n"))
        item.setBackground(wrong if tag is not None and predicted is not None and tag != predicted else plain_brush)


# ============================================================================ widget
class ImageClassifierWidget(Container):
    """Tag whole images of a stack, train a classifier, predict the others.

    Parameters
    ----------
    napari_viewer : napari.Viewer
        The viewer whose image layers are offered; its dims choose the image in view.
    """

    def __init__(self, napari_viewer: Any) -> None:
        import napari
        from qtpy.QtWidgets import QAbstractItemView, QTableWidget

        from ..analysis.classify import CLASSIFIERS
        from ..learn.registry import shipped_names

        super().__init__(labels=True)
        self.viewer = napari_viewer
        self.image_layer = create_widget(
            annotation=napari.layers.Image, label="image stack",
            options={"tooltip": "An image layer holding a stack of 2D images along its first axis "
                                "(n, y, x)."},
        )
        # tagging
        self.class_value = SpinBox(value=1, min=0, max=255, label="class",
                                   tooltip="Class to give to the tagged images (0, 1, 2, ...).")
        self.tag_button = PushButton(text="Tag the image in view")
        self.untag_button = PushButton(text="Untag")
        self.clear_button = PushButton(text="Clear all tags")
        self.tag_status = Label(value="")
        self.view_status = Label(value="")
        # training
        self.model_kind = ComboBox(choices=[*CLASSIFIERS, CNN], value="svm", label="model",
                                   tooltip="RBF SVM (C chosen by CV), random forest or logistic regression on "
                                           "image descriptors; or cnn: a small residual network trained on the "
                                           "tagged images (calibrated probabilities and saliency maps).")
        self.cnn_steps = SpinBox(value=300, min=10, max=20000, step=50, label="CNN steps",
                                 tooltip="Training steps of the CNN (batches of 32 tagged images).")
        self.shipped = ComboBox(choices=shipped_names("classifier"), label="shipped model",
                                tooltip="A classifier trained by napari-medimg (see `napari-medimg models`).")
        self.shipped_button = PushButton(text="Classify with the shipped model")
        self.cv_folds = SpinBox(
            value=3, min=2, max=10, label="CV folds",
            tooltip="Folds of the grid search and of the reported CV (fewer if a class has few tags).",
        )
        self.train_button = PushButton(text="Train and predict")
        self.cancel_button = PushButton(text="Cancel", enabled=False)
        self.progress_bar = ProgressBar(value=0, min=0, max=1, label="working", visible=False)
        self.results = read_only_text("results", height=170)
        # model files
        self.save_path = FileEdit(mode="w", filter="*.skops *.safetensors", label="save model to", value="",
                                  tooltip="A .skops file for descriptor classifiers, .safetensors (and its .json "
                                          "card) for a CNN.")
        self.save_button = PushButton(text="Save model")
        self.load_path = FileEdit(mode="r", filter="*.skops *.safetensors", label="model file", value="")
        self.load_button = PushButton(text="Load model and predict")
        self.extend(
            [
                self.image_layer,
                self.class_value,
                side_by_side(self.tag_button, self.untag_button, self.clear_button),
                self.tag_status,
                self.view_status,
                self.model_kind,
                self.cv_folds,
                self.cnn_steps,
                side_by_side(self.train_button, self.cancel_button),
                self.shipped,
                self.shipped_button,
                self.progress_bar,
                self.results,
                self.save_path,
                self.save_button,
                self.load_path,
                self.load_button,
            ]
        )
        self.table = QTableWidget(0, len(TABLE_COLUMNS))
        self.table.setHorizontalHeaderLabels(list(TABLE_COLUMNS))
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().setVisible(False)
        self.table.setMinimumHeight(160)
        self.table.setToolTip("Double-click a row to show that image.")
        self.native.layout().addWidget(self.table)
        self.gallery = _gallery_widget()
        self.gallery.itemClicked.connect(lambda item: self.show_image(int(item.data(_INDEX_ROLE))))
        self.native.layout().addWidget(self.gallery)
        self.classifier: Any = None
        self.model_metadata: dict = {}
        self.result: ImageClassification | None = None
        self.worker: Any = None
        self._cancel = threading.Event()
        self._layer: Any = None
        self.image_layer.changed.connect(self._set_layer)
        self.tag_button.changed.connect(self.tag_in_view)
        self.untag_button.changed.connect(self.untag_in_view)
        self.clear_button.changed.connect(self.clear_tags)
        self.train_button.changed.connect(self.train)
        self.shipped_button.changed.connect(self._shipped_clicked)
        self.cancel_button.changed.connect(self.cancel)
        self.save_button.changed.connect(self._save_clicked)
        self.load_button.changed.connect(self._load_clicked)
        self.table.cellDoubleClicked.connect(lambda row, _column: self.show_image(row))
        self.reset_choices()
        follow_viewer(self, napari_viewer.layers.events.inserted, self.reset_choices)
        follow_viewer(self, napari_viewer.layers.events.removed, self.reset_choices)
        follow_viewer(self, napari_viewer.dims.events.current_step, self._show_in_view)
        self.tag_keys = self._bind_tag_keys()
        self.tag_status.tooltip = (f"Keys {', '.join(self.tag_keys)}: tag the image in view with that class and "
                                   "show the next one." if self.tag_keys else "")
        self._set_layer(self.image_layer.value)

    # ------------------------------------------------------------------ layer
    def _set_layer(self, layer: Any) -> None:
        if layer is self._layer:
            return
        if self._layer is not None:
            self._layer.events.metadata.disconnect(self._refresh)
        self._layer = layer
        if layer is not None:
            layer.events.metadata.connect(self._refresh)
        _fill_gallery(self.gallery, image_stack(layer) if self._n_images() else None)
        self._refresh()

    def _bind_tag_keys(self) -> list[str]:
        """Bind the keys 0-9 (where napari leaves them free) to :meth:`tag_and_advance`; unbound with the widget."""
        bound = []
        for digit in range(10):
            def tag(_viewer: Any, value: int = digit) -> None:
                self.tag_and_advance(value)

            tag.__doc__ = f"Tag the image in view as class {digit} and show the next one (Classify images)."
            try:
                self.viewer.bind_key(str(digit), tag, overwrite=False)
            except ValueError:  # napari or another plugin uses it
                continue
            bound.append(str(digit))

        def unbind(*_: Any) -> None:
            for key in bound:
                try:
                    self.viewer.bind_key(key, None)
                except (RuntimeError, ValueError, KeyError):  # the viewer went first
                    pass

        self.native.destroyed.connect(unbind)
        return bound

    @property
    def tags(self) -> dict[int, Any]:
        """``{image index: class}`` of the chosen layer's tagged images."""
        return _read_map(self._layer, TAGS_METADATA_KEY)

    @property
    def predictions(self) -> dict[int, Any]:
        """``{image index: predicted class}`` of the chosen layer (empty before training)."""
        return _read_map(self._layer, PREDICTIONS_METADATA_KEY)

    def _n_images(self) -> int:
        layer = self._layer
        if layer is None or getattr(layer, "multiscale", False) or getattr(layer, "rgb", False):
            return 0
        shape = getattr(layer.data, "shape", ())
        return int(shape[0]) if len(shape) == 3 else 0

    def _write(self, layer: Any, key: str, values: Mapping[int, Any]) -> None:
        # a new dict: napari's metadata setter clears the old one before updating
        metadata = dict(layer.metadata or {})
        metadata[key] = {int(k): plain(v) for k, v in sorted(values.items())}
        layer.metadata = metadata

    # ---------------------------------------------------------------- tagging
    def tag(self, indices: int | Iterable[int], value: Any) -> None:
        """Give images ``indices`` of the stack the class ``value`` (None removes their tags)."""
        from napari.utils.notifications import show_error

        layer = self._layer
        try:
            n = len(image_stack(layer))
        except ValueError as exc:
            show_error(f"Image classifier: {exc}")
            return
        indices = np.atleast_1d(np.asarray(indices, dtype=np.int64)).ravel()
        bad = indices[(indices < 0) | (indices >= n)]
        if len(bad):
            show_error(f"Image classifier: image(s) {bad[:5].tolist()} are outside the stack of {n} images")
            return
        tags = self.tags
        for i in indices.tolist():
            if value is None:
                tags.pop(i, None)
            else:
                tags[i] = plain(value)
        self._write(layer, TAGS_METADATA_KEY, tags)

    def untag(self, indices: int | Iterable[int]) -> None:
        """Remove the tags of images ``indices``."""
        self.tag(indices, None)

    def clear_tags(self) -> None:
        """Remove every tag of the layer."""
        if self._layer is not None and self.tags:
            self._write(self._layer, TAGS_METADATA_KEY, {})

    def index_in_view(self) -> int | None:
        """Index of the stack image shown in the 2D view (None if none / the stack axis is displayed).

        The viewer's current point (world coordinates) is mapped through the layer's
        transform (``world_to_data``), so scaled / translated stacks work.
        """
        layer = self._layer
        n = self._n_images()
        if layer is None or n == 0:
            return None
        dims = self.viewer.dims
        stack_axis = dims.ndim - layer.ndim  # the world axis of the layer's first axis
        if stack_axis < 0 or stack_axis in tuple(dims.displayed):
            return None
        world = np.asarray(dims.point, dtype=float)[-layer.ndim:]
        index = int(np.round(np.asarray(layer.world_to_data(world))[0]))
        return index if 0 <= index < n else None

    def _in_view_or_error(self) -> int | None:
        from napari.utils.notifications import show_error

        try:
            image_stack(self._layer)
        except ValueError as exc:
            show_error(f"Image classifier: {exc}")
            return None
        index = self.index_in_view()
        if index is None:
            show_error(
                "Image classifier: no image of the stack is in view; use the 2D view with the stack "
                "axis as the slider"
            )
        return index

    def tag_in_view(self) -> None:
        """Tag the image in view with the chosen class."""
        index = self._in_view_or_error()
        if index is not None:
            self.tag(index, int(self.class_value.value))

    def tag_and_advance(self, value: int) -> None:
        """Tag the image in view as ``value`` and move the slider to the next image."""
        index = self._in_view_or_error()
        if index is None:
            return
        self.class_value.value = int(value)
        self.tag(index, int(value))
        if index + 1 < self._n_images():
            self.show_image(index + 1)

    def untag_in_view(self) -> None:
        """Remove the tag of the image in view."""
        index = self._in_view_or_error()
        if index is not None:
            self.untag(index)

    def show_image(self, index: int) -> None:
        """Move the viewer's slider to image ``index`` of the stack."""
        layer = self._layer
        if layer is None or not 0 <= int(index) < self._n_images():
            return
        world = np.asarray(layer.data_to_world([int(index)] + [0] * (layer.ndim - 1)), dtype=float)
        self.viewer.dims.set_point(self.viewer.dims.ndim - layer.ndim, float(world[0]))

    # ---------------------------------------------------------------- display
    def _refresh(self, *_: Any) -> None:
        tags = self.tags
        if tags:
            self.tag_status.value = counts_text(np.array(list(tags.values())), f"{len(tags)} tagged")
        else:
            self.tag_status.value = "no tags yet"
        predictions, probabilities = self.predictions, _read_map(self._layer, PROBABILITIES_METADATA_KEY)
        self._fill_table(tags, predictions, probabilities)
        _caption_gallery(self.gallery, tags, predictions, probabilities)
        self._show_in_view()

    def _fill_table(self, tags: Mapping[int, Any], predictions: Mapping[int, Any],
                    probabilities: Mapping[int, float]) -> None:
        from qtpy.QtGui import QBrush, QColor
        from qtpy.QtWidgets import QTableWidgetItem

        table = self.table
        n = self._n_images()
        table.setUpdatesEnabled(False)
        try:
            table.setRowCount(n)
            wrong = QBrush(QColor(200, 60, 60, 90))
            for row in range(n):
                tag, predicted, probability = tags.get(row), predictions.get(row), probabilities.get(row)
                cells = (str(row), "" if tag is None else str(tag),
                         "" if predicted is None else str(predicted),
                         "" if probability is None else f"{float(probability):.3f}")
                for column, text in enumerate(cells):
                    item = QTableWidgetItem(text)
                    if tag is not None and predicted is not None and tag != predicted:
                        item.setBackground(wrong)
                    table.setItem(row, column, item)
        finally:
            table.setUpdatesEnabled(True)

    def _show_in_view(self, *_: Any) -> None:
        try:
            index = self.index_in_view()
            if index is None:
                self.view_status.value = "" if self._layer is None else "no stack image in view"
                return
            tag, predicted = self.tags.get(index), self.predictions.get(index)
            self.view_status.value = (
                f"image {index}: " + ("untagged" if tag is None else f"tagged {tag}")
                + " / " + ("not predicted" if predicted is None else f"predicted {predicted}")
            )
        except RuntimeError:  # pragma: no cover - the Qt widget was deleted before the viewer
            pass

    # ---------------------------------------------------------------- running
    def _buttons(self) -> list[Any]:
        return [self.train_button, self.load_button, self.shipped_button, self.progress_bar]

    def _start(self, function: Callable[..., Any], *args: Any, on_result: Callable[[Any], None], title: str,
               start_thread: bool, **kwargs: Any) -> Any:
        self._cancel.clear()
        worker = run_in_worker(
            function, *args, on_result=on_result, title=title, busy=self._buttons(), status=self.results,
            on_finished=lambda: setattr(self.cancel_button, "enabled", False), cancel=self._cancel.is_set, **kwargs,
        )
        self.cancel_button.enabled = True
        self.worker = worker
        if start_thread:
            worker.start()
        return worker

    def cancel(self) -> None:
        """Ask the running training / prediction to stop (between images or grid points)."""
        self._cancel.set()

    def train(self, *, start_thread: bool = True) -> Any:
        """Train on the tagged images and predict all, in a worker; returns the worker.

        Returns None (after an error notification) when there is no suitable layer or
        the tags do not cover two classes with two images each.
        """
        from napari.utils.notifications import show_error

        layer = self._layer
        try:
            images = image_stack(layer)
            tags = self.tags
            tagged_arrays(tags, len(images))  # fail here, with the layer untouched
        except ValueError as exc:
            show_error(f"Train: {exc}")
            self.results.value = f"Train: {exc}"
            return None
        self.results.value = f"training on {len(tags)} tagged images ..."
        if self.model_kind.value == CNN:
            from .image_classifier_cnn import train_cnn_image_classifier

            return self._start(
                train_cnn_image_classifier, images, tags, iterations=int(self.cnn_steps.value),
                on_result=lambda result: self._show_result(layer, result), title="Train CNN",
                start_thread=start_thread,
            )
        return self._start(
            train_image_classifier, images, tags, kind=self.model_kind.value, cv=int(self.cv_folds.value),
            on_result=lambda result: self._show_result(layer, result), title="Train",
            start_thread=start_thread,
        )

    def _show_result(self, layer: Any, result: ImageClassification) -> None:
        self.result = result
        self.classifier = result.classifier
        self.model_metadata = {**result.metadata, "source_layer": getattr(layer, "name", "")}
        self.results.value = result.summary
        if layer not in self.viewer.layers:
            return
        if result.probabilities is not None:
            chosen = result.probabilities.max(1)
            self._write(layer, PROBABILITIES_METADATA_KEY, dict(enumerate(float(p) for p in chosen)))
        elif PROBABILITIES_METADATA_KEY in (layer.metadata or {}):
            self._write(layer, PROBABILITIES_METADATA_KEY, {})
        if result.saliency is not None:
            self._show_saliency(layer, result.saliency)
        # the layer's metadata event refreshes the table and the status when it is the chosen layer
        self._write(layer, PREDICTIONS_METADATA_KEY, dict(enumerate(result.predictions.tolist())))

    def _show_saliency(self, layer: Any, saliency: np.ndarray) -> None:
        """The saliency maps as an image layer over the stack (replaced on the next prediction)."""
        name = f"{layer.name} saliency"
        placement = {"scale": layer.scale, "translate": layer.translate, "rotate": layer.rotate,
                     "affine": layer.affine.affine_matrix}
        if name in self.viewer.layers:
            self.viewer.layers.remove(name)
        self.viewer.add_image(saliency, name=name, colormap="inferno", blending="additive", opacity=0.6,
                              contrast_limits=(0, 255), metadata={"medimg_saliency_of": layer.name}, **placement)

    # ------------------------------------------------------------------ models
    def _save_clicked(self) -> None:
        report_save(self.save_model, self.save_path.value)

    def save_model(self, path: Any) -> Any:
        """Save the last trained (or loaded) image classifier; returns the path.

        Descriptor classifiers go to the safe skops format; a CNN to a ``.safetensors``
        checkpoint with its ``.json`` model card.
        """
        from .image_classifier_cnn import CNNClassifier

        if isinstance(self.classifier, CNNClassifier):
            from ..learn.checkpoint import save_checkpoint

            if str(path) in ("", "."):
                raise ValueError("choose a file to save the model to")
            return save_checkpoint(Path(str(path)).with_suffix(".safetensors"), self.classifier.model,
                                   self.classifier.card)
        return save_model_file(self.classifier, self.model_metadata, path, missing="train an image classifier (or load one) first")

    def _load_clicked(self) -> None:
        self.load_and_predict(self.load_path.value)

    def load_and_predict(self, path: Any, *, start_thread: bool = True) -> Any:
        """Load a saved image classifier (safely) and predict every image of the layer; returns the worker.

        A ``.safetensors`` checkpoint (a CNN classifier; its card and SHA-256 are checked before
        loading) or a ``.skops`` descriptor classifier.
        """
        from napari.utils.notifications import show_error

        from ..analysis.classify import ImageClassifier

        if str(path).endswith((".safetensors", ".json")):
            return self.classify_with_checkpoint(path, start_thread=start_thread)
        loaded = load_model_file(path)
        if loaded is None:
            return None
        classifier, metadata = loaded
        layer = self._layer
        try:
            if not isinstance(classifier, ImageClassifier):
                raise ValueError("the file holds an object classifier / clustering, not an image classifier")
            images = image_stack(layer)
            if tuple(images.shape[1:]) != tuple(classifier.image_shape):
                raise ValueError(
                    f"the model was trained on {classifier.image_shape[0]} x {classifier.image_shape[1]} "
                    "images; "
                    f"this stack holds {images.shape[1]} x {images.shape[2]} images"
                )
        except ValueError as exc:
            show_error(f"Load model: {exc}")
            return None
        self.results.value = "predicting ..."
        return self._start(
            predict_images, classifier, metadata, images,
            on_result=lambda result: self._show_result(layer, result), title="Predict",
            start_thread=start_thread,
        )

    def _shipped_clicked(self) -> None:
        if self.shipped.value:
            self.classify_with_checkpoint(self.shipped.value)

    def classify_with_checkpoint(self, name_or_path: Any, *, start_thread: bool = True) -> Any:
        """Classify every image of the layer with a shipped CNN (by name) or a CNN checkpoint; returns the worker."""
        from napari.utils.notifications import show_error

        from ..learn.checkpoint import read_card
        from ..learn.registry import model_kind, resolve

        layer = self._layer
        try:
            images = image_stack(layer)
            card = read_card(resolve(str(name_or_path)))
            if model_kind(card) != "classifier":
                raise ValueError(f"{card.get('name') or name_or_path} is a {model_kind(card)} model, not an image "
                                 "classifier; use Segment with a shipped model")
        except (ValueError, FileNotFoundError) as exc:
            show_error(f"Classify: {exc}")
            self.results.value = f"Classify: {exc}"
            return None
        self.results.value = f"classifying {len(images)} images with {card.get('name') or name_or_path} ..."
        return self._start(
            _classify_with_checkpoint, str(name_or_path), images, self.tags,
            on_result=lambda result: self._show_result(layer, result), title="Classify",
            start_thread=start_thread,
        )


def _classify_with_checkpoint(name_or_path: str, images: np.ndarray, tags: Mapping[int, Any],
                              cancel: Callable[[], bool] | None = None) -> ImageClassification:
    """Load a CNN classifier (checked) and classify a stack (worker side)."""
    from ..learn.registry import load_model
    from .image_classifier_cnn import CNNClassifier, classify_with_cnn

    model, card = load_model(name_or_path)
    return classify_with_cnn(CNNClassifier(model, card), images, cancel=cancel, tags=tags)
