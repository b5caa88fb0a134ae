"""Intensity clustering (k-means, Gaussian mixture) into labels ordered by brightness.

Features per voxel: the intensity, optionally a gaussian-smoothed intensity (``sigma``
mm) and optionally the voxel position in mm (scaled by ``position_weight``). Each
feature column is standardised (zero mean, unit variance over the sample) and the
position columns are then multiplied by ``position_weight``. The model is fitted on a
random sample of at most ``sample_size`` voxels (fixed ``seed``, so results are
reproducible) and every voxel is then predicted slab by slab, so memory stays at a few
slabs of float32 features. Labels are ``1..n_classes`` by increasing mean intensity of
the class (label 1 = darkest); NaN voxels and voxels outside ``mask`` are 0.
"""

from __future__ import annotations

import time
from typing import Sequence

import numpy as np
from scipy import ndimage

from ..progress import CancelCheck, ProgressCallback, check_cancel, report
from ._validate import check_image, check_mask, check_spacing

__all__ = ["kmeans", "gaussian_mixture", "cluster_intensity"]

_PREDICT_VOXELS = 1 << 20
_KMEANS_INITS = 4
#: progress at the end of the fit (then prediction in chunks of _PREDICT_VOXELS)
_KMEANS_SHARE = 0.1 * _KMEANS_INITS
_MIXTURE_SHARE = 0.2
#: EM iterations per warm-started call: as many as fit in about _MIXTURE_CALL_SECONDS
#: (each call ends with an extra E step, so not one a call where iterations are quick)
_MIXTURE_CALL_SECONDS = 0.3
_MIXTURE_MAX_STEPS = 10


def _same_clustering(labels: np.ndarray, best: np.ndarray, n_clusters: int) -> bool:
    """Whether ``labels`` is ``best`` with the classes renamed (scikit-learn's rule)."""
    mapping = np.full(n_clusters, -1, np.int64)
    first = np.unique(labels, return_index=True)
    mapping[first[0]] = best[first[1]]
    return bool(np.array_equal(mapping[labels], best))


def _fit_kmeans(sample: np.ndarray, n_classes: int, seed: int, progress, cancel):
    """``KMeans(n_init=4, random_state=seed).fit(sample)``, one initialisation at a time.

    The four runs draw their k-means++ seeds one after the other from one RandomState,
    as scikit-learn's own loop does, and the best run is kept by the same rule (lower
    inertia and not the same clustering), so the centres are the same; progress after
    each run (0.1), Cancel between runs.
    """
    from sklearn.cluster import KMeans

    random_state = np.random.RandomState(seed)
    best = None
    for i in range(_KMEANS_INITS):
        check_cancel(cancel)
        model = KMeans(n_clusters=n_classes, n_init=1, random_state=random_state).fit(sample)
        if best is None or (
            model.inertia_ < best.inertia_ and not _same_clustering(model.labels_, best.labels_, n_classes)
        ):
            best = model
        report(progress, _KMEANS_SHARE * (i + 1) / _KMEANS_INITS)
    return best


def _fit_mixture(sample: np.ndarray, n_classes: int, seed: int, progress, cancel):
    """``GaussianMixture(covariance_type="full", random_state=seed).fit(sample)``, one EM step a call.

    A warm-started model initialises and runs one EM iteration on the first call, then
    continues from its parameters and lower bound, one iteration on the second call and
    then as many as take about ``_MIXTURE_CALL_SECONDS`` (timed on the previous call),
    so the iterations and the convergence test are those of the single call (at most 100
    iterations); progress 0.1 after the first call, then halfway closer to 0.2 after
    each; Cancel between calls.
    """
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.mixture import GaussianMixture

    max_iter = GaussianMixture().max_iter
    model = GaussianMixture(
        n_components=n_classes, covariance_type="full", random_state=seed, warm_start=True, max_iter=1
    )
    done, call, steps = 0, 0, 1
    while done < max_iter:
        check_cancel(cancel)
        model.max_iter = min(steps, max_iter - done)
        started = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # each part "did not converge"
            model.fit(sample)
        seconds = time.perf_counter() - started
        done += model.max_iter
        call += 1
        if call > 1:  # the first call also initialised: time the iterations from the second on
            steps = int(min(_MIXTURE_MAX_STEPS, max(1, _MIXTURE_CALL_SECONDS * model.max_iter / max(seconds, 1e-6))))
        report(progress, _MIXTURE_SHARE * (1.0 - 0.5**call))
        if model.converged_:
            break
    else:
        warnings.warn("the Gaussian mixture did not converge", ConvergenceWarning, stacklevel=3)
    return model


def _features(image, smooth, coords_mm, flat_index, position_weight, center, scale):
    columns = [image.ravel()[flat_index]]
    if smooth is not None:
        columns.append(smooth.ravel()[flat_index])
    if coords_mm is not None:
        for axis, unit in enumerate(coords_mm):
            columns.append(np.unravel_index(flat_index, image.shape)[axis].astype(np.float32) * np.float32(unit))
    features = np.stack(columns, axis=1).astype(np.float32, copy=False)
    return features if center is None else _standardise(features, center, scale, coords_mm, position_weight)


def _standardise(features, center, scale, coords_mm, position_weight):
    """Zero mean, unit variance per column; the position columns then times ``position_weight``."""
    features = (features - center) / scale
    if coords_mm is not None:
        features[:, -len(coords_mm) :] *= np.float32(position_weight)
    return features


def cluster_intensity(
    array: np.ndarray,
    *,
    method: str = "kmeans",
    n_classes: int = 3,
    sigma: float = 0.0,
    position_weight: float = 0.0,
    mask: np.ndarray | None = None,
    sample_size: int = 200_000,
    seed: int = 0,
    spacing: Sequence[float] | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelCheck | None = None,
) -> np.ndarray:
    """Cluster voxels by intensity (and optionally smoothed intensity and position).

    Parameters
    ----------
    array : numpy.ndarray
        2D or 3D grey-level image; NaNs get label 0.
    method : str
        ``"kmeans"`` (scikit-learn KMeans) or ``"gmm"`` (GaussianMixture, full covariance).
    n_classes : int
        Number of classes (2..20).
    sigma : float
        Add a gaussian-smoothed intensity feature with this sigma in mm (0: no).
    position_weight : float
        Add the standardised position (mm) times this weight (0: no); about 0.5 favours
        compact classes.
    mask : numpy.ndarray, optional
        Cluster only the voxels inside this mask.
    sample_size : int
        Voxels used to fit the model.
    seed : int
        Random seed for sampling and the model.
    spacing : sequence of float, optional
        Voxel spacing in mm, numpy order (for ``sigma`` and positions).
    progress, cancel : callable, optional
        Progress callback and cancel check (checked between prediction chunks).

    Returns
    -------
    numpy.ndarray
        uint8 labels ``1..n_classes`` by increasing class mean intensity; 0 outside.
    """
    if method not in ("kmeans", "gmm"):
        raise ValueError(f"method must be 'kmeans' or 'gmm', got {method!r}")
    if not 2 <= int(n_classes) <= 20:
        raise ValueError(f"n_classes must be between 2 and 20, got {n_classes}")
    if sigma < 0 or position_weight < 0:
        raise ValueError("sigma and position_weight must be >= 0")
    array = check_image(array, allow_nan=True)
    spacing = check_spacing(spacing, array.ndim)
    mask = check_mask(mask, array.shape)
    image = array.astype(np.float32, copy=False)
    valid = np.isfinite(image) if np.issubdtype(image.dtype, np.floating) else None
    if mask is not None:
        valid = mask if valid is None else valid & mask
    has_nan = np.issubdtype(array.dtype, np.floating) and not np.isfinite(image).all()
    if valid is not None and valid.all():
        valid = None  # no index list needed
    smooth = None
    if sigma > 0:
        filled = np.where(np.isfinite(image), image, np.float32(np.nanmean(image))) if has_nan else image
        smooth = ndimage.gaussian_filter(filled, [sigma / s for s in spacing], mode="nearest")
    coords = spacing if position_weight > 0 else None
    candidates = np.flatnonzero(valid) if valid is not None else None
    n_valid = candidates.size if candidates is not None else image.size
    if n_valid < n_classes:
        raise ValueError(f"only {n_valid} valid voxels for {n_classes} classes")
    rng = np.random.default_rng(seed)
    take = min(int(sample_size), n_valid)
    pick = rng.choice(n_valid, take, replace=False)
    sample_index = candidates[pick] if candidates is not None else pick
    sample = _features(image, smooth, coords, sample_index, position_weight, None, None)
    center = sample.mean(axis=0)
    scale = sample.std(axis=0)
    scale[scale == 0] = 1
    sample = _standardise(sample, center, scale, coords, position_weight)
    check_cancel(cancel)
    if method == "kmeans":
        model = _fit_kmeans(sample, int(n_classes), seed, progress, cancel)
        fitted = _KMEANS_SHARE
    else:
        model = _fit_mixture(sample, int(n_classes), seed, progress, cancel)
        fitted = _MIXTURE_SHARE
    report(progress, fitted)
    # order classes by their mean intensity in the sample (column 0 is the raw intensity)
    sample_labels = model.predict(sample)
    means = [
        sample[sample_labels == k, 0].mean() if np.any(sample_labels == k) else np.inf for k in range(n_classes)
    ]
    lookup = np.empty(n_classes, np.uint8)
    lookup[np.argsort(means, kind="stable")] = np.arange(1, n_classes + 1)
    out = np.zeros(array.shape, np.uint8)
    flat_out = out.reshape(-1)
    all_index = candidates if candidates is not None else None
    total = n_valid
    chunk = max(1, min(_PREDICT_VOXELS, -(-total // 10)))  # at least 10 chunks: steps of <= 10 %
    for start in range(0, total, chunk):
        check_cancel(cancel)
        stop = min(total, start + chunk)
        index = all_index[start:stop] if all_index is not None else np.arange(start, stop)
        features = _features(image, smooth, coords, index, position_weight, center, scale)
        flat_out[index] = lookup[model.predict(features)]
        report(progress, fitted + (1.0 - fitted) * stop / total)
    return out


def kmeans(
    array: np.ndarray,
    *,
    n_classes: int = 3,
    sigma: float = 0.0,
    position_weight: float = 0.0,
    mask: np.ndarray | None = None,
    spacing: Sequence[float] | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelCheck | None = None,
) -> np.ndarray:
    """k-means clustering of intensities into labels 1..n (1 = darkest class).

    See :func:`cluster_intensity` for the features, sampling and ordering.

    Parameters
    ----------
    array : numpy.ndarray
        2D or 3D image.
    n_classes : int
        Number of classes.
    sigma : float
        Smoothed-intensity feature, sigma in mm (0: off).
    position_weight : float
        Weight of the position features (0: off).
    mask : numpy.ndarray, optional
        Cluster only inside this mask.
    spacing : sequence of float, optional
        Voxel spacing in mm, numpy order.
    progress, cancel : callable, optional
        Progress callback and cancel check.

    Returns
    -------
    numpy.ndarray
        uint8 labels.
    """
    return cluster_intensity(
        array, method="kmeans", n_classes=n_classes, sigma=sigma, position_weight=position_weight,
        mask=mask, spacing=spacing, progress=progress, cancel=cancel,
    )


def gaussian_mixture(
    array: np.ndarray,
    *,
    n_classes: int = 3,
    sigma: float = 0.0,
    position_weight: float = 0.0,
    mask: np.ndarray | None = None,
    spacing: Sequence[float] | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelCheck | None = None,
) -> np.ndarray:
    """Gaussian-mixture clustering of intensities into labels 1..n (1 = darkest class).

    See :func:`cluster_intensity` for the features, sampling and ordering.

    Parameters
    ----------
    array : numpy.ndarray
        2D or 3D image.
    n_classes : int
        Number of mixture components.
    sigma : float
        Smoothed-intensity feature, sigma in mm (0: off).
    position_weight : float
        Weight of the position features (0: off).
    mask : numpy.ndarray, optional
        Cluster only inside this mask.
    spacing : sequence of float, optional
        Voxel spacing in mm, numpy order.
    progress, cancel : callable, optional
        Progress callback and cancel check.

    Returns
    -------
    numpy.ndarray
        uint8 labels.
    """
    return cluster_intensity(
        array, method="gmm", n_classes=n_classes, sigma=sigma, position_weight=position_weight,
        mask=mask, spacing=spacing, progress=progress, cancel=cancel,
    )
