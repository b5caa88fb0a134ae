"""Image and region descriptors (HOG, LBP and intensity histograms) and keypoints.

Descriptors turn an image, or each labelled region of it, into a fixed-length float32
vector for classification (:mod:`napari_medimg.analysis.classify`). Sizes are in mm
with ``spacing`` (numpy order); all of these are 2D descriptors (HOG on one image or
region patch, keypoints per slice of a volume, LBP per slice).

Keypoints (:func:`detect_keypoints`) come as a :class:`Keypoints` table with voxel
indices, world coordinates in mm (``origin + direction @ (spacing * index)``, the
:class:`~napari_medimg.volume.Volume` convention), scale and orientation: give
``Keypoints.world`` as the data of a napari Points layer (no scale / translate on the
layer; it then lines up with an image layer that has ``scale=spacing`` and
``translate=origin``) and ``Keypoints.table()`` as its ``features``.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Sequence

import numpy as np
from scipy import ndimage

from .._killable import call_killable
from ..progress import CancelCheck, ProgressCallback, check_cancel, report
from ..volume import Volume
from ._util import check_image, check_positive, spatial_spacing
from .texture import _lbp_radius, lbp_codes

__all__ = [
    "hog_descriptor",
    "region_hog",
    "lbp_histogram",
    "region_lbp_histograms",
    "intensity_histogram",
    "image_descriptor_matrix",
    "DEFAULT_IMAGE_DESCRIPTORS",
    "Keypoints",
    "detect_keypoints",
]


# ----------------------------------------------------------------------------- HOG


def _cells_in_pixels(cell_size: float, spacing: Sequence[float]) -> tuple[int, int]:
    cell_size = check_positive(cell_size, "cell_size (mm)")
    return tuple(max(1, int(round(cell_size / s))) for s in spacing[-2:])  # type: ignore[return-value]


def _check_2d(image: np.ndarray, what: str) -> None:
    if image.ndim != 2:
        raise ValueError(
            f"{what} needs a 2D image (y, x), got shape {image.shape}; for a volume, pass one slice "
            "(e.g. volume[z]) and its in-plane spacing"
        )


def hog_descriptor(
    image: np.ndarray,
    *,
    cell_size: float = 8.0,
    block_size: int = 2,
    orientations: int = 9,
    block_norm: str = "L2-Hys",
    spacing: Sequence[float] | None = None,
) -> np.ndarray:
    """Histogram of oriented gradients of a 2D image (:func:`skimage.feature.hog`).

    Parameters
    ----------
    image : numpy.ndarray
        2D image (y, x).
    cell_size : float
        Side of a HOG cell in mm; ``round(cell_size / spacing)`` pixels per axis (at
        least 1).
    block_size : int
        Cells per block side for the block normalisation.
    orientations : int
        Orientation bins (unsigned gradients, 0..180 degrees).
    block_norm : {"L2-Hys", "L2", "L1", "L1-sqrt"}
        scikit-image's block normalisation.
    spacing : sequence of float, optional
        Pixel spacing (y, x) in mm; 1 mm when not given.

    Returns
    -------
    numpy.ndarray
        float32 vector of length ``blocks_y * blocks_x * block_size² * orientations``.

    Examples
    --------
    >>> hog_descriptor(np.eye(28, dtype=np.float32), cell_size=7.0).shape
    (324,)
    """
    from skimage.feature import hog

    image = check_image(image)
    _check_2d(image, "HOG")
    spacing = spatial_spacing(image, spacing, allowed=(2,))
    cells = _cells_in_pixels(cell_size, spacing)
    block_size = int(block_size)
    n_cells = [image.shape[a] // cells[a] for a in range(2)]
    if block_size < 1 or min(n_cells) < block_size:
        raise ValueError(
            f"a {image.shape} image holds {n_cells[0]} x {n_cells[1]} cells of {cell_size} mm "
            f"({cells[0]} x {cells[1]} pixels): fewer than one block of {block_size} x {block_size}; "
            "choose a smaller cell_size or block_size"
        )
    if block_norm not in ("L1", "L1-sqrt", "L2", "L2-Hys"):
        raise ValueError(f"block_norm must be L1, L1-sqrt, L2 or L2-Hys, got {block_norm!r}")
    return hog(
        image.astype(np.float32, copy=False),
        orientations=int(orientations),
        pixels_per_cell=cells,
        cells_per_block=(block_size, block_size),
        block_norm=block_norm,
        feature_vector=True,
    ).astype(np.float32)


def _region_boxes(labels: np.ndarray) -> tuple[np.ndarray, list[tuple[slice, ...]]]:
    labels = np.asarray(labels)
    if not np.issubdtype(labels.dtype, np.integer) and labels.dtype != bool:
        raise ValueError(f"labels must be an integer label image, got dtype {labels.dtype}")
    boxes = ndimage.find_objects(labels.astype(np.int64, copy=False) if labels.dtype == bool else labels)
    ids = np.array([i + 1 for i, b in enumerate(boxes) if b is not None], dtype=np.int64)
    return ids, [boxes[i - 1] for i in ids]


def region_hog(
    image: np.ndarray,
    labels: np.ndarray,
    *,
    patch_shape: tuple[int, int] = (32, 32),
    cells: int = 4,
    block_size: int = 2,
    orientations: int = 9,
    margin: float = 0.0,
    masked: bool = False,
    spacing: Sequence[float] | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelCheck | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """HOG of every labelled region of a 2D image, scale-normalised.

    Each region's bounding box (grown by ``margin`` mm) is resampled to a fixed
    ``patch_shape`` so that regions of any size give vectors of the same length; the
    cells are then ``patch_shape / cells`` pixels of the patch (a fraction of the
    region, not a size in mm).

    Parameters
    ----------
    image : numpy.ndarray
        2D image (y, x).
    labels : numpy.ndarray
        Integer label image of the same shape; 0 is background.
    patch_shape : (int, int)
        Patch size in pixels after resampling.
    cells : int
        Cells per patch side.
    block_size, orientations : int
        As :func:`hog_descriptor`.
    margin : float
        Extra context around each bounding box in mm (clipped at the image border).
    masked : bool
        Set pixels outside the region to the region's minimum before resampling.
    spacing : sequence of float, optional
        Pixel spacing in mm (for ``margin``).
    progress, cancel : callable, optional
        Progress callback (per region) and cancel check.

    Returns
    -------
    ids : numpy.ndarray
        int64 label ids, ascending.
    features : numpy.ndarray
        float32 ``(len(ids), n_features)``.
    """
    from skimage.feature import hog
    from skimage.transform import resize

    image = check_image(image)
    _check_2d(image, "region HOG")
    spacing = spatial_spacing(image, spacing, allowed=(2,))
    labels = np.asarray(labels)
    if labels.shape != image.shape:
        raise ValueError(f"labels shape {labels.shape} differs from the image shape {image.shape}")
    patch_shape = tuple(int(p) for p in patch_shape)
    cells = int(cells)
    if cells < block_size or min(patch_shape) < cells:
        raise ValueError(f"need block_size <= cells <= patch size, got {block_size}, {cells}, {patch_shape}")
    pixels = (patch_shape[0] // cells, patch_shape[1] // cells)
    pad = [int(math.ceil(check_positive(margin, "margin (mm)", allow_zero=True) / s)) for s in spacing]
    ids, boxes = _region_boxes(labels)
    rows = []
    for n, (label, box) in enumerate(zip(ids, boxes)):
        check_cancel(cancel)
        box = tuple(slice(max(0, b.start - p), min(size, b.stop + p)) for b, p, size in zip(box, pad, image.shape))
        patch = image[box].astype(np.float32)
        if masked:
            inside = labels[box] == label
            patch[~inside] = patch[inside].min()
        patch = resize(patch, patch_shape, order=1, preserve_range=True, anti_aliasing=True)
        rows.append(
            hog(patch, orientations=int(orientations), pixels_per_cell=pixels,
                cells_per_block=(block_size, block_size), block_norm="L2-Hys", feature_vector=True)
        )
        report(progress, (n + 1) / len(ids))
    width = orientations * block_size**2 * (cells - block_size + 1) ** 2
    matrix = np.asarray(rows, np.float32).reshape(len(ids), -1 if rows else width)
    return ids, matrix


# ----------------------------------------------------------------------------- histograms


def lbp_histogram(
    image: np.ndarray,
    *,
    radius: float = 1.0,
    points: int = 8,
    mask: np.ndarray | None = None,
    spacing: Sequence[float] | None = None,
) -> np.ndarray:
    """Normalised histogram of uniform LBP codes (``points + 2`` bins) of an image.

    A volume is coded slice by slice (see :func:`napari_medimg.analysis.texture.lbp_map`).

    Parameters
    ----------
    image : numpy.ndarray
        2D image or 3D volume.
    radius : float
        Circle radius in mm.
    points : int
        Sampling points on the circle.
    mask : numpy.ndarray, optional
        Count only pixels inside the mask.
    spacing : sequence of float, optional
        Voxel spacing in mm, numpy order.

    Returns
    -------
    numpy.ndarray
        float32, sums to 1; bin ``c`` is the fraction of pixels with uniform code ``c``
        (``points + 1`` gathers the non-uniform patterns).
    """
    labels = None if mask is None else (np.asarray(mask) != 0).astype(np.uint8)
    if labels is None:
        labels = np.ones(np.shape(image), np.uint8)
    ids, matrix = region_lbp_histograms(image, labels, radius=radius, points=points, spacing=spacing)
    if len(ids) == 0:
        raise ValueError("mask is empty: no pixels to histogram")
    return matrix[0]


def region_lbp_histograms(
    image: np.ndarray,
    labels: np.ndarray,
    *,
    radius: float = 1.0,
    points: int = 8,
    spacing: Sequence[float] | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelCheck | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Normalised uniform-LBP histograms of every labelled region (2D or per slice).

    Parameters
    ----------
    image : numpy.ndarray
        2D image or 3D volume.
    labels : numpy.ndarray
        Integer labels of the same shape; 0 is background.
    radius : float
        Circle radius in mm.
    points : int
        Sampling points on the circle.
    spacing : sequence of float, optional
        Voxel spacing in mm, numpy order.
    progress, cancel : callable, optional
        Progress callback (per slice) and cancel check.

    Returns
    -------
    ids : numpy.ndarray
        int64 label ids present, ascending.
    histograms : numpy.ndarray
        float32 ``(len(ids), points + 2)``, rows sum to 1.
    """
    from .texture import lbp_map

    image = check_image(image)
    labels = np.asarray(labels)
    if labels.shape != image.shape:
        raise ValueError(f"labels shape {labels.shape} differs from the image shape {image.shape}")
    if not (np.issubdtype(labels.dtype, np.integer) or labels.dtype == bool) or (labels.size and labels.min() < 0):
        raise ValueError("labels must be non-negative integers (0 = background)")
    codes = lbp_map(image, radius=radius, points=points, method="uniform", spacing=spacing, progress=progress, cancel=cancel)
    bins = int(points) + 2
    flat = labels.ravel().astype(np.int64)
    counts = np.bincount(flat * bins + codes.ravel(), minlength=(int(flat.max()) + 1) * bins).reshape(-1, bins)
    counts = counts[1:]
    ids = np.flatnonzero(counts.sum(axis=1)) + 1
    counts = counts[ids - 1].astype(np.float64)
    return ids.astype(np.int64), (counts / counts.sum(axis=1, keepdims=True)).astype(np.float32)


def intensity_histogram(
    image: np.ndarray,
    *,
    bins: int = 16,
    value_range: tuple[float, float] | None = None,
    mask: np.ndarray | None = None,
) -> np.ndarray:
    """Normalised intensity histogram (fractions of pixels per bin).

    Parameters
    ----------
    image : numpy.ndarray
        Any shape.
    bins : int
        Number of equal-width bins.
    value_range : (float, float), optional
        Histogram range; values outside are counted in the end bins. By default the
        image's minimum and maximum (fix it to compare images).
    mask : numpy.ndarray, optional
        Only pixels inside the mask.

    Returns
    -------
    numpy.ndarray
        float32 of length ``bins``, sums to 1.
    """
    image = check_image(image)
    values = image if mask is None else image[np.asarray(mask) != 0]
    if values.size == 0:
        raise ValueError("mask is empty: no pixels to histogram")
    low, high = (float(values.min()), float(values.max())) if value_range is None else map(float, value_range)
    if high <= low:
        high = low + 1.0
    counts = np.bincount(_bin_index(values.ravel(), low, high, int(bins)), minlength=int(bins))
    return (counts / values.size).astype(np.float32)


def _bin_index(values: np.ndarray, low: float, high: float, bins: int) -> np.ndarray:
    index = np.floor((values.astype(np.float64) - low) * (bins / (high - low)))  # small per-image arrays
    return np.clip(index, 0, bins - 1).astype(np.int64)


# ----------------------------------------------------------------------------- image descriptor matrix

DEFAULT_IMAGE_DESCRIPTORS: dict[str, Any] = {
    "hog_cell_size": 7.0,
    "hog_block_size": 2,
    "hog_orientations": 9,
    "lbp_radius": 1.0,
    "lbp_points": 8,
    "lbp_grid": 2,
    "intensity_bins": 16,
    "thumbnail_size": 7,
    "value_range": None,
}


def image_descriptor_matrix(
    images: np.ndarray | Sequence[np.ndarray],
    *,
    hog_cell_size: float = 7.0,
    hog_block_size: int = 2,
    hog_orientations: int = 9,
    lbp_radius: float = 1.0,
    lbp_points: int = 8,
    lbp_grid: int = 2,
    intensity_bins: int = 16,
    thumbnail_size: int = 7,
    value_range: tuple[float, float] | None = None,
    spacing: Sequence[float] | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelCheck | None = None,
) -> tuple[np.ndarray, list[str]]:
    """One descriptor row per 2D image: HOG + LBP histograms + intensity histogram + thumbnail.

    The blocks (any can be switched off with 0):

    * HOG (:func:`hog_descriptor`) with ``hog_cell_size`` mm cells;
    * uniform-LBP histograms (``lbp_points + 2`` bins) in each tile of a
      ``lbp_grid x lbp_grid`` grid (coarse spatial layout);
    * the intensity histogram with ``intensity_bins`` bins over ``value_range``;
    * a ``thumbnail_size x thumbnail_size`` block-mean thumbnail scaled by
      ``value_range`` to [0, 1] (global appearance).

    Parameters
    ----------
    images : array (n, y, x) or sequence of 2D arrays of one shape
        The images.
    hog_cell_size : float
        HOG cell side in mm (0 = no HOG).
    hog_block_size, hog_orientations : int
        HOG block side in cells, orientation bins.
    lbp_radius : float
        LBP radius in mm.
    lbp_points : int
        LBP sampling points (0 = no LBP).
    lbp_grid : int
        Tiles per side for the LBP histograms.
    intensity_bins : int
        Intensity histogram bins (0 = none).
    thumbnail_size : int
        Thumbnail side in pixels (0 = none).
    value_range : (float, float), optional
        Intensity range for the histogram and thumbnail; by default the minimum and
        maximum over all ``images`` (store it to describe new images the same way).
    spacing : sequence of float, optional
        Pixel spacing (y, x) in mm, the same for all images; 1 mm when not given.
    progress, cancel : callable, optional
        Progress callback (per image) and cancel check.

    Returns
    -------
    features : numpy.ndarray
        float32 ``(n, n_features)``.
    names : list of str
        Column names (``hog_0 ...``, ``lbp_t<tile>_<code>``, ``hist_<bin>``, ``thumb_<y>_<x>``).
    """
    stack = np.asarray(images)
    if stack.ndim != 3:
        raise ValueError(f"images must be a stack (n, y, x) of 2D images of one shape, got shape {stack.shape}")
    stack = check_image(stack, "images")
    spacing = (1.0, 1.0) if spacing is None else spatial_spacing(stack[0], spacing, allowed=(2,))
    if value_range is None:
        value_range = (float(stack.min()), float(stack.max()))
    low, high = (float(v) for v in value_range)
    if high <= low:
        high = low + 1.0
    h, w = stack.shape[1:]
    grid = max(1, int(lbp_grid))
    tiles = [
        (slice(gy * h // grid, (gy + 1) * h // grid), slice(gx * w // grid, (gx + 1) * w // grid))
        for gy in range(grid)
        for gx in range(grid)
    ]
    r_lbp = _lbp_radius(lbp_radius, spacing) if lbp_points else 0.0
    thumbnail_size = int(thumbnail_size)
    rows = []
    for index, image in enumerate(stack):
        check_cancel(cancel)
        parts = []
        if hog_cell_size:
            parts.append(
                hog_descriptor(image, cell_size=hog_cell_size, block_size=hog_block_size,
                               orientations=hog_orientations, spacing=spacing)
            )
        if lbp_points:
            codes = lbp_codes(image, points=int(lbp_points), radius_pixels=r_lbp, method="uniform").astype(np.int64)
            for tile in tiles:
                part = codes[tile]
                parts.append(np.bincount(part.ravel(), minlength=int(lbp_points) + 2) / part.size)
        if intensity_bins:
            parts.append(np.bincount(_bin_index(image.ravel(), low, high, int(intensity_bins)),
                                     minlength=int(intensity_bins)) / image.size)
        if thumbnail_size:
            parts.append(_thumbnail(image, thumbnail_size, low, high).ravel())
        rows.append(np.concatenate(parts).astype(np.float32))
        report(progress, (index + 1) / len(stack))
    names: list[str] = []
    if hog_cell_size:
        n_hog = _hog_length(stack[0], hog_cell_size, hog_block_size, hog_orientations, spacing)
        names += [f"hog_{i}" for i in range(n_hog)]
    if lbp_points:
        names += [f"lbp_t{t}_{c}" for t in range(len(tiles)) for c in range(int(lbp_points) + 2)]
    if intensity_bins:
        names += [f"hist_{b}" for b in range(int(intensity_bins))]
    if thumbnail_size:
        names += [f"thumb_{y}_{x}" for y in range(thumbnail_size) for x in range(thumbnail_size)]
    matrix = np.stack(rows) if rows else np.zeros((0, len(names)), np.float32)
    if matrix.shape[1] != len(names):  # pragma: no cover - internal consistency
        raise RuntimeError("descriptor names do not match the columns")
    return matrix, names


def _hog_length(image, cell_size, block_size, orientations, spacing) -> int:
    cells = _cells_in_pixels(cell_size, spacing)
    n = [image.shape[a] // cells[a] - int(block_size) + 1 for a in range(2)]
    return n[0] * n[1] * int(block_size) ** 2 * int(orientations)


def _thumbnail(image: np.ndarray, size: int, low: float, high: float) -> np.ndarray:
    """Block means on a ``size x size`` grid (bins of equal pixel counts), scaled to [0, 1]."""
    h, w = image.shape
    ys = np.minimum((np.arange(h) * size) // h, size - 1)
    xs = np.minimum((np.arange(w) * size) // w, size - 1)
    sums = np.zeros((size, size))
    np.add.at(sums, (ys[:, None], xs[None, :]), image.astype(np.float64))
    counts = np.zeros((size, size))
    np.add.at(counts, (ys[:, None], xs[None, :]), 1.0)
    return ((sums / np.maximum(counts, 1) - low) / (high - low)).astype(np.float32)


# ----------------------------------------------------------------------------- keypoints


@dataclasses.dataclass
class Keypoints:
    """Keypoints of a 2D image or of each slice of a volume.

    Attributes
    ----------
    index : numpy.ndarray
        ``(n, ndim)`` float64 continuous voxel indices in numpy order: ``(row, col)``,
        or ``(slice, row, col)`` for a volume.
    world : numpy.ndarray
        ``(n, ndim)`` float64 world coordinates in mm (numpy order),
        ``origin + direction @ (spacing * index)``.
    scale : numpy.ndarray
        ``(n,)`` keypoint size in pixels: SIFT's gaussian sigma; ORB's patch radius
        (15.5 pixels, the half-width of its 31-pixel patch) times the pyramid scale.
    scale_mm : numpy.ndarray
        ``scale`` times the mean in-plane spacing.
    orientation : numpy.ndarray
        ``(n,)`` dominant gradient orientation in radians, scikit-image's convention.
    response : numpy.ndarray
        ``(n,)`` ORB's Harris response; NaN for SIFT (it has none).
    descriptors : numpy.ndarray
        ``(n, d)``: SIFT uint8 (128), ORB bool (256 binary tests).
    method : str
        ``"sift"`` or ``"orb"``.
    """

    index: np.ndarray
    world: np.ndarray
    scale: np.ndarray
    scale_mm: np.ndarray
    orientation: np.ndarray
    response: np.ndarray
    descriptors: np.ndarray
    method: str

    def __len__(self) -> int:
        return int(self.index.shape[0])

    def table(self) -> dict[str, np.ndarray]:
        """Columns for a napari Points layer's ``features`` (or a DataFrame).

        ``z``/``row``/``col`` (voxel index), ``z_mm``/``y_mm``/``x_mm`` (world),
        ``scale``, ``scale_mm``, ``orientation``, ``response``.
        """
        from ..point_table import position_columns

        return {**position_columns(self.index, self.world), "scale": self.scale, "scale_mm": self.scale_mm,
                "orientation": self.orientation, "response": self.response}

    def to_dataframe(self):
        """The :meth:`table` as a pandas DataFrame (needs pandas)."""
        import pandas as pd

        return pd.DataFrame(self.table())


def _detect_2d(image: np.ndarray, method: str, options: dict[str, Any]):
    from skimage.feature import ORB, SIFT

    image = image.astype(np.float32)
    low, high = float(image.min()), float(image.max())
    if high > low:  # both detectors' thresholds assume intensities in [0, 1]
        image = (image - low) / (high - low)
    if method == "sift":
        detector = SIFT(**options)
    else:
        options = {"n_keypoints": 500, **options}
        detector = ORB(**options)
    try:
        detector.detect_and_extract(image)
    except RuntimeError as exc:  # ORB / SIFT find nothing on flat or tiny images
        message = str(exc).lower()
        if any(word in message for word in ("keypoint", "descriptor", "no feature", "found no")):
            return None
        raise
    if method == "sift":
        # scikit-image reports positions on its upsampled grid divided by the upsampling
        # factor f; the pixel centre u of a grid upsampled by f is at (u + 0.5) / f - 0.5
        # in the input, so shift by 0.5 / f - 0.5 (-0.25 px for the default f = 2)
        positions = np.asarray(detector.positions, np.float64) + (0.5 / detector.upsampling - 0.5)
        scale = np.asarray(detector.sigmas, np.float64)
        response = np.full(len(positions), np.nan)
        descriptors = np.asarray(detector.descriptors)
    else:
        positions = np.asarray(detector.keypoints, np.float64)
        scale = 15.5 * np.asarray(detector.scales, np.float64)
        response = np.asarray(detector.responses, np.float64)
        descriptors = np.asarray(detector.descriptors)
    return positions, scale, np.asarray(detector.orientations, np.float64), response, descriptors


#: From this many pixels on (about 0.2 s of SIFT on 2 loaded cores) detection runs, with
#: ``cancel``, in a child process that Cancel terminates: one SIFT call on one image checks
#: nothing. Smaller images are detected here, where a child's start would cost more.
CHILD_FROM_PIXELS = 1 << 16


def _detect_planes(
    planes: np.ndarray,
    method: str,
    options: dict[str, Any],
    with_z: bool,
    progress: ProgressCallback | None = None,
) -> list[tuple[np.ndarray, ...]]:
    """:func:`_detect_2d` on each plane with progress per plane (what runs in the child).

    With ``with_z`` the positions get the plane index as their first coordinate.
    """
    parts = []
    for z, plane in enumerate(planes):
        found = _detect_2d(plane, method, options)
        if found is not None and len(found[0]):
            positions = found[0]
            if with_z:
                positions = np.column_stack([np.full(len(positions), float(z)), positions])
            parts.append((positions,) + found[1:])
        report(progress, (z + 1) / len(planes))
    return parts


def detect_keypoints(
    image: np.ndarray | Volume,
    *,
    method: str = "sift",
    spacing: Sequence[float] | None = None,
    origin: Sequence[float] | None = None,
    direction: np.ndarray | None = None,
    options: dict[str, Any] | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelCheck | None = None,
) -> Keypoints:
    """SIFT or ORB keypoints with voxel and world coordinates.

    The image (each slice of a volume) is scaled to [0, 1] by its own minimum and
    maximum, then :class:`skimage.feature.SIFT` or :class:`skimage.feature.ORB` detects
    and describes keypoints in pixel units. SIFT assumes square pixels: on anisotropic
    in-plane spacing resample first.

    Parameters
    ----------
    image : numpy.ndarray or Volume
        2D image, or 3D volume (keypoints per slice along the first axis). A Volume
        supplies spacing, origin and direction (the keyword arguments then must be None).
    method : {"sift", "orb"}
        Detector.
    spacing, origin : sequence of float, optional
        Geometry in mm, numpy order (default 1 mm and 0).
    direction : numpy.ndarray, optional
        ``(ndim, ndim)`` direction cosines (default identity).
    options : dict, optional
        Passed to the scikit-image detector (e.g. ``{"n_keypoints": 200}`` for ORB,
        ``{"c_dog": 0.02}`` for SIFT).
    progress, cancel : callable, optional
        Progress callback (per slice) and cancel check. A scikit-image detector checks
        nothing while it runs on one image, so with ``cancel`` an image (volume) of
        :data:`CHILD_FROM_PIXELS` pixels or more is detected in a child process that
        Cancel terminates (:func:`napari_medimg._killable.call_killable`; the same
        keypoints), which reports per slice.

    Returns
    -------
    Keypoints
        Empty (zero rows) when nothing was found.
    """
    if isinstance(image, Volume):
        if spacing is not None or origin is not None or direction is not None:
            raise ValueError("give the geometry either by a Volume or by spacing/origin/direction, not both")
        if image.rgb or image.leading_shape:
            raise ValueError("keypoints need a grey 2D image or 3D volume without time or colour axes")
        spacing, origin, direction, image = image.spacing, image.origin, image.direction, image.array
    image = check_image(image)
    if method not in ("sift", "orb"):
        raise ValueError(f"method must be 'sift' or 'orb', got {method!r}")
    spacing = spatial_spacing(image, spacing)
    if len(spacing) != image.ndim:
        raise ValueError(f"keypoints need a 2D image or a 3D volume with spacing for every axis, got {image.shape}")
    ndim = image.ndim
    origin = np.zeros(ndim) if origin is None else np.asarray(origin, np.float64)
    direction = np.eye(ndim) if direction is None else np.asarray(direction, np.float64).reshape(ndim, ndim)
    if origin.shape != (ndim,):
        raise ValueError(f"origin must have {ndim} values, got {origin.tolist()}")
    planes = image[np.newaxis] if ndim == 2 else image
    if method == "sift" and min(planes.shape[1:]) < 6:  # scikit-image's SIFT fails below that
        raise ValueError(
            f"SIFT needs slices of at least 6 x 6 pixels, got {planes.shape[1:]}: "
            "use a larger image, or ORB (method='orb')"
        )
    parts = call_killable(
        _detect_planes,
        (planes, method, dict(options or {}), ndim == 3),
        progress=progress,
        cancel=cancel,
        imports=(__name__, "skimage.feature.sift", "skimage.feature.orb"),
        in_child=planes.size >= CHILD_FROM_PIXELS,
    )
    width = 128 if method == "sift" else 256
    if parts:
        index, scale, orientation, response, descriptors = (np.concatenate(p) for p in zip(*parts))
    else:
        index = np.zeros((0, ndim))
        scale = orientation = response = np.zeros(0)
        descriptors = np.zeros((0, width), np.uint8 if method == "sift" else bool)
    world = (index * np.asarray(spacing)) @ direction.T + origin
    pixel_mm = float(np.mean(spacing[-2:]))
    return Keypoints(index, world, scale, scale * pixel_mm, orientation, response, descriptors, method)
