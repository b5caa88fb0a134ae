"""Sliding-window inference returning labels on the input grid.

The image is normalised (:mod:`.normalize`), resampled linearly to the model's input spacing
when one is given, predicted tile by tile with gaussian blending (:mod:`.sliding_window`:
tiles larger than the training patch, argmax as soon as a region is finished, so no
per-class probability map of the whole image is kept), and the labels are mapped back to the
input grid by nearest neighbour, in the smallest unsigned dtype. Optional: test-time
augmentation by flips, an uncertainty map (which slice to annotate next), bfloat16 autocast
where the hardware supports it, with :func:`bfloat16_agreement` to measure what it changes.

Importing this module does not import torch.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..dtypes import as_labels
from . import IGNORE_LABEL
from .metrics import dice_counts, dice_scores
from .normalize import normalize

__all__ = ["predict", "predict_with_card", "to_grid", "evaluate_cases", "bfloat16_agreement"]


def to_grid(labels: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """Nearest-neighbour map of ``labels`` onto a grid of ``shape`` covering the same extent.

    Voxel ``i`` of the output takes the source voxel containing its centre:
    ``floor((i + 0.5) * n_src / n_out)`` per axis.
    """
    if tuple(labels.shape) == tuple(shape):
        return labels
    index = [np.minimum(((np.arange(n) + 0.5) * s / n).astype(np.intp), s - 1) for n, s in zip(shape, labels.shape)]
    return labels[np.ix_(*index)]


def _resample(image: np.ndarray, factors: Sequence[float]) -> np.ndarray:
    from scipy.ndimage import zoom

    if all(abs(f - 1.0) < 1e-6 for f in factors):
        return image
    return np.stack([zoom(c, factors, order=1, mode="nearest", grid_mode=True) for c in image])


def _model_input(image: np.ndarray, ndim: int, spacing, model_spacing, normalisation) -> np.ndarray:
    """Channel-first float32 ``(C, *spatial)``, normalised and at the model's spacing."""
    data = np.asarray(image)
    if data.ndim == ndim:
        data = data[None]
    elif data.ndim != ndim + 1:
        raise ValueError(f"image of shape {np.shape(image)} does not fit a {ndim}D model")
    if normalisation is not None:
        data = normalize(data, normalisation)
    data = data.astype(np.float32, copy=False)
    if model_spacing is not None:
        if spacing is None:
            raise ValueError("the model has an input spacing: give the image's spacing too")
        if len(spacing) != ndim or len(model_spacing) != ndim:
            raise ValueError(f"spacing {tuple(spacing)} / model spacing {tuple(model_spacing)} "
                             f"need {ndim} axes")
        data = _resample(data, [s / m for s, m in zip(spacing, model_spacing)])
    return data


def predict(model, image: np.ndarray, *, patch_size: Sequence[int], spacing: Sequence[float] | None = None,
            model_spacing: Sequence[float] | None = None, normalisation: dict | None = None,
            overlap: float = 0.25, batch_size: int = 1, device="cpu", mode: str = "gaussian",
            tile_voxels: int | None = None, tta_axes: Sequence[int] = (), uncertainty: bool = False,
            dtype: str = "float32", emulate: bool = False, progress=None, cancel=None):
    """Predict labels for one image with a sliding window.

    Parameters
    ----------
    model : torch.nn.Module
        Returns logits ``(B, K, *patch)``; fully convolutional (a U-Net) for tiles larger
        than the patch.
    image : numpy.ndarray
        Spatial ``(*spatial)`` with ``len(patch_size)`` axes, or channel-first ``(C, *spatial)``.
    patch_size : sequence of int
        Window size in voxels at the model's spacing.
    spacing : sequence of float, optional
        The image's voxel spacing in mm (array axis order).
    model_spacing : sequence of float, optional
        The spacing the model was trained at; the image is resampled to it (needs ``spacing``).
    normalisation : dict, optional
        See :mod:`.normalize`; None leaves intensities as they are.
    overlap : float
        Window overlap fraction.
    batch_size : int
        Tiles per forward pass.
    device : str or torch.device
        Where to run (the model is moved there).
    mode : {"gaussian", "constant"}
        Blending of overlapping windows.
    tile_voxels : int, optional
        Voxels per tile (default :data:`.sliding_window.TILE_VOXELS`, a 160^3 tile); at most
        one patch gives MONAI's windows exactly. Larger is faster and needs more memory.
    tta_axes : sequence of int
        Spatial axes flipped for test-time augmentation (only where the anatomy allows,
        e.g. not left-right for lateralised classes); empty for none.
    uncertainty : bool
        Also return an uncertainty map: uint8 0-100 on the input grid, the entropy of the
        blended class probabilities over log K (with ``tta_axes``, disagreement between the
        flips raises it). High values show where to annotate next.
    dtype : {"float32", "bfloat16"}
        Compute dtype. bfloat16 autocast is used only where the CPU/GPU supports it;
        otherwise a warning says so and float32 is used. Check what it changes with
        :func:`bfloat16_agreement`.
    emulate : bool
        Run bfloat16 even where the hardware only emulates it (slow; to measure agreement).
    progress : callable, optional
        ``progress(fraction)`` after each forward pass.
    cancel : callable, optional
        Polled before each forward pass; True raises
        :class:`~napari_medimg.progress.OperationCancelled`.

    Returns
    -------
    numpy.ndarray or tuple of numpy.ndarray
        Labels with the image's spatial shape, smallest unsigned integer dtype; with
        ``uncertainty=True``, ``(labels, uncertainty)``.
    """
    import torch

    from .sliding_window import sliding_window

    ndim = len(patch_size)
    data = _model_input(image, ndim, spacing, model_spacing, normalisation)
    shape = np.shape(image)[-ndim:]
    device = torch.device(device)
    was_training = model.training
    model.to(device).eval()
    try:
        labels, unsure = sliding_window(model, data, patch_size, overlap=overlap, mode=mode,
                                        tile_voxels=tile_voxels, batch_size=batch_size, tta_axes=tta_axes,
                                        uncertainty=uncertainty, dtype=dtype, emulate=emulate, device=device,
                                        progress=progress, cancel=cancel)
    finally:
        model.train(was_training)
    labels = as_labels(to_grid(labels, shape))
    return (labels, to_grid(unsure, shape)) if uncertainty else labels


def bfloat16_agreement(model, image: np.ndarray, *, force: bool = True, **kwargs) -> dict:
    """Measure what bfloat16 autocast changes: share of voxels whose label equals the float32 one.

    Parameters
    ----------
    model : torch.nn.Module
        As for :func:`predict`.
    image : numpy.ndarray
        A representative image.
    force : bool
        Run bfloat16 even where the hardware only emulates it (slow, same agreement); if
        False there, the "bfloat16" run falls back to float32 with a warning.
    **kwargs
        Passed to :func:`predict` (``patch_size`` is required).

    Returns
    -------
    dict
        ``agreement`` (fraction of equal labels), ``supported`` (native bfloat16 here),
        ``seconds_float32``, ``seconds_bfloat16``.
    """
    import time

    import torch

    from .sliding_window import bfloat16_supported

    kwargs = {k: v for k, v in kwargs.items() if k not in ("dtype", "uncertainty")}
    supported = bfloat16_supported(torch.device(kwargs.get("device", "cpu")))
    t0 = time.perf_counter()
    ref = predict(model, image, **kwargs)
    t1 = time.perf_counter()
    low = predict(model, image, dtype="bfloat16", emulate=force, **kwargs)
    t2 = time.perf_counter()
    return {"agreement": float(np.mean(ref == low)), "supported": supported,
            "seconds_float32": t1 - t0, "seconds_bfloat16": t2 - t1}


def predict_with_card(model, card: dict, image: np.ndarray, spacing: Sequence[float] | None = None,
                      **kwargs) -> np.ndarray:
    """:func:`predict` with patch size, model spacing and normalisation from a model card.

    Parameters
    ----------
    model : torch.nn.Module
        From :func:`.checkpoint.load_checkpoint`.
    card : dict
        Its card; ``input`` gives ``patch_size``, ``spacing`` and ``normalisation``.
    image : numpy.ndarray
        As for :func:`predict`.
    spacing : sequence of float, optional
        The image's spacing; required when the card has an input spacing.
    **kwargs
        Passed on (``overlap``, ``batch_size``, ``device``, ...).
    """
    info = card.get("input", {})
    if "patch_size" not in info:
        raise ValueError("the model card gives no input patch_size")
    return predict(model, image, patch_size=info["patch_size"], spacing=spacing,
                   model_spacing=info.get("spacing"), normalisation=info.get("normalisation"), **kwargs)


def evaluate_cases(model, cases, num_classes: int, *, ignore_label: int = IGNORE_LABEL, **kwargs) -> dict:
    """Whole-image Dice of ``model`` over cases, each predicted with a sliding window.

    Parameters
    ----------
    model : torch.nn.Module
        Returns logits.
    cases : iterable of (image, labels) or (image, labels, spacing)
        Labels on the image's grid; unannotated voxels ``ignore_label`` or negative.
    num_classes : int
        K, background included.
    ignore_label : int
        Unannotated voxels' label.
    **kwargs
        Passed to :func:`predict` (``patch_size`` is required; ``normalisation``,
        ``model_spacing``, ``overlap``, ``device``...).

    Returns
    -------
    dict
        ``per_case``: Dice per class for each case (list of lists, NaN where absent);
        ``mean_foreground``: each case's mean foreground Dice; ``pooled``: Dice per class
        over all cases' voxels together.
    """
    total = np.zeros((num_classes, 3), np.int64)
    per_case, mean_fg = [], []
    default_spacing = kwargs.pop("spacing", None)
    for case in cases:
        image, labels = case[0], np.asarray(case[1])
        spacing = case[2] if len(case) > 2 else default_spacing
        pred = predict(model, image, spacing=spacing, **kwargs)
        counts = dice_counts(pred, labels, num_classes, ignore_label)
        total += counts
        scores = dice_scores(counts)
        per_case.append([float(x) for x in scores])
        fg = scores[1:]
        mean_fg.append(float(np.nanmean(fg)) if np.isfinite(fg).any() else float("nan"))
    return {"per_case": per_case, "mean_foreground": mean_fg, "pooled": [float(x) for x in dice_scores(total)]}
