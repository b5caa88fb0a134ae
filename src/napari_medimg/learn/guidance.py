"""Click guidance: a model that segments the object a user clicked on (interactive segmentation).

A click-guided model takes, besides the image, one more input channel: a gaussian spot
at the click. It learns to segment the object under the spot, of any size and wherever it
is, which a model that must also find the object cannot do as well on small data (34 breast
ultrasound images). The card says so in its input section::

    input: {resize_to: [160, 160], guidance: {kind: click, sigma_px: 4}, ...}

Training (:class:`ClickBatches`) places each click at a random interior point of one
object of the (augmented) labels, drawn with weight on the object's inner part as a user
clicks, and makes that object the target (another object in the same picture is
background for this click). Validation and scoring click at each object's deepest point
(:func:`deepest_points`). At prediction each click gives its own object
(:func:`object_at`), and the objects of several clicks are joined.
"""

from __future__ import annotations

# scipy.ndimage is imported where used: the model registry reads this module to list models

from collections.abc import Iterable, Sequence

import numpy as np

__all__ = ["needs_clicks", "check_guidance", "click_channel", "deepest_points", "object_at", "ClickBatches"]

_KINDS = ("click",)


def needs_clicks(card: dict) -> bool:
    """Whether a model (its card) segments the object a user clicks on."""
    return bool(card.get("input", {}).get("guidance"))


def check_guidance(guidance: dict | None) -> dict | None:
    """A card's ``input.guidance`` with its defaults, or None; ValueError naming what is wrong."""
    if guidance is None:
        return None
    out = {"kind": "click", "sigma_px": 4.0, **dict(guidance)}
    if out["kind"] not in _KINDS:
        raise ValueError(f"guidance kind {out['kind']!r} is not known: {', '.join(_KINDS)}")
    if not float(out["sigma_px"]) > 0:
        raise ValueError(f"guidance sigma_px must be positive, got {out['sigma_px']}")
    unknown = set(out) - {"kind", "sigma_px"}
    if unknown:
        raise ValueError(f"unknown guidance settings {', '.join(sorted(unknown))}")
    out["sigma_px"] = float(out["sigma_px"])
    return out


def click_channel(shape: Sequence[int], point: Sequence[float], sigma: float) -> np.ndarray:
    """A gaussian spot of peak 1 at ``point`` (fractional voxel index) on a grid of ``shape``: float32."""
    grids = np.ogrid[tuple(slice(0, n) for n in shape)]
    squared = sum((g - float(p)) ** 2 for g, p in zip(grids, point))
    return np.exp(-squared / (2.0 * sigma ** 2)).astype(np.float32)


def deepest_points(mask: np.ndarray) -> list[tuple[int, ...]]:
    """The deepest voxel (largest distance to the outside) of each connected object of ``mask``, largest object first."""
    from scipy import ndimage

    pieces, count = ndimage.label(np.asarray(mask, bool))
    if not count:
        return []
    sizes = np.bincount(pieces.ravel())[1:]
    depth = ndimage.distance_transform_edt(pieces > 0)
    points = []
    for label in np.argsort(-sizes, kind="stable") + 1:
        inside = np.where(pieces == label, depth, -1.0)
        points.append(tuple(int(i) for i in np.unravel_index(int(np.argmax(inside)), mask.shape)))
    return points


def object_at(mask: np.ndarray, point: Sequence[float]) -> np.ndarray:
    """The connected object of ``mask`` holding ``point``, or the one nearest to it; all False when ``mask`` is empty."""
    from scipy import ndimage

    pieces, count = ndimage.label(np.asarray(mask, bool))
    if not count:
        return np.zeros(mask.shape, bool)
    index = tuple(int(np.clip(round(float(p)), 0, n - 1)) for p, n in zip(point, mask.shape))
    label = int(pieces[index])
    if not label:  # the click fell just outside what the model drew: the nearest object
        _, nearest = ndimage.distance_transform_edt(pieces == 0, return_indices=True)
        label = int(pieces[tuple(n[index] for n in nearest)])
    return pieces == label


class ClickBatches:
    """Training or validation batches with a click channel added, the clicked object as target.

    Parameters
    ----------
    batches : iterable of (images, labels)
        ``images`` float32 ``(B, C, *spatial)``, ``labels`` int ``(B, *spatial)`` (a
        :class:`.patches.PatchSampler` or a list of fixed batches).
    sigma : float
        The click spot's standard deviation in model pixels.
    seed : int, optional
        Random clicks from this seed; None clicks each object's deepest point (validation).
    ignore_label : int
        Unannotated voxels keep this label.
    """

    def __init__(self, batches: Iterable, sigma: float, *, seed: int | None = 0, ignore_label: int = 255):
        self.batches, self.sigma, self.ignore_label = batches, float(sigma), int(ignore_label)
        self.rng = None if seed is None else np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self):
        for images, labels in self.batches:
            yield self.guided(np.asarray(images), np.asarray(labels))

    def _click(self, foreground: np.ndarray) -> tuple[tuple[float, ...], np.ndarray]:
        """A click on one object of ``foreground`` (its inner part, as a user clicks) and that object."""
        from scipy import ndimage

        if self.rng is None:
            point = deepest_points(foreground)[0]
            return point, object_at(foreground, point)
        pieces, count = ndimage.label(foreground)
        target = pieces == int(self.rng.integers(1, count + 1))
        depth = ndimage.distance_transform_edt(target)
        inner = np.flatnonzero(depth >= 0.4 * depth.max())  # not on the rim
        flat = inner[int(self.rng.integers(inner.size))]
        return np.unravel_index(flat, target.shape), target

    def guided(self, images: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One batch with the click channel appended and each target reduced to its clicked object."""
        spatial = labels.shape[1:]
        out_images = np.concatenate([images, np.zeros((len(images), 1, *spatial), np.float32)], axis=1)
        out_labels = labels.copy()
        for b in range(len(images)):
            annotated = labels[b] != self.ignore_label
            foreground = (labels[b] > 0) & annotated
            if not foreground.any():  # nothing to click on: no spot, and the answer is no object
                continue
            point, target = self._click(foreground)
            out_images[b, -1] = click_channel(spatial, point, self.sigma)
            out_labels[b] = np.where(annotated, target.astype(labels.dtype), self.ignore_label)
        return out_images, out_labels
