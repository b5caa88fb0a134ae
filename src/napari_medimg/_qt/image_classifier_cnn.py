"""Worker-side CNN image classification for the Classify images widget (plain arrays, no layers).

:func:`train_cnn_image_classifier` trains :mod:`napari_medimg.learn.classify`'s CNN on the
tagged images of a stack; :func:`classify_with_cnn` applies a trained, loaded or shipped CNN
to every image, with calibrated probabilities and a Grad-CAM saliency map per image. Both run
in a worker thread; torch is imported only when they run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np

from ._common import confusion_text, counts_text, plain

__all__ = ["CNNClassifier", "train_cnn_image_classifier", "classify_with_cnn", "cnn_input_size"]


@dataclass
class CNNClassifier:
    """A CNN image classifier and its model card (what the widget saves as a checkpoint)."""

    model: Any
    card: dict

    @property
    def class_values(self) -> list[int]:
        """The tag of each network output: the class the user tagged (a CNN trained in the widget
        is named by its tags) or, for a model with named classes, the class's value (0, 1, ...)."""
        values = []
        for c in self.card.get("classes", []):
            name = str(c["name"])
            values.append(int(name) if name.lstrip("-").isdigit() else int(c["value"]))
        return values


def cnn_input_size(image_shape: tuple[int, ...], largest: int = 64) -> list[int]:
    """The network's input size for images of ``image_shape``: at most ``largest``, a multiple of 8, at least 16."""
    return [max(16, min(largest, int(n)) // 8 * 8) for n in image_shape[:2]]


def _check_cancel(cancel: Callable[[], bool] | None) -> None:
    from ..progress import check_cancel

    check_cancel(cancel)


def train_cnn_image_classifier(images: np.ndarray, tags: Mapping[int, Any], *, iterations: int = 300,
                               cancel: Callable[[], bool] | None = None, seed: int = 0):
    """Train a CNN on the tagged images of a stack, then classify every image.

    Parameters
    ----------
    images : array (n, y, x)
        The stack.
    tags : mapping
        ``{image index: class}`` (at least two images of each of two classes).
    iterations : int
        Training steps (batches of 32 images, classes drawn equally often).
    cancel : callable, optional
        Returns True to stop (within one step; raises ``OperationCancelled``).
    seed : int
        Seed of the network and the sampling.

    Returns
    -------
    ImageClassification
        With calibrated probabilities and saliency maps (see :func:`classify_with_cnn`).
    """
    from ..learn.classify import classifier_card, fit_classifier
    from ..progress import OperationCancelled
    from .image_classifier_widget import tagged_arrays

    images = np.asarray(images)
    index, y = tagged_arrays(tags, len(images))
    values = sorted(set(y.tolist()), key=lambda v: (str(type(v)), v))
    targets = np.array([values.index(v) for v in y], np.int64)
    held = max(2, int(round(0.15 * len(index))))
    config = {"classes": [str(v) for v in values], "input": {"resize_to": cnn_input_size(images.shape[1:])},
              "training": {"iterations": int(iterations), "batch_size": 32, "steps_per_epoch": 25,
                           "warmup": min(50, int(iterations) // 5), "seed": seed,
                           "calibration_fraction": min(0.45, max(0.15, held / len(index)))}}
    model, result, calibration, cfg = fit_classifier(images[index], targets, config, cancel=cancel)
    if result.stopped == "cancelled":
        raise OperationCancelled("training cancelled")
    card = classifier_card(cfg, result, calibration, training={"data": f"{len(index)} tagged images in napari"})
    classifier = CNNClassifier(model, card)
    outcome = classify_with_cnn(classifier, images, cancel=cancel, tags=tags,
                                how="in-sample: most tagged images were trained on")
    outcome.summary = (f"CNN ({cfg['network']['name']}, {cfg['input']['resize_to'][0]} x {cfg['input']['resize_to'][1]} "
                       f"input): {result.iterations} steps in {result.seconds:.0f} s, held-out AUC "
                       f"{result.best_metric:.3f} on {int(round(cfg['training']['calibration_fraction'] * len(index)))} "
                       f"tagged images kept out of training\n" + outcome.summary)
    return outcome


def classify_with_cnn(classifier: CNNClassifier, images: np.ndarray, *, cancel: Callable[[], bool] | None = None,
                      tags: Mapping[int, Any] | None = None, saliency: bool = True,
                      how: str = "images the model never saw, if it was not trained on them"):
    """Classify every image of a stack with a CNN: classes, calibrated probabilities, saliency maps.

    Parameters
    ----------
    classifier : CNNClassifier
        Trained, loaded or shipped.
    images : array (n, y, x)
        The stack.
    cancel : callable, optional
        Polled between batches and saliency maps.
    tags : mapping, optional
        ``{index: class}``: the summary adds the confusion matrix of predictions against tags.
    saliency : bool
        Also compute each image's Grad-CAM map (for the predicted class), as uint8 0-255.
    how : str
        How the tagged images relate to the model, for the confusion matrix's title.

    Returns
    -------
    ImageClassification
    """
    from ..learn.classify import grad_cam, predict_proba
    from .image_classifier_widget import ImageClassification

    images = np.asarray(images)
    card, model = classifier.card, classifier.model
    values = classifier.class_values
    chunks = []
    for start in range(0, len(images), 512):
        _check_cancel(cancel)
        chunks.append(predict_proba(model, card, images[start:start + 512]))
    probabilities = np.concatenate(chunks) if chunks else np.zeros((0, len(values)), np.float32)
    chosen = probabilities.argmax(1)
    predictions = np.array([values[c] for c in chosen], dtype=np.int64)
    maps = None
    if saliency:
        maps = np.zeros(images.shape[:3], np.uint8)
        for i, image in enumerate(images):
            if i % 16 == 0:
                _check_cancel(cancel)
            maps[i] = np.round(grad_cam(model, card, image, target=int(chosen[i])) * 255).astype(np.uint8)
    named = ", ".join(f"{v} = {c['name']}" for v, c in zip(values, card.get("classes", [])) if str(v) != str(c["name"]))
    lines = [f"{card.get('name') or 'CNN'}: " + counts_text(predictions, f"{len(images)} images predicted")
             + (f" (classes {named})" if named else "")]
    validation = card.get("validation") or {}
    if validation.get("mean"):
        mean = validation["mean"]
        lines.append(f"validation when trained: accuracy {mean.get('accuracy', float('nan')):.3f}, AUC "
                     f"{mean.get('auc', float('nan')):.3f} ({validation.get('k')}-fold CV)")
    if tags:
        index = np.array(sorted(int(i) for i in tags if 0 <= int(i) < len(images)), int)
        truth = np.array([tags[int(i)] for i in index], dtype=object)
        known = [str(v) for v in values]
        agree = int(sum(str(t) == str(p) for t, p in zip(truth, predictions[index])))
        lines.append(f"tagged images predicted as tagged: {agree} of {len(index)}")
        if len(index) and set(map(str, truth)) <= set(known):
            confusion = np.zeros((len(known), len(known)), int)
            for t, p in zip(truth, predictions[index]):
                confusion[known.index(str(t)), known.index(str(p))] += 1
            lines.append(confusion_text(confusion, [plain(v) for v in values], how))
    metadata = {"task": "image_classify", "kind": "cnn", "model": card.get("name") or "",
                "classes": [plain(v) for v in values]}
    result = ImageClassification(classifier, predictions, None, "\n".join(lines), metadata)
    result.probabilities, result.saliency = probabilities, maps
    return result
