"""Apply a segmentation model, as its card describes its input, to an image of any size.

A card's ``input`` says how the model sees an image:

``{"resize_to": [192, 192], "normalisation": {...}}``
    Whole-image 2D models (radiographs, ultrasound: often no pixel spacing). The image is
    normalised, resized with anti-aliasing to ``resize_to`` and predicted in one pass; the
    class probabilities are resized back (bilinear) and reduced to labels on the input grid.
``{"spacing": [...], "patch_size": [...], "normalisation": {...}}``
    Sliding-window models at a physical spacing (:func:`.infer.predict`).
``{"slice_axis": 0, "spacing": [sy, sx], "patch_size": [py, px], ...}``
    A 2D model applied slice by slice along ``slice_axis`` of a volume (normalised as a
    whole first, so per-volume statistics such as an MR z-score are kept).

Inputs carrying colour (``(y, x, 3)`` or ``(y, x, 4)``) are reduced to grey for
one-channel models.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ..dtypes import as_labels
from .normalize import normalize

__all__ = ["input_mode", "as_model_input", "image_channels", "resize_image", "predict_image", "predict_volume", "segment_with_model"]

MODES = ("resize", "slices", "spacing")


def input_mode(info: dict) -> str:
    """``"resize"``, ``"slices"`` or ``"spacing"``: how a card's ``input`` section feeds the model."""
    if info.get("resize_to") is not None:
        return "resize"
    if info.get("slice_axis") is not None:
        return "slices"
    if info.get("patch_size") is None:
        raise ValueError("the model card's input gives neither resize_to nor patch_size")
    return "spacing"


def as_model_input(image: np.ndarray, ndim: int, channels: int = 1) -> np.ndarray:
    """Bring an image to ``ndim`` spatial axes for a ``channels``-channel model.

    A colour picture ``(y, x, 3|4)`` becomes grey for a one-channel 2D model.

    Raises
    ------
    ValueError
        When the shape cannot feed the model; the message says what was expected.
    """
    data = np.asarray(image)
    if channels == 1 and ndim == 2 and data.ndim == 3 and data.shape[-1] in (3, 4):
        data = data[..., :3].astype(np.float32).mean(axis=-1)
    if data.ndim != ndim:
        raise ValueError(f"image of shape {np.shape(image)} does not fit a {ndim}D model "
                         f"({'a 2D picture' if ndim == 2 else 'a 3D volume'} expected)")
    return data


def image_channels(arch: dict, info: dict) -> int:
    """Channels of the image a model takes: its input channels less a click channel (:mod:`.guidance`)."""
    return int(arch.get("in_channels", 1)) - (1 if info.get("guidance") else 0)


def resize_image(image: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """Resize a float image (linear, anti-aliased when shrinking) to ``shape``."""
    from skimage.transform import resize

    return resize(np.asarray(image, np.float32), tuple(shape), order=1, mode="edge", anti_aliasing=True,
                  preserve_range=True).astype(np.float32)


def _whole_image(model, image: np.ndarray, info: dict, device, uncertainty: bool, clicks=None, tta_axes=()):
    import torch
    from scipy.ndimage import zoom

    size = tuple(int(n) for n in info["resize_to"])
    data = normalize(image, info.get("normalisation"))
    small = resize_image(data, size)
    factors = [n / m for n, m in zip(image.shape, size)]

    def up(plane: np.ndarray) -> np.ndarray:
        return zoom(plane, factors, order=1, mode="nearest", grid_mode=True)[: image.shape[0], : image.shape[1]]

    if info.get("guidance"):
        return _clicked_objects(model, small, image.shape, info, clicks, factors, up, device, uncertainty, tta_axes)
    x = torch.from_numpy(small)[None, None].to(device)
    with torch.inference_mode():
        prob = torch.softmax(model(x), 1)[0].float().cpu().numpy()

    best = np.full(image.shape, -1.0, np.float32)
    labels = np.zeros(image.shape, np.uint8)
    for k, channel in enumerate(prob):
        resized = up(channel)
        better = resized > best
        labels[better], best[better] = k, resized[better]
    if not uncertainty:
        return labels, None
    entropy = -(prob * np.log(np.clip(prob, 1e-12, 1.0))).sum(0) / np.log(len(prob))
    return labels, np.clip(np.rint(up(entropy.astype(np.float32)) * 100), 0, 100).astype(np.uint8)


def _clicked_objects(model, small: np.ndarray, shape, info: dict, clicks, factors, up, device, uncertainty: bool,
                     tta_axes=()):
    """A click-guided model's objects: one per click (its own forward pass), joined; entropy at the most sure.

    With ``tta_axes`` the probabilities are averaged over the flips of those axes (picture and
    click flipped together).
    """
    import torch

    from .guidance import click_channel, object_at
    from .sliding_window import _flips, _forward

    points = np.asarray(clicks if clicks is not None else np.zeros((0, 2)), float).reshape(-1, small.ndim)
    if not len(points):
        raise ValueError("this model segments the object you click on: give at least one click (a point in it)")
    sigma = float(info["guidance"]["sigma_px"])
    # the click's place on the model's grid: voxel centres map as in resize_image
    model_points = (points + 0.5) / np.asarray(factors) - 0.5
    x = np.stack([np.stack([small, click_channel(small.shape, p, sigma)]) for p in model_points])
    flips = _flips(tta_axes, small.ndim)
    with torch.inference_mode():
        out = _forward(model, torch.from_numpy(x).to(device), flips, False)
        prob = (torch.softmax(out, 1) if len(flips) == 1 else out).float().cpu().numpy()
    labels = np.zeros(shape, np.uint8)
    unsure = np.zeros(shape, np.float32) if uncertainty else None
    for point, p in zip(points, prob):
        found = object_at(up(p[1]) > up(p[0]), point)
        labels[found] = 1
        if uncertainty:
            entropy = -(p * np.log(np.clip(p, 1e-12, 1.0))).sum(0) / np.log(len(p))
            unsure = np.maximum(unsure, up(entropy.astype(np.float32)))
    if not uncertainty:
        return labels, None
    return labels, np.clip(np.rint(unsure * 100), 0, 100).astype(np.uint8)


def without_nan(image, what: str, outcome: str) -> tuple[np.ndarray, np.ndarray | None]:
    """An image a model can take, and where it had NaN voxels (None when it had none).

    NaN voxels are missing values: they get the image's median (which moves no percentile
    or window much; float32, no float64 copy), and a warning gives how many and ``outcome``
    (what becomes of them). Complex, empty or infinite images are refused as the
    operations refuse them, naming ``what``.
    """
    import warnings

    from ..processing._validate import check_operation_input, count_nonfinite

    data = check_operation_input(np.asarray(image), what)
    if not (np.issubdtype(data.dtype, np.floating) and count_nonfinite(data)[0]):
        return data, None
    missing = np.isnan(data)
    if missing.all():
        raise ValueError(f"{what}: every voxel of the image is NaN (no value to read)")
    data = np.where(missing, np.float32(np.nanmedian(data)), data.astype(np.float32, copy=False))
    warnings.warn(f"{what}: {int(missing.sum())} NaN voxels taken as missing ({outcome})", RuntimeWarning,
                  stacklevel=3)
    return data, missing


def predict_image(model, card: dict, image: np.ndarray, spacing: Sequence[float] | None = None, *,
                  device="cpu", uncertainty: bool = False, progress: Callable[[float], None] | None = None,
                  cancel: Callable[[], bool] | None = None, clicks=None, **kwargs):
    """Labels of ``image`` on its own grid, from a model and its card.

    Parameters
    ----------
    model : torch.nn.Module
        From :func:`.checkpoint.load_checkpoint`.
    card : dict
        Its card (``input`` and ``architecture`` are read).
    image : numpy.ndarray
        A 2D picture (grey or colour) or a volume, as the model takes.
    spacing : sequence of float, optional
        The image's spacing in mm (array order); needed by spacing and slice models.
    device : str or torch.device
        Where to run.
    uncertainty : bool
        Also return where the model is unsure: uint8 0-100 on the image's grid, the entropy
        of the class probabilities over log K (shows which slice to annotate next).
    progress, cancel : callable, optional
        ``progress(fraction)``; ``cancel()`` polled between slices and sliding windows
        (returning True raises :class:`~napari_medimg.progress.OperationCancelled`).
    clicks : array-like, optional
        ``(n, ndim)`` voxel indices of clicks, for a click-guided model (:mod:`.guidance`):
        each click gives the object under it (label 1), and the objects are joined.
    **kwargs
        Passed to :func:`.infer.predict` (``overlap``, ``batch_size``, ``tta_axes``); a
        click-guided model takes ``tta_axes`` too (probabilities averaged over those flips).

    Returns
    -------
    numpy.ndarray or tuple of numpy.ndarray
        Labels with the image's spatial shape, smallest unsigned dtype; with
        ``uncertainty=True``, ``(labels, uncertainty)``.

    Raises
    ------
    TypeError, ValueError
        For an array no model can take (complex, empty, infinite values). NaN voxels are
        taken as missing: the model sees the image's median there, they are labelled 0,
        and a warning gives how many.
    """
    from .guidance import needs_clicks

    data, missing = without_nan(image, "segmentation model", "labelled 0")

    guided = needs_clicks(card)
    if clicks is not None and not guided:
        raise ValueError(f"{card.get('name') or 'this model'} finds its objects without clicks: leave the clicks out")
    if guided:
        kwargs["clicks"] = clicks
    result = _predict(model, card, data, spacing, device=device, uncertainty=uncertainty, progress=progress,
                      cancel=cancel, **kwargs)
    if missing is None:
        return result
    labels, unsure = result if uncertainty else (result, None)
    if missing.shape != labels.shape:  # a colour picture: missing in any channel
        missing = missing.any(axis=-1)
    labels[missing] = 0
    if unsure is not None:
        unsure[missing] = 0
    return (labels, unsure) if uncertainty else labels


def _predict(model, card: dict, image: np.ndarray, spacing, *, device, uncertainty: bool, progress, cancel,
             **kwargs):
    """:func:`predict_image` on an image without NaN."""
    from ..progress import OperationCancelled
    from .infer import predict

    if card.get("kind", "segmentation") != "segmentation":
        raise ValueError(f"{card.get('name') or 'this model'} is a {card['kind']} model, not a segmentation model: "
                         "use napari_medimg.learn.classify or .landmarks (or napari-medimg predict)")
    info = card.get("input", {})
    arch = card["architecture"]
    mode = input_mode(info)
    if mode == "resize":
        data = as_model_input(image, arch["spatial_dims"], image_channels(arch, info))
        labels, unsure = _whole_image(model, data, info, device, uncertainty, kwargs.get("clicks"),
                                      kwargs.get("tta_axes", ()))
        return (as_labels(labels), unsure) if uncertainty else as_labels(labels)
    if mode == "spacing":
        return predict(model, as_model_input(image, arch["spatial_dims"], image_channels(arch, info)),
                       patch_size=info["patch_size"], spacing=spacing, model_spacing=info.get("spacing"),
                       normalisation=info.get("normalisation"), device=device, uncertainty=uncertainty,
                       progress=progress, cancel=cancel, **kwargs)
    axis = int(info["slice_axis"])
    volume = np.asarray(image)
    if volume.ndim != 3:
        raise ValueError(f"this model segments a volume slice by slice: got an image of shape {volume.shape}")
    in_plane = None if spacing is None else [s for i, s in enumerate(spacing) if i != axis]
    data = np.moveaxis(normalize(volume, info.get("normalisation")), axis, 0)
    out = np.zeros(data.shape, np.uint8)
    unsure = np.zeros(data.shape, np.uint8) if uncertainty else None
    for i, plane in enumerate(data):
        if cancel is not None and cancel():
            raise OperationCancelled("prediction cancelled")
        if plane.any():
            result = predict(model, plane, patch_size=info["patch_size"], spacing=in_plane,
                             model_spacing=info.get("spacing"), normalisation=None, device=device,
                             uncertainty=uncertainty, cancel=cancel, **kwargs)
            if uncertainty:
                out[i], unsure[i] = result
            else:
                out[i] = result
        if progress is not None:
            progress((i + 1) / len(data))
    labels = as_labels(np.moveaxis(out, 0, axis))
    return (labels, np.moveaxis(unsure, 0, axis)) if uncertainty else labels


def predict_volume(model, card: dict, volume, *, uncertainty: bool = False, **kwargs):
    """:func:`predict_image` on a :class:`~napari_medimg.volume.Volume`: labels with its geometry.

    Parameters
    ----------
    model, card
        As for :func:`predict_image`.
    volume : Volume
        The study (one frame).
    uncertainty : bool
        Also return the uncertainty map (uint8 0-100, see :func:`predict_image`) as a Volume
        on the same grid.
    **kwargs
        Passed to :func:`predict_image`.

    Returns
    -------
    Volume or tuple of Volume
        The labels on the input's grid (same spacing, origin, direction), marked as labels,
        with the model's class names in ``metadata["classes"]``; with ``uncertainty=True``,
        ``(labels, uncertainty)``.
    """
    import dataclasses

    if volume.leading_shape:
        raise ValueError(f"the image has {len(volume.leading_shape)} non-spatial axes (time or channels): "
                         "choose one frame first")
    from ..io.orientation import to_nearest_axes, undo_reorientation

    # the model sees the study as it was trained: array axes along the nearest patient axes
    # (axial slices first), e.g. a sagittal DICOM series is turned to axial and back
    shown, how = to_nearest_axes(dataclasses.replace(volume, rgb=False, array=volume.array[..., 0])
                                 if volume.rgb else volume)
    source = volume if how.is_identity else shown  # a colour picture keeps its colours (made grey as trained)
    result = predict_image(model, card, source.array, source.spacing, uncertainty=uncertainty, **kwargs)
    maps = list(result) if uncertainty else [result]
    if not how.is_identity:
        maps = [undo_reorientation(shown.with_array(m), how).array for m in maps]
    classes = [c for c in card.get("classes", []) if int(c.get("value", 0))]
    meta = {**volume.metadata, "kind": "labels", "classes": classes,
            "model": card.get("name") or card.get("weights", {}).get("file", "")}
    labels = dataclasses.replace(volume, array=maps[0], rgb=False, metadata=meta)
    if not uncertainty:
        return labels
    unsure_meta = {**volume.metadata, "kind": "image", "units": "% (entropy)", "model": meta["model"]}
    return labels, dataclasses.replace(volume, array=maps[1], rgb=False, metadata=unsure_meta)


def segment_with_model(volume, *, model: str, progress: Callable[[float], None] | None = None,
                       cancel: Callable[[], bool] | None = None):
    """Segment a Volume with a shipped model (the ``segment_with_model`` operation).

    Parameters
    ----------
    volume : Volume
        A picture or volume of the kind the model was trained on (see ``napari-medimg models``).
    model : str
        A shipped model's name; loaded once and kept for the next call.
    progress, cancel : callable, optional
        Progress fraction; cancel request (slice and sliding-window models).

    Returns
    -------
    Volume
        Labels on the input's grid, with the model's class names and colours.
    """
    from .registry import shipped_model

    network, card = shipped_model(model)
    return predict_volume(network, card, volume, progress=progress, cancel=cancel)
