"""Sliding-window inference straight to labels: large tiles, gaussian blending, early argmax.

Imports torch: import this module only where a model is run (:mod:`.infer` does so lazily).

How it differs from MONAI's ``sliding_window_inference`` (same windows, same weights when
``tile_voxels`` is at most one patch):

- **Tiles larger than the patch.** A fully convolutional network (a U-Net) evaluates a tile
  of many patches in one forward pass. Tiles overlap by as many voxels as two windows
  would (``patch - int(patch * (1 - overlap))``) and are blended with a *flat-topped*
  gaussian: MONAI's gaussian of the patch (sigma = ``sigma_scale`` x patch) split at its
  peak, with ones in between. A tile the size of the patch gets exactly MONAI's weights.
  Far fewer voxels are computed twice, and each voxel sees more context; labels agree with
  MONAI's windows wherever the network is not on the fence (measured in
  ``benchmarks/bench_sliding_window.py``).
- **Early argmax.** Blended scores are accumulated in a running buffer one tile-row deep
  along the first spatial axis; once no later tile reaches a region it is reduced to labels
  (smallest unsigned dtype) and the buffer slides on. A K-channel float volume of the
  whole image is never kept.
- **Test-time augmentation** (flips along the axes the anatomy allows; probabilities averaged)
  and an **uncertainty map** (normalised entropy of the blended class probabilities, 0-100
  in uint8) on request.
- ``torch.inference_mode``, channels-last memory layout on the CPU, optional bfloat16
  autocast where the CPU or GPU supports it, progress and cancel between forward passes.

Peak memory, besides the network's activations for one batch of tiles (for a BasicUNet
about ``tile_voxels x batch_size x 6 x features[0] x 4`` bytes): the padded float32 input,
the running buffer ``(K + 1) x tile_depth x (other axes) x 4`` bytes (briefly twice that
while it slides), the labels (1 byte a
voxel for up to 256 classes) and, when asked, the uncertainty map (1 byte a voxel).
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ..dtypes import smallest_label_dtype
from ..progress import check_cancel, report

__all__ = ["TILE_VOXELS", "sliding_window", "axis_tiles", "blend_weights", "bfloat16_supported",
           "resolve_dtype"]

#: Default tile budget in voxels (a 160^3 tile). Larger tiles mean fewer voxels computed
#: twice and more memory for the network's activations.
TILE_VOXELS = 160**3


def bfloat16_supported(device: torch.device) -> bool:
    """Whether ``device`` runs bfloat16 convolutions natively (AVX-512 BF16 / AMX, or such a GPU)."""
    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    if device.type != "cpu":
        return False
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # pragma: no cover - torch without oneDNN
        return False


def resolve_dtype(dtype: str, device: torch.device, *, force: bool = False) -> str:
    """The compute dtype to use: ``"bfloat16"`` only where supported (or ``force``), else ``"float32"``.

    Warns, saying why, when bfloat16 was asked for and is not supported.
    """
    if dtype not in ("float32", "bfloat16"):
        raise ValueError(f"unknown compute dtype {dtype!r}: 'float32' or 'bfloat16'")
    if dtype == "bfloat16" and not force and not bfloat16_supported(device):
        capability = torch.backends.cpu.get_cpu_capability()
        warnings.warn(f"bfloat16 is not supported natively on this {device.type.upper()} "
                      f"(capability {capability}): running in float32", stacklevel=3)
        return "float32"
    return dtype


def axis_tiles(n: int, patch: int, overlap: float, max_tile: int, multiple: int) -> tuple[int, list[int]]:
    """Tile size and start positions along one axis of length ``n >= patch``.

    Tiles are at most ``max(max_tile, patch)`` long, a multiple of ``multiple`` (``patch``
    itself when they cannot be longer), no longer than ``n``, and overlap by at least
    ``patch - int(patch * (1 - overlap))`` voxels, the overlap of two windows. Starts follow
    MONAI's rule (the last tile is moved back inside the image), so tiles the size of the
    patch are MONAI's windows.
    """
    interval = max(int(patch * (1 - overlap)), 1)
    if n == patch:
        return patch, [0]
    ov = patch - interval
    longest = max(patch, (min(n, max_tile) // multiple) * multiple)
    count = 1
    while True:  # the fewest tiles of at most `longest` voxels that cover n with the overlap
        size = -(-(n + (count - 1) * ov) // count)
        size = max(patch, -(-size // multiple) * multiple)
        if size <= longest:
            break
        count += 1
    step = size - ov if size > patch else interval
    starts = [0]
    while starts[-1] + size < n:
        starts.append(min(starts[-1] + step, n - size))
    return size, starts


def _tile_plan(shape: Sequence[int], patch: Sequence[int], overlap: float, tile_voxels: int,
               multiple: int) -> tuple[tuple[int, ...], list[list[int]]]:
    """Per-axis tile sizes and starts whose tile holds at most ``max(tile_voxels, prod(patch))`` voxels."""
    limits = list(shape)
    while True:
        plans = [axis_tiles(n, p, overlap, lim, multiple) for n, p, lim in zip(shape, patch, limits)]
        sizes = [s for s, _ in plans]
        if math.prod(sizes) <= tile_voxels or all(s == p for s, p in zip(sizes, patch)):
            return tuple(sizes), [starts for _, starts in plans]
        axis = max((i for i, (s, p) in enumerate(zip(sizes, patch)) if s > p), key=lambda i: sizes[i])
        limits[axis] = sizes[axis] - 1


def _gaussian_1d(patch: int, sigma_scale: float) -> np.ndarray:
    """MONAI's 1D gaussian over a patch (peak 1 at its centre)."""
    x = np.arange(patch, dtype=np.float32) - (patch - 1) / 2.0
    return np.exp(x**2 / (-2 * (sigma_scale * patch) ** 2)).astype(np.float32)


def blend_weights(tile: Sequence[int], patch: Sequence[int], mode: str = "gaussian",
                  sigma_scale: float = 0.125) -> np.ndarray:
    """Blending weights of one tile: MONAI's importance map, flat-topped for tiles larger than the patch.

    Parameters
    ----------
    tile, patch : sequence of int
        Tile and patch size per spatial axis (``tile >= patch``).
    mode : {"gaussian", "constant"}
        Gaussian falloff towards the tile's edges, or equal weights.
    sigma_scale : float
        Sigma of the gaussian as a fraction of the patch size.

    Returns
    -------
    numpy.ndarray
        float32 weights of shape ``tile``, at least ``max(min, 1e-3)`` as in MONAI.
    """
    if mode == "constant":
        return np.ones(tuple(tile), np.float32)
    if mode != "gaussian":
        raise ValueError(f"unknown blending mode {mode!r}: 'gaussian' or 'constant'")
    weights = np.ones((), np.float32)
    for t, p in zip(tile, patch):
        g = _gaussian_1d(p, sigma_scale)
        axis = np.concatenate([g[: p // 2], np.ones(t - p, np.float32), g[p // 2:]])
        weights = np.multiply.outer(weights, axis)
    return np.maximum(weights, max(float(weights.min()), 1e-3)).astype(np.float32)


@dataclass
class _Buffer:
    """Blended scores of one tile-row along axis 0; finished rows become labels (and uncertainty)."""

    scores: torch.Tensor  # (K, depth, *rest)
    weights: torch.Tensor  # (depth, *rest)
    labels: np.ndarray
    uncertainty: np.ndarray | None
    probabilities: bool  # scores are blended probabilities (TTA), not logits
    start: int = 0

    def add(self, scores: torch.Tensor, weights: torch.Tensor, starts: Sequence[int]) -> None:
        """Blend one tile's scores ``(K, *tile)`` in at ``starts``; rows above its first start are done."""
        if starts[0] > self.start:
            self.finish(starts[0])
        rest = (slice(s, s + n) for s, n in zip(starts[1:], weights.shape[1:]))
        region = (slice(0, weights.shape[0]), *rest)
        self.scores[(slice(None), *region)].add_(scores * weights)
        self.weights[region].add_(weights)

    def finish(self, stop: int) -> None:
        """Reduce rows ``[start, stop)`` to labels and slide the buffer to ``stop``."""
        n = stop - self.start
        scores = self.scores[:, :n]
        self.labels[self.start:stop] = scores.argmax(0).numpy()
        if self.uncertainty is not None:
            probabilities = scores / self.weights[:n]
            self.uncertainty[self.start:stop] = _entropy_percent(probabilities, self.probabilities)
        depth = self.weights.shape[0]
        self.scores[:, : depth - n] = self.scores[:, n:].clone()
        self.scores[:, depth - n:] = 0
        self.weights[: depth - n] = self.weights[n:].clone()
        self.weights[depth - n:] = 0
        self.start = stop


def _entropy_percent(scores: torch.Tensor, probabilities: bool) -> np.ndarray:
    """Entropy of the class probabilities over log K, as uint8 0-100 (0: sure, 100: all classes equal)."""
    k = scores.shape[0]
    if k < 2:
        return np.zeros(scores.shape[1:], np.uint8)
    p = scores.clamp_min(0) if probabilities else torch.softmax(scores, 0)
    p = p / p.sum(0, keepdim=True).clamp_min(1e-12)
    entropy = -(p * torch.log(p.clamp_min(1e-12))).sum(0) / math.log(k)
    return (entropy.clamp(0, 1) * 100).round().to(torch.uint8).numpy()


def _flips(tta_axes: Sequence[int], ndim: int) -> list[tuple[int, ...]]:
    """Every subset of the flip axes, as tensor dims of a ``(B, C, *spatial)`` batch."""
    axes = sorted({int(a) % ndim for a in tta_axes})
    subsets = (combo for r in range(len(axes) + 1) for combo in itertools.combinations(axes, r))
    return [tuple(a + 2 for a in combo) for combo in subsets]


def _forward(model, batch: torch.Tensor, flips, autocast: bool) -> torch.Tensor:
    """Logits of ``batch`` (no flips), or class probabilities averaged over the flips."""
    with torch.autocast(batch.device.type, dtype=torch.bfloat16, enabled=autocast):
        if len(flips) == 1:
            return model(batch).float()
        total = None
        for dims in flips:
            out = model(batch.flip(dims) if dims else batch).float()
            prob = torch.softmax(out.flip(dims) if dims else out, 1)
            total = prob if total is None else total.add_(prob)
        return total / len(flips)


def _memory_format(ndim: int):
    return {4: torch.channels_last, 5: torch.channels_last_3d}.get(ndim, torch.contiguous_format)


def _pad(image: np.ndarray, patch: Sequence[int]) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Zero-pad, centred, every axis shorter than the patch (as MONAI does)."""
    pads = [(0, 0)] + [((p - n) // 2, p - n - (p - n) // 2) if n < p else (0, 0)
                       for n, p in zip(image.shape[1:], patch)]
    if any(lo or hi for lo, hi in pads):
        image = np.pad(image, pads)
    return image, pads[1:]


def sliding_window(model, image: np.ndarray, patch_size: Sequence[int], *, overlap: float = 0.25,
                   mode: str = "gaussian", sigma_scale: float = 0.125, tile_voxels: int | None = None,
                   multiple: int = 16, batch_size: int = 1, tta_axes: Sequence[int] = (),
                   uncertainty: bool = False, dtype: str = "float32", emulate: bool = False, device="cpu",
                   progress: Callable[[float], None] | None = None,
                   cancel: Callable[[], bool] | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Labels (and optionally an uncertainty map) of a sliding-window prediction.

    Parameters
    ----------
    model : torch.nn.Module
        Returns logits ``(B, K, *tile)`` for ``(B, C, *tile)``; fully convolutional when
        tiles are larger than the patch. Put in eval mode by the caller.
    image : numpy.ndarray
        float32 ``(C, *spatial)``, already normalised and at the model's spacing.
    patch_size : sequence of int
        The window the model was trained on.
    overlap : float
        Overlap of neighbouring windows as a fraction of the patch (0 <= overlap < 1).
    mode : {"gaussian", "constant"}
        Blending weights (see :func:`blend_weights`).
    sigma_scale : float
        Gaussian sigma as a fraction of the patch.
    tile_voxels : int, optional
        Voxels per tile (default :data:`TILE_VOXELS`); at most one patch gives MONAI's
        windows exactly.
    multiple : int
        Tile sizes larger than the patch are a multiple of this (the network's divisor).
    batch_size : int
        Tiles per forward pass.
    tta_axes : sequence of int
        Spatial axes to flip for test-time augmentation (every combination; probabilities
        averaged). Empty: none.
    uncertainty : bool
        Also return the uncertainty map (uint8, 0-100: entropy of the blended class
        probabilities over log K).
    dtype : {"float32", "bfloat16"}
        Compute dtype; bfloat16 autocast only where supported (see :func:`resolve_dtype`).
    emulate : bool
        bfloat16 even where not native (slow; for measuring its agreement with float32).
    device : str or torch.device
        Where to run the network (the model must be there already).
    progress : callable, optional
        ``progress(fraction)`` after each forward pass.
    cancel : callable, optional
        Polled before each forward pass; True raises :class:`~napari_medimg.progress.OperationCancelled`.

    Returns
    -------
    labels : numpy.ndarray
        The argmax class per voxel, shape ``image.shape[1:]``, smallest unsigned dtype.
    uncertainty : numpy.ndarray or None
        uint8 map of the same shape when asked, else None.
    """
    if not 0 <= overlap < 1:
        raise ValueError(f"overlap must be in [0, 1), got {overlap}")
    patch = tuple(int(p) for p in patch_size)
    if image.ndim != len(patch) + 1:
        raise ValueError(f"image {image.shape} is not (C, *spatial) for a {len(patch)}D patch")
    device = torch.device(device)
    autocast = resolve_dtype(dtype, device, force=emulate) == "bfloat16"
    padded, pads = _pad(np.asarray(image, np.float32), patch)
    shape = padded.shape[1:]
    budget = TILE_VOXELS if tile_voxels is None else int(tile_voxels)
    tile, starts = _tile_plan(shape, patch, overlap, budget, multiple)
    positions = list(itertools.product(*starts))
    weights = torch.from_numpy(blend_weights(tile, patch, mode, sigma_scale))
    flips = _flips(tta_axes, len(patch))
    fmt = _memory_format(padded.ndim + 1) if device.type == "cpu" else torch.contiguous_format
    source = torch.from_numpy(padded).to(device)
    buffer = None
    with torch.inference_mode():
        for first in range(0, len(positions), batch_size):
            check_cancel(cancel)
            chunk = positions[first:first + batch_size]
            batch = torch.stack([source[(slice(None), *(slice(s, s + t) for s, t in zip(pos, tile)))]
                                 for pos in chunk]).contiguous(memory_format=fmt)
            out = _forward(model, batch, flips, autocast).to("cpu")
            if buffer is None:
                buffer = _new_buffer(out.shape[1], tile[0], shape, uncertainty, len(flips) > 1)
            for pos, scores in zip(chunk, out):
                buffer.add(scores, weights, pos)
            report(progress, (first + len(chunk)) / len(positions))
        buffer.finish(shape[0])
    crop = tuple(slice(lo, n - hi) for (lo, hi), n in zip(pads, shape))
    labels = buffer.labels[crop]
    return labels, (buffer.uncertainty[crop] if uncertainty else None)


def _new_buffer(k: int, depth: int, shape: Sequence[int], uncertainty: bool, probabilities: bool) -> _Buffer:
    rest = tuple(shape[1:])
    return _Buffer(scores=torch.zeros((k, depth, *rest)), weights=torch.zeros((depth, *rest)),
                   labels=np.zeros(tuple(shape), smallest_label_dtype(k - 1)),
                   uncertainty=np.zeros(tuple(shape), np.uint8) if uncertainty else None,
                   probabilities=probabilities)
