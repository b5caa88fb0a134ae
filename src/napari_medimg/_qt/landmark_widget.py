"""A dock widget that trains a landmark detector on points placed in napari and predicts Points layers.

The user places points on some images of a stack ``(n, y, x)`` (or on one 2D image), one
Points layer for all of them; a text feature ``landmark`` names each point (without it every
point is the same landmark "point"). *Train* fits :mod:`napari_medimg.learn.landmarks`'s heat-map
U-Net in a worker (Cancel stops within a step), *Predict* adds a Points layer with every
image's landmarks, their names and confidences, through the image layer's own transform;
*Save* writes a checkpoint with its card. The worker-side functions take plain arrays, never
layers, so they run in a thread and test without Qt.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Callable

import numpy as np
from magicgui.widgets import Container, FileEdit, Label, ProgressBar, PushButton, SpinBox, create_widget

from ._common import read_only_text, run_in_worker, side_by_side

__all__ = ["LandmarkWidget", "landmark_training_data", "train_detector", "detect_on_stack", "NAME_FEATURE"]

#: the Points layer feature naming each point's landmark
NAME_FEATURE = "landmark"


def landmark_training_data(n_images: int, index: np.ndarray, names) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Training arrays from placed points.

    Parameters
    ----------
    n_images : int
        Images in the stack.
    index : numpy.ndarray
        ``(m, 3)`` (image, row, col) data indices of the points.
    names : sequence of str
        Each point's landmark.

    Returns
    -------
    images : numpy.ndarray
        Indices of the images holding points.
    points : numpy.ndarray
        ``(len(images), K, 2)`` (row, col); NaN for a landmark not placed on an image.
    landmarks : list of str
        The K names, sorted.

    Raises
    ------
    ValueError
        Points outside the stack, fewer than two images with points, or a landmark placed
        twice on one image.
    """
    index = np.asarray(index, float).reshape(-1, 3)
    names = [str(n) for n in names]
    image = np.round(index[:, 0]).astype(int)
    outside = (image < 0) | (image >= n_images)
    if outside.any():
        raise ValueError(f"{int(outside.sum())} point(s) lie outside the stack of {n_images} images")
    used = np.unique(image)
    if len(used) < 2:
        raise ValueError("place points on at least two images (one is held out to pick the best weights)")
    landmarks = sorted(set(names))
    points = np.full((len(used), len(landmarks), 2), np.nan)
    for (i, row, col), name in zip(np.c_[image, index[:, 1:]], names):
        slot = points[np.searchsorted(used, int(i)), landmarks.index(name)]
        if np.isfinite(slot).all():
            raise ValueError(f"image {int(i)} has landmark {name!r} twice; keep one")
        slot[:] = (row, col)
    return used, points, landmarks


def train_detector(images: np.ndarray, points: np.ndarray, landmarks: list[str], *, iterations: int = 200,
                   size: int = 96, cancel: Callable[[], bool] | None = None, seed: int = 0):
    """Train a landmark detector (worker side); returns ``(model, card)``.

    Raises ``OperationCancelled`` when cancelled.
    """
    from ..learn.landmarks import fit_landmarks, landmark_card
    from ..progress import OperationCancelled

    size = max(32, int(size) // 16 * 16)
    config = {"classes": landmarks, "input": {"resize_to": [size, size]},
              "training": {"iterations": int(iterations), "batch_size": 4, "steps_per_epoch": 25, "seed": seed,
                           "warmup": min(30, int(iterations) // 5),
                           "val_fraction": min(0.45, max(0.15, 1.0 / len(images)))}}
    model, result, cfg = fit_landmarks(list(images), points, config, cancel=cancel)
    if result.stopped == "cancelled":
        raise OperationCancelled("training cancelled")
    card = landmark_card(cfg, result, training={"data": f"{len(images)} images with points placed in napari"})
    return model, card


def detect_on_stack(model, card: dict, images: np.ndarray, cancel: Callable[[], bool] | None = None):
    """Every image's landmarks: ``(n*K, 3)`` (image, row, col), names and confidences."""
    from ..learn.landmarks import predict_landmarks
    from ..progress import check_cancel

    names = [c["name"] for c in card["classes"]]
    rows, labels, confidence = [], [], []
    for i, image in enumerate(images):
        check_cancel(cancel)
        found, sure = predict_landmarks(model, card, [image])
        rows += [(i, r, c) for r, c in found[0]]
        labels += names
        confidence += list(sure[0])
    return np.array(rows, float).reshape(-1, 3), labels, np.array(confidence)


class LandmarkWidget(Container):
    """Place points, train a landmark detector, predict a Points layer.

    Parameters
    ----------
    napari_viewer : napari.Viewer
    """

    def __init__(self, napari_viewer: Any) -> None:
        import napari

        super().__init__(labels=True)
        self.viewer = napari_viewer
        self.image_layer = create_widget(annotation=napari.layers.Image, label="images",
                                         options={"tooltip": "A stack of 2D images (n, y, x) or one 2D image."})
        self.points_layer = create_widget(annotation=napari.layers.Points, label="points",
                                          options={"tooltip": f"Placed landmarks; the text feature {NAME_FEATURE!r} "
                                                              "names each (one landmark 'point' without it)."})
        self.steps = SpinBox(value=200, min=10, max=20000, step=50, label="steps",
                             tooltip="Training steps (batches of 4 images).")
        self.size = SpinBox(value=96, min=32, max=512, step=16, label="network size (px)",
                            tooltip="Images are resized to this square size for the network.")
        self.train_button = PushButton(text="Train")
        self.cancel_button = PushButton(text="Cancel", enabled=False)
        self.predict_button = PushButton(text="Predict landmarks on every image", enabled=False)
        self.progress_bar = ProgressBar(value=0, min=0, max=1, label="working", visible=False)
        self.results = read_only_text("results", height=90)
        self.save_path = FileEdit(mode="w", filter="*.safetensors", label="save to", value="")
        self.save_button = PushButton(text="Save detector")
        self.status = Label(value="")
        self.extend([self.image_layer, self.points_layer, self.steps, self.size,
                     side_by_side(self.train_button, self.cancel_button), self.predict_button, self.progress_bar,
                     self.results, self.save_path, self.save_button, self.status])
        self.model: Any = None
        self.card: dict | None = None
        self.worker: Any = None
        self._cancel = threading.Event()
        self.train_button.changed.connect(lambda: self.train())
        self.cancel_button.changed.connect(self._cancel.set)
        self.predict_button.changed.connect(lambda: self.predict())
        self.save_button.changed.connect(self._save_clicked)
        self.reset_choices()
        from ._viewer_events import follow_viewer

        follow_viewer(self, napari_viewer.layers.events.inserted, self.reset_choices)
        follow_viewer(self, napari_viewer.layers.events.removed, self.reset_choices)

    def _stack(self) -> np.ndarray:
        layer = self.image_layer.value
        if layer is None or getattr(layer, "multiscale", False) or getattr(layer, "rgb", False):
            raise ValueError("choose a grey image layer: a stack (n, y, x) or one 2D image")
        data = np.asarray(layer.data)
        if data.ndim == 2:
            return data[None]
        if data.ndim != 3:
            raise ValueError(f"the image layer has {data.ndim} dimensions; a stack (n, y, x) or a 2D image")
        return data

    def _placed(self, n_images: int):
        """Placed points as (image, row, col) data indices of the image layer, and their names."""
        layer, points = self.image_layer.value, self.points_layer.value
        if points is None or len(points.data) == 0:
            raise ValueError("place points on the images first (a Points layer)")
        index = np.array([layer.world_to_data(points.data_to_world(p)) for p in points.data], float)
        index = index if index.shape[1] == 3 else np.c_[np.zeros(len(index)), index]
        features = points.features
        names = features[NAME_FEATURE].astype(str).tolist() if NAME_FEATURE in features else ["point"] * len(index)
        return landmark_training_data(n_images, index, names)

    def _start(self, function, *args, on_result, title: str, start_thread: bool, **kwargs):
        self._cancel.clear()
        worker = run_in_worker(function, *args, on_result=on_result, title=title,
                               busy=[self.train_button, self.predict_button, self.progress_bar], status=self.results,
                               on_finished=lambda: setattr(self.cancel_button, "enabled", False),
                               cancel=self._cancel.is_set, **kwargs)
        self.cancel_button.enabled = True
        self.worker = worker
        if start_thread:
            worker.start()
        return worker

    def train(self, *, start_thread: bool = True) -> Any:
        """Train on the placed points in a worker; returns the worker (None after an error message)."""
        from napari.utils.notifications import show_error

        try:
            stack = self._stack()
            used, points, landmarks = self._placed(len(stack))
        except ValueError as exc:
            show_error(f"Train: {exc}")
            self.results.value = f"Train: {exc}"
            return None
        self.results.value = f"training on {len(used)} images, landmarks {', '.join(landmarks)} ..."
        return self._start(train_detector, stack[used], points, landmarks, iterations=int(self.steps.value),
                           size=int(self.size.value), on_result=self._trained, title="Train landmarks",
                           start_thread=start_thread)

    def _trained(self, outcome) -> None:
        self.model, self.card = outcome
        training = self.card["training"]
        self.results.value = (f"{training['iterations_run']} steps in {training['seconds']:.0f} s; held-out mean "
                              f"error {training['held_out_error_px']:.1f} network px")
        self.predict_button.enabled = True

    def predict(self, *, start_thread: bool = True) -> Any:
        """Add a Points layer with every image's landmarks (a worker; returns it)."""
        from napari.utils.notifications import show_error

        if self.model is None:
            show_error("Predict: train a detector first")
            return None
        try:
            stack = self._stack()
        except ValueError as exc:
            show_error(f"Predict: {exc}")
            return None
        layer = self.image_layer.value
        return self._start(detect_on_stack, self.model, self.card, stack,
                           on_result=lambda found: self._add_points(layer, *found), title="Predict landmarks",
                           start_thread=start_thread)

    def _add_points(self, layer: Any, index: np.ndarray, names: list[str], confidence: np.ndarray) -> None:
        data = index if layer.ndim == 3 else index[:, 1:]
        world = np.array([layer.data_to_world(p) for p in data]).reshape(-1, layer.ndim)
        self.viewer.add_points(world, name=f"{layer.name} landmarks", size=3, face_color="cyan",
                               features={NAME_FEATURE: names, "confidence": confidence},
                               text={"string": "{" + NAME_FEATURE + "}", "size": 9, "color": "cyan"})
        self.results.value += f"\npredicted {len(names)} landmarks; mean confidence {float(np.mean(confidence)):.2f}"

    def _save_clicked(self) -> None:
        from napari.utils.notifications import show_error, show_info

        try:
            show_info(f"detector saved to {self.save(self.save_path.value)}")
        except (ValueError, OSError) as exc:
            show_error(f"Save detector failed: {exc}")

    def save(self, path: Any) -> Path:
        """Write the trained detector's checkpoint and card; returns the weights file."""
        from ..learn.checkpoint import save_checkpoint

        if self.model is None:
            raise ValueError("train a detector first")
        if str(path) in ("", "."):
            raise ValueError("choose a file to save the detector to")
        return save_checkpoint(Path(str(path)).with_suffix(".safetensors"), self.model, self.card)
