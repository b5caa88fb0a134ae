"""Training images for a generative model: from an .npz stack, arrays, or slices and patches of a volume (numpy only).

A generative model works on one-channel images in ``[-1, 1]``. :func:`intensity_range` finds
the mapping from the data's own units (grey levels 0-255 for 8-bit images; the 0.5th and 99.5th
percentiles of all pixels otherwise) and stores it in the model card, so that generated images
come back in the units of the training images (:func:`from_unit_range`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["ImageSet", "load_npz", "load_folder", "intensity_range", "to_unit_range", "from_unit_range", "patches_from_volume", "resized",
           "tile"]


class ImageSet:
    """Images ``(N, H, W)`` and, optionally, their classes.

    Parameters
    ----------
    images : array (N, H, W)
        Grey images, all of one size.
    labels : array (N,) of int, optional
        Class index of each image, 0..K-1.
    classes : sequence of str, optional
        Class names (K of them); default ``class 0``, ``class 1``, ...

    Raises
    ------
    ValueError
        Not a stack of 2D images, NaN or infinite values, labels of the wrong length or out of range.
    """

    def __init__(self, images, labels=None, classes: Sequence[str] | None = None, source: str = "arrays") -> None:
        images = np.asarray(images)
        if images.ndim == 4 and images.shape[-1] == 1:
            images = images[..., 0]
        if images.ndim != 3 or min(images.shape) < 1:
            raise ValueError(f"{source}: a generative model trains on a stack of 2D grey images (N, H, W); "
                             f"got shape {images.shape}")
        if images.dtype.kind not in "uif" or (images.dtype.kind == "f" and not np.isfinite(images).all()):
            raise ValueError(f"{source}: the images hold NaN, infinite or non-numeric values; fill or crop them first")
        self.images, self.source = images, source
        if labels is None:
            self.labels, self.classes = None, []
        else:
            labels = np.asarray(labels).reshape(-1)
            if len(labels) != len(images):
                raise ValueError(f"{source}: {len(labels)} labels for {len(images)} images")
            if labels.dtype.kind not in "iu" or labels.min() < 0:
                raise ValueError(f"{source}: labels must be class indices 0..K-1")
            k = int(labels.max()) + 1
            names = list(classes) if classes else [f"class {i}" for i in range(k)]
            if len(names) < k:
                raise ValueError(f"{source}: label {k - 1} but only {len(names)} class names")
            self.labels, self.classes = labels.astype(np.int64), [str(n) for n in names]

    def __len__(self) -> int:
        return len(self.images)

    @property
    def image_size(self) -> tuple[int, int]:
        return tuple(int(v) for v in self.images.shape[1:])

    def class_counts(self) -> list[int]:
        """Images per class (empty when the set has no classes)."""
        if self.labels is None:
            return []
        return np.bincount(self.labels, minlength=len(self.classes)).tolist()


def load_npz(path: str | os.PathLike, split: str | None = None, classes: Sequence[str] | None = None) -> ImageSet:
    """An image set from an .npz file.

    Parameters
    ----------
    path : str or os.PathLike
        Holds ``images`` (N, H, W) and optionally ``labels`` (N,) and ``classes`` (names); or, as
        MedMNIST files do, ``<split>_images`` and ``<split>_labels``.
    split : str, optional
        Which ``<split>_images`` to take (``train``, ``val``); needed when there is no ``images``.
    classes : sequence of str, optional
        Class names (when the file has none).
    """
    path = Path(path)
    with np.load(path, allow_pickle=False) as data:
        prefix = f"{split}_" if split else ""
        key = f"{prefix}images"
        if key not in data.files:
            stacks = [k[: -len("_images")] for k in data.files if k.endswith("_images")]
            hint = f"; choose a split: {', '.join(stacks)}" if stacks else ""
            raise ValueError(f"{path}: no '{key}' array (arrays: {', '.join(data.files)}){hint}")
        labels = data[f"{prefix}labels"] if f"{prefix}labels" in data.files else None
        names = [str(n) for n in data["classes"]] if "classes" in data.files else classes
        return ImageSet(data[key], labels, names, source=f"{path.name}:{key}")


def load_folder(folder: str | os.PathLike, size: Sequence[int]) -> ImageSet:
    """An image set from a folder of image files (PNG, JPEG, NIfTI ... one 2D image each), resized to ``size``.

    Images directly in ``folder`` make an unconditional set; sub-folders holding images make one
    class each, named after the sub-folder (``folder/normal/*.png``, ``folder/pneumonia/*.png``).
    Colour pictures become grey (the mean of the channels).

    Raises
    ------
    ValueError
        No image files, or a file that is not a 2D image (naming it).
    """
    from ...io import read
    from ...io.formats import image_files

    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{folder}: not a folder")
    classes = sorted(p.name for p in folder.iterdir() if p.is_dir() and image_files(p))
    groups = [(i, image_files(folder / name)) for i, name in enumerate(classes)] or [(0, image_files(folder))]
    images, labels = [], []
    for label, files in groups:
        for path in files:
            volume = read(path)
            image = np.asarray(volume.array)
            if volume.rgb:
                image = image[..., :3].mean(-1, dtype=np.float32)
            image = np.squeeze(image)
            if image.ndim != 2:
                raise ValueError(f"{path}: shape {image.shape}, not a 2D image; a generator trains on 2D images")
            images.append(resized(image[None], size)[0].astype(np.float32, copy=False))
            labels.append(label)
    if not images:
        raise ValueError(f"{folder}: no image files in it (or in its sub-folders)")
    stack = np.stack(images)
    if stack.min() >= 0 and stack.max() <= 255 and np.array_equal(stack, np.rint(stack)):
        stack = stack.astype(np.uint8)  # 8-bit pictures stay 8-bit: generated images come back as 0-255
    return ImageSet(stack, np.asarray(labels) if classes else None, classes or None, source=str(folder))


def intensity_range(images: np.ndarray) -> dict[str, Any]:
    """How the images' values map to ``[-1, 1]``: ``{"low", "high", "dtype"}`` (8-bit: 0-255 exactly)."""
    if images.dtype == np.uint8:
        return {"low": 0.0, "high": 255.0, "dtype": "uint8"}
    sample = images.reshape(-1)
    if sample.size > 4_000_000:
        sample = sample[:: sample.size // 4_000_000]
    low, high = (float(v) for v in np.percentile(sample, [0.5, 99.5]))
    if high <= low:
        high = low + 1.0
    return {"low": low, "high": high, "dtype": "float32"}


def to_unit_range(images: np.ndarray, intensity: dict[str, Any]) -> np.ndarray:
    """Images (N, H, W) -> float32 (N, 1, H, W) in [-1, 1] (values beyond the range are clipped)."""
    low, high = float(intensity["low"]), float(intensity["high"])
    out = (np.asarray(images, np.float32) - np.float32(low)) * np.float32(2.0 / (high - low)) - np.float32(1.0)
    return np.clip(out, -1.0, 1.0)[:, None]


def from_unit_range(images: np.ndarray, intensity: dict[str, Any]) -> np.ndarray:
    """Network output (N, 1, H, W) or (N, H, W) in [-1, 1] -> images (N, H, W) in the training images' units."""
    images = np.asarray(images, np.float32)
    if images.ndim == 4:
        images = images[:, 0]
    low, high = float(intensity["low"]), float(intensity["high"])
    out = (np.clip(images, -1.0, 1.0) + np.float32(1.0)) * np.float32((high - low) / 2.0) + np.float32(low)
    if intensity.get("dtype") == "uint8":
        return np.clip(np.rint(out), 0, 255).astype(np.uint8)
    return out.astype(np.float32)


def patches_from_volume(image: np.ndarray, spacing: Sequence[float], *, patch_mm: float, image_size: Sequence[int],
                        mask: np.ndarray | None = None, n: int = 1000, seed: int = 0) -> np.ndarray:
    """Square patches of ``patch_mm`` mm from the slices of an image, resized to ``image_size`` pixels.

    Parameters
    ----------
    image : array (y, x), (z, y, x) or (N, y, x)
        A 2D image or a volume; patches come from its (axial) slices.
    spacing : sequence of float
        Pixel size in mm, one per axis (in-plane = the last two).
    patch_mm : float
        Side of a patch in mm (clipped to the slice).
    image_size : (h, w)
        Size of the training images the patches are resized to (area averaging / bilinear).
    mask : array like ``image``, optional
        Patches are centred on nonzero voxels of the mask (anywhere in the image without one).
    n : int
        Number of patches.
    seed : int
        For the choice of centres.

    Returns
    -------
    numpy.ndarray
        float32 ``(n, h, w)`` in the image's units.

    Raises
    ------
    ValueError
        An empty mask, a mask of another shape, or a patch smaller than 2 pixels.
    """
    from scipy import ndimage

    image = np.asarray(image)
    volume = image[None] if image.ndim == 2 else image
    if volume.ndim != 3:
        raise ValueError(f"patches come from 2D images or volumes, got shape {image.shape}")
    dy, dx = (float(s) for s in list(spacing)[-2:])
    ph = min(volume.shape[1], max(2, int(round(patch_mm / dy))))
    pw = min(volume.shape[2], max(2, int(round(patch_mm / dx))))
    if mask is not None:
        mask = np.asarray(mask)
        mask = mask[None] if mask.ndim == 2 else mask
        if mask.shape != volume.shape:
            raise ValueError(f"the mask has shape {mask.shape}, the image {volume.shape}; draw it on the image's grid")
        centres = np.argwhere(mask != 0)
        if not len(centres):
            raise ValueError("the mask is empty: paint where patches should come from, or train on the whole image")
    else:
        centres = None
    rng = np.random.default_rng(seed)
    out = np.empty((n, *(int(v) for v in image_size)), np.float32)
    for i in range(n):
        if centres is not None:
            z, y, x = centres[rng.integers(len(centres))]
        else:
            z, y, x = rng.integers(volume.shape[0]), rng.integers(volume.shape[1]), rng.integers(volume.shape[2])
        y0 = int(np.clip(y - ph // 2, 0, volume.shape[1] - ph))
        x0 = int(np.clip(x - pw // 2, 0, volume.shape[2] - pw))
        patch = np.asarray(volume[z, y0:y0 + ph, x0:x0 + pw], np.float32)
        zoom = (out.shape[1] / ph, out.shape[2] / pw)
        resized = ndimage.zoom(patch, zoom, order=1, grid_mode=True, mode="nearest")
        out[i] = resized[: out.shape[1], : out.shape[2]]
    return out


def resized(images: np.ndarray, size: Sequence[int]) -> np.ndarray:
    """A stack (N, H, W) brought to ``size`` (h, w) by linear interpolation; 8-bit stays 8-bit, the rest float32."""
    from scipy import ndimage

    images = np.asarray(images)
    size = tuple(int(v) for v in size)
    if images.shape[1:] == size:
        return images
    zoom = (1.0, size[0] / images.shape[1], size[1] / images.shape[2])
    out = ndimage.zoom(images.astype(np.float32, copy=False), zoom, order=1, grid_mode=True, mode="nearest")
    out = out[:, : size[0], : size[1]]
    return np.clip(np.rint(out), 0, 255).astype(np.uint8) if images.dtype == np.uint8 else out


def tile(images: np.ndarray, columns: int = 4) -> np.ndarray:
    """Images (N, H, W) laid out in a grid ``columns`` wide (for previews), one pixel apart."""
    images = np.asarray(images)
    n, h, w = images.shape
    rows = -(-n // columns)
    out = np.zeros((rows * (h + 1) - 1, columns * (w + 1) - 1), images.dtype)
    for i, image in enumerate(images):
        r, c = divmod(i, columns)
        out[r * (h + 1): r * (h + 1) + h, c * (w + 1): c * (w + 1) + w] = image
    return out
