"""Multi-scale pixel features in millimetres for scribble-trained pixel classification.

For every voxel a vector of filter responses at a few physical scales (the ilastik
idea): the intensity itself, and per scale ``sigma`` (mm)

* ``gaussian``: gaussian smoothing;
* ``gradient``: gradient magnitude of the smoothed image (intensity per mm);
* ``log``: laplacian of gaussian (trace of the hessian, intensity per mm²);
* ``hessian``: hessian eigenvalues, sorted descending (3 in 3D, 2 in 2D);
* ``structure_tensor``: eigenvalues of the structure tensor, sorted descending: the
  outer product of the gradient at ``sigma`` averaged by a gaussian of ``sigma / 2``
  (ilastik's inner/outer scales);
* ``std`` (optional, texture): local standard deviation,
  ``sqrt(G*(I²) - (G*I)²)`` with the gaussian ``G`` of ``sigma``.

Sigmas in mm become voxels per axis (``sigma / spacing``), so anisotropic data get
anisotropic kernels and a classifier trained on one image applies to another image
with a different spacing. Derivatives are taken per mm (the voxel derivative divided
by the spacing), so gradients are comparable across spacings too.

**Thin axes.** Along an axis where ``sigma / spacing < 0.5`` voxel the sampled gaussian
is (numerically) a delta and its derivatives are meaningless, so along that axis the
scale does **no smoothing and has no derivative** (the derivative is 0): on 6.5 mm
MR slices, 1 and 2 mm are in-plane (2D) features and 4 mm (0.62 voxel) is 3D. The
hessian then has zeros in that row and column (one eigenvalue is 0), the gradient
and the structure tensor are in-plane.

**Numerics.** Kernels are scipy's sampled gaussian (and derivatives) truncated at
``4 sigma`` (radius ``int(4 sigma + 0.5)`` voxels) with edge replication (scipy
``mode="nearest"``); the results equal ``scipy.ndimage.gaussian_filter(...,
order=...)`` to float32 rounding (see the tests). Everything is float32.

**Memory.** The volume is processed in slabs along z: each slab reads a halo of
``sum of kernel radii`` slices (at most about ``6 sigma_max`` voxels for the
structure tensor, ``4 sigma_max`` otherwise) and computes the features of its own
slices only. The z filtering uses index clipping (edge replication of the *whole*
volume) and the in-plane filtering is per slice, so slab results are bitwise equal
to the whole-volume computation. :func:`iter_feature_slabs` yields slabs, so that a
prediction never holds the features of the whole volume;
``feature_stack(..., z_range=(z0, z1))`` gives the features of a few slices (a
live-preview slice, the slices a user scribbled on).
"""

from __future__ import annotations

import dataclasses
import math
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Iterator, Sequence

import numpy as np

from ..progress import CancelCheck, ProgressCallback, check_cancel, default_workers, report

__all__ = [
    "FEATURES",
    "DEFAULT_FEATURES",
    "FeatureSettings",
    "feature_names",
    "feature_stack",
    "iter_feature_slabs",
    "symmetric_eigenvalues",
]

FEATURES = ("intensity", "gaussian", "gradient", "log", "hessian", "structure_tensor", "std")
DEFAULT_FEATURES = ("intensity", "gaussian", "gradient", "log", "hessian", "structure_tensor")
TRUNCATE = 4.0
#: below this many voxels a sigma does not smooth (nor differentiate) along an axis
MIN_SIGMA_VOXELS = 0.5
#: default feature memory per slab (bytes) when iterating over a volume
SLAB_BYTES = 384 * 2**20


# ------------------------------------------------------------------------ settings


@dataclasses.dataclass(frozen=True)
class FeatureSettings:
    """Which features at which scales (mm).

    Attributes
    ----------
    scales_mm : tuple of float
        Gaussian standard deviations in mm (ascending, > 0).
    features : tuple of str
        Subset of :data:`FEATURES`, computed in the order of :data:`FEATURES`.
    """

    scales_mm: tuple[float, ...] = (1.0, 2.0, 4.0)
    features: tuple[str, ...] = DEFAULT_FEATURES

    def __post_init__(self) -> None:
        scales = tuple(float(s) for s in np.atleast_1d(self.scales_mm))
        if not scales or any(not math.isfinite(s) or s <= 0 for s in scales):
            raise ValueError(f"scales_mm must be one or more finite sigmas > 0 mm, got {self.scales_mm}")
        if len(set(scales)) != len(scales):
            raise ValueError(f"scales_mm must not repeat a sigma, got {scales}")
        features = (self.features,) if isinstance(self.features, str) else tuple(self.features)
        unknown = [f for f in features if f not in FEATURES]
        if unknown or not features:
            raise ValueError(f"unknown feature(s) {unknown}; choose from {', '.join(FEATURES)}")
        object.__setattr__(self, "scales_mm", tuple(sorted(scales)))
        object.__setattr__(self, "features", tuple(f for f in FEATURES if f in features))

    def names(self, ndim: int = 3) -> list[str]:
        """Feature names in output order for a ``ndim``-dimensional (2 or 3) image."""
        return feature_names(self, ndim)

    def z_halo(self, spacing: Sequence[float]) -> int:
        """Slices of context needed on each side of a slab along axis 0 (3D)."""
        return max(_z_radii(self, float(spacing[0]))) if len(spacing) == 3 else 0

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able description."""
        return {"scales_mm": list(self.scales_mm), "features": list(self.features)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "FeatureSettings":
        """Inverse of :meth:`to_dict` (validated)."""
        if not isinstance(data, dict) or set(data) != {"scales_mm", "features"}:
            raise ValueError(f"feature settings must hold exactly scales_mm and features, got {data!r}")
        scales, features = data["scales_mm"], data["features"]
        if not isinstance(scales, list) or not all(isinstance(s, (int, float)) and not isinstance(s, bool) for s in scales):
            raise ValueError(f"scales_mm must be a list of numbers, got {scales!r}")
        if not isinstance(features, list) or not all(isinstance(f, str) for f in features):
            raise ValueError(f"features must be a list of names, got {features!r}")
        return cls(tuple(float(s) for s in scales), tuple(features))


def feature_names(settings: FeatureSettings, ndim: int = 3) -> list[str]:
    """Names of the features :func:`feature_stack` returns, in order.

    Examples
    --------
    >>> feature_names(FeatureSettings((1.0,), ("intensity", "gradient", "hessian")), 2)
    ['intensity', 'gradient_1mm', 'hessian_1mm_e0', 'hessian_1mm_e1']
    """
    if ndim not in (2, 3):
        raise ValueError(f"pixel features are for 2D or 3D images, got {ndim} axes")
    names = ["intensity"] if "intensity" in settings.features else []
    for sigma in settings.scales_mm:
        tag = f"{sigma:g}mm"
        for feature in settings.features:
            if feature == "intensity":
                continue
            if feature in ("hessian", "structure_tensor"):
                names += [f"{feature}_{tag}_e{i}" for i in range(ndim)]
            else:
                names.append(f"{feature}_{tag}")
    return names


# ------------------------------------------------------------------------- kernels


def _radius(sigma_vox: float) -> int:
    return int(TRUNCATE * sigma_vox + 0.5) if sigma_vox >= MIN_SIGMA_VOXELS else 0


def _kernel(sigma_vox: float, order: int) -> np.ndarray:
    """Correlation weights of the sampled gaussian derivative (scipy's definition)."""
    r = _radius(sigma_vox)
    x = np.arange(-r, r + 1, dtype=np.float64)
    phi = np.exp(-0.5 * x * x / (sigma_vox * sigma_vox))
    phi /= phi.sum()
    if order == 0:
        return phi
    if order == 1:  # correlation with x / s² · phi is convolution with d/dx phi
        return x / sigma_vox**2 * phi
    return (x * x / sigma_vox**4 - 1.0 / sigma_vox**2) * phi


def _z_radii(settings: FeatureSettings, spacing_z: float) -> list[int]:
    out = [0]
    for sigma in settings.scales_mm:
        r = _radius(sigma / spacing_z)
        if "structure_tensor" in settings.features:
            r += _radius(0.5 * sigma / spacing_z)
        out.append(r)
    return out


# ----------------------------------------------------------------- filter passes


class _ZSource:
    """float32 slices ``[lo, hi)`` of a volume with ``n_total`` slices, indexed by global z."""

    def __init__(self, planes: np.ndarray, lo: int, n_total: int) -> None:
        self.planes, self.lo, self.n_total = planes, lo, n_total

    def plane(self, z: int) -> np.ndarray:
        return self.planes[min(max(z, 0), self.n_total - 1) - self.lo]


class _DictSource:
    """Component ``k`` of planes stored by global z, with the same edge clipping."""

    def __init__(self, planes: dict[int, np.ndarray], k: int, n_total: int) -> None:
        self.planes, self.k, self.n_total = planes, k, n_total

    def plane(self, z: int) -> np.ndarray:
        return self.planes[min(max(z, 0), self.n_total - 1)][self.k]


class _Kernel:
    """1D correlation weights (float32) of one gaussian derivative along one axis.

    ``scale`` (1 / spacing ** order) makes derivatives per mm. ``None`` weights mean an
    inactive axis: identity for order 0, zero for a derivative.
    """

    def __init__(self, sigma_vox: float, order: int, scale: float = 1.0) -> None:
        self.order = order
        if _radius(sigma_vox) == 0:
            self.weights = None
        else:
            self.weights = (_kernel(sigma_vox, order) * scale).astype(np.float32)

    @property
    def radius(self) -> int:
        return 0 if self.weights is None else len(self.weights) // 2


def _conv_z_plane(src: _ZSource, z: int, k: _Kernel) -> np.ndarray | None:
    """One output plane of the correlation along z (edge replication of the volume).

    Returns None for a derivative along an inactive axis (zero), the source plane
    itself (read-only) for smoothing along an inactive axis.
    """
    if k.weights is None:
        return None if k.order else src.plane(z)
    w, r = k.weights, k.radius
    acc = np.multiply(src.plane(z), w[r])
    tmp = np.empty_like(acc)
    for j in range(r):
        a, b = src.plane(z - r + j), src.plane(z + r - j)
        if k.order == 1:  # antisymmetric weights: w[j] = -w[2r-j]
            np.subtract(b, a, out=tmp)
            np.multiply(tmp, w[2 * r - j], out=tmp)
        else:
            np.add(a, b, out=tmp)
            np.multiply(tmp, w[j], out=tmp)
        np.add(acc, tmp, out=acc)
    return acc


def _conv_in_plane(plane: np.ndarray | None, k: _Kernel, axis: int) -> np.ndarray | None:
    """Correlate a 2D plane along ``axis`` (0: y, 1: x) with edge replication.

    Symmetric taps are paired (float32 numpy ops: they release the GIL, so planes run
    in parallel threads); equal to ``scipy.ndimage.correlate1d(..., mode="nearest")``
    to float32 rounding.
    """
    if plane is None:
        return None
    if k.weights is None:
        return None if k.order else plane
    w, r = k.weights, k.radius
    n = plane.shape[axis]
    pad = ((r, r), (0, 0)) if axis == 0 else ((0, 0), (r, r))
    padded = np.pad(plane, pad, mode="edge")

    def view(shift: int) -> np.ndarray:
        return padded[shift : shift + n] if axis == 0 else padded[:, shift : shift + n]

    acc = np.multiply(view(r), w[r]) if k.order != 1 else np.zeros(plane.shape, np.float32)
    tmp = np.empty(plane.shape, np.float32)
    for j in range(r):
        if k.order == 1:
            np.subtract(view(2 * r - j), view(j), out=tmp)
            np.multiply(tmp, w[2 * r - j], out=tmp)
        else:
            np.add(view(j), view(2 * r - j), out=tmp)
            np.multiply(tmp, w[j], out=tmp)
        np.add(acc, tmp, out=acc)
    return acc


def _yx(plane: np.ndarray | None, ky: _Kernel, kx: _Kernel) -> np.ndarray | None:
    return _conv_in_plane(_conv_in_plane(plane, ky, 0), kx, 1)


def symmetric_eigenvalues(components: Sequence[np.ndarray], ndim: int) -> list[np.ndarray]:
    """Eigenvalues, sorted descending, of symmetric 2x2 or 3x3 matrices given by components.

    Parameters
    ----------
    components : sequence of numpy.ndarray
        2D: ``(a00, a01, a11)``; 3D: ``(a00, a01, a02, a11, a12, a22)``, float32 arrays
        of one shape.
    ndim : int
        2 or 3.

    Returns
    -------
    list of numpy.ndarray
        ``ndim`` float32 arrays, largest eigenvalue first. 3D uses the closed form of
        Smith (1961) (trigonometric solution of the characteristic cubic).
    """
    if ndim == 2:
        a, b, d = components
        half_tr = 0.5 * (a + d)
        root = np.sqrt((0.5 * (a - d)) ** 2 + b * b)
        return [half_tr + root, half_tr - root]
    a00, a01, a02, a11, a12, a22 = components
    q = (a00 + a11 + a22) / np.float32(3.0)
    b00, b11, b22 = a00 - q, a11 - q, a22 - q
    p1 = a01 * a01 + a02 * a02 + a12 * a12
    p = np.sqrt((b00 * b00 + b11 * b11 + b22 * b22 + 2.0 * p1) / np.float32(6.0))
    ok = p > np.float32(1e-30)  # p ~ 0: a multiple of the identity, all eigenvalues are q
    inv = np.float32(1.0) / np.where(ok, p, np.float32(1.0))
    # B = (A - q I) / p has entries of order 1: r = det(B) / 2 without under/overflow
    c00, c11, c22, c01, c02, c12 = b00 * inv, b11 * inv, b22 * inv, a01 * inv, a02 * inv, a12 * inv
    det = c00 * (c11 * c22 - c12 * c12) - c01 * (c01 * c22 - c12 * c02) + c02 * (c01 * c12 - c11 * c02)
    r = np.where(ok, np.clip(0.5 * det, -1.0, 1.0), np.float32(0.0))
    phi = np.arccos(r) / np.float32(3.0)
    e0 = q + 2.0 * p * np.cos(phi)
    e2 = q + 2.0 * p * np.cos(phi + np.float32(2.0 * math.pi / 3.0))
    e1 = 3.0 * q - e0 - e2
    return [e.astype(np.float32, copy=False) for e in (e0, e1, e2)]


# ------------------------------------------------------------------ the features


def _check(array: np.ndarray, spacing: Sequence[float] | None) -> tuple[np.ndarray, tuple[float, ...]]:
    array = np.asarray(array)
    if array.dtype == bool:
        array = array.view(np.uint8)
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise ValueError(f"image must have an integer or floating dtype, got {array.dtype}")
    if array.ndim not in (2, 3):
        raise ValueError(
            f"pixel features need a 2D or 3D image, got shape {array.shape}; give one time point or "
            "channel at a time (channels: a list of images)"
        )
    if spacing is None:
        raise ValueError("give spacing= (mm per axis, numpy order): feature scales are in mm")
    spacing = tuple(float(s) for s in np.atleast_1d(spacing))
    if len(spacing) != array.ndim or any(not math.isfinite(s) or s <= 0 for s in spacing):
        raise ValueError(f"spacing {spacing} does not fit an image of shape {array.shape} (one positive value per axis)")
    if array.size == 0:
        raise ValueError(f"image is empty (shape {array.shape})")
    if np.issubdtype(array.dtype, np.floating) and not np.isfinite(array.min() + array.max()):
        raise ValueError("image contains NaN or infinite values; fill them first (e.g. np.nan_to_num)")
    return array, spacing


def _settings(settings, scales_mm, features) -> FeatureSettings:
    if settings is not None:
        return settings
    return FeatureSettings(tuple(scales_mm), tuple(features))


def _compute_range(
    array3: np.ndarray,
    spacing3: tuple[float, float, float],
    settings: FeatureSettings,
    z0: int,
    z1: int,
    out: np.ndarray,
    ndim: int,
    pool: ThreadPoolExecutor,
    cache: dict | None = None,
) -> None:
    """Features of slices ``[z0, z1)`` of a 3D array into ``out`` (feature-major ``(F, n, y, x)``).

    A 2D image comes as one slice with no z filtering. Work is split by output plane
    over ``pool``; every plane is computed by the same code whatever slab holds it.
    ``cache`` (a dict kept between consecutive slabs going up in z) holds the
    structure-tensor gradient products of the slices the next slab needs again.
    """
    n_total = array3.shape[0]
    halo = max(_z_radii(settings, spacing3[0])) if ndim == 3 else 0
    lo, hi = max(0, z0 - halo), min(n_total, z1 + halo)
    src = _ZSource(array3[lo:hi].astype(np.float32), lo, n_total)  # float32 halo slab only
    feats = settings.features
    shape2 = array3.shape[1:]
    col = 0
    if "intensity" in feats:
        out[col] = src.planes[z0 - lo : z1 - lo]
        col += 1
    zero = np.zeros(shape2, np.float32)

    def run(function, zs) -> list:
        return list(pool.map(function, zs))

    for sigma in settings.scales_mm:
        sv = tuple(sigma / s for s in spacing3)
        if ndim == 2:
            sv = (0.0,) + sv[1:]  # no z axis at all
        sz, sy, sx = spacing3
        kz = [_Kernel(sv[0], o, sz**-o) for o in range(3)]
        ky = [_Kernel(sv[1], o, sy**-o) for o in range(3)]
        kx = [_Kernel(sv[2], o, sx**-o) for o in range(3)]
        want_grad = "gradient" in feats
        want_hess = "log" in feats or "hessian" in feats
        want_st = "structure_tensor" in feats
        n_main = sum(f in feats for f in ("gaussian", "gradient", "log")) + ndim * ("hessian" in feats)
        c_main = col
        rho = tuple(0.5 * s for s in sv)
        rz = _radius(rho[0]) if want_st else 0
        ga, gb = (max(0, z0 - rz), min(n_total, z1 + rz)) if want_st else (z0, z1)
        n_st = ndim * (ndim + 1) // 2
        cached: dict[int, np.ndarray] = cache.get(sigma, {}) if (cache is not None and want_st) else {}
        products: dict[int, np.ndarray] = {}

        def stage_a(z: int) -> None:
            inside = z0 <= z < z1
            need_products = want_st and z not in cached
            if not (inside or need_products):
                return
            grad_needed = need_products or (inside and want_grad)
            hess_needed = inside and want_hess
            b0 = _conv_z_plane(src, z, kz[0])
            b1 = _conv_z_plane(src, z, kz[1]) if (grad_needed or hess_needed) else None
            y0b0 = _conv_in_plane(b0, ky[0], 0)
            y1b0 = _conv_in_plane(b0, ky[1], 0) if (grad_needed or hess_needed) else None
            y0b1 = _conv_in_plane(b1, ky[0], 0)
            grads = None
            if grad_needed:
                gz = _conv_in_plane(y0b1, kx[0], 1)
                gy = _conv_in_plane(y1b0, kx[0], 1)
                gx = _conv_in_plane(y0b0, kx[1], 1)
                grads = [g if g is not None else zero for g in ((gz, gy, gx) if ndim == 3 else (gy, gx))]
            if inside:
                i, c = z - z0, c_main
                if "gaussian" in feats:
                    out[c, i] = _conv_in_plane(y0b0, kx[0], 1)
                    c += 1
                if want_grad:
                    assert grads is not None
                    magnitude = grads[0] * grads[0]
                    for g in grads[1:]:
                        magnitude += g * g
                    out[c, i] = np.sqrt(magnitude)
                    c += 1
                if hess_needed:
                    b2 = _conv_z_plane(src, z, kz[2])
                    hzz = _yx(b2, ky[0], kx[0])
                    hzy = _conv_in_plane(_conv_in_plane(b1, ky[1], 0), kx[0], 1)
                    hzx = _conv_in_plane(y0b1, kx[1], 1)
                    hyy = _yx(b0, ky[2], kx[0])
                    hyx = _conv_in_plane(y1b0, kx[1], 1)
                    hxx = _conv_in_plane(y0b0, kx[2], 1)
                    h = [v if v is not None else zero for v in (hzz, hzy, hzx, hyy, hyx, hxx)]
                    if "log" in feats:
                        out[c, i] = h[0] + h[3] + h[5] if ndim == 3 else h[3] + h[5]
                        c += 1
                    if "hessian" in feats:
                        comps = h if ndim == 3 else [h[3], h[4], h[5]]
                        for e in symmetric_eigenvalues(comps, ndim):
                            out[c, i] = e
                            c += 1
            if need_products:
                assert grads is not None
                planes = np.empty((n_st,) + shape2, np.float32)
                k = 0
                for a in range(ndim):
                    for b in range(a, ndim):
                        np.multiply(grads[a], grads[b], out=planes[k])
                        k += 1
                products[z] = planes  # distinct keys per thread: safe

        run(stage_a, range(ga, gb))
        col += n_main
        if want_st:
            kr = _Kernel(rho[0], 0)
            kry, krx = _Kernel(rho[1], 0), _Kernel(rho[2], 0)
            every = {**cached, **products}
            sources = [_DictSource(every, k, n_total) for k in range(n_st)]
            c_st = col

            def stage_b(z: int) -> None:
                comps = [_yx(_conv_z_plane(s, z, kr), kry, krx) for s in sources]
                for j, e in enumerate(symmetric_eigenvalues(comps, ndim)):
                    out[c_st + j, z - z0] = e

            run(stage_b, range(z0, z1))
            col += ndim
            if cache is not None:  # the next slab starts at z1 and reaches down to z1 - rz
                cache[sigma] = {z: p for z, p in every.items() if z >= z1 - rz}
            del products, sources, every
        if "std" in feats:
            square = _ZSource(src.planes * src.planes, lo, n_total)
            c_std = col

            def stage_c(z: int) -> None:
                mean = _yx(_conv_z_plane(src, z, kz[0]), ky[0], kx[0])
                mean_sq = _yx(_conv_z_plane(square, z, kz[0]), ky[0], kx[0])
                variance = mean_sq - mean * mean
                np.maximum(variance, 0.0, out=variance)
                out[c_std, z - z0] = np.sqrt(variance)

            run(stage_c, range(z0, z1))
            col += 1
            del square
    assert col == out.shape[0], (col, out.shape)


def _as3d(array: np.ndarray, spacing: tuple[float, ...]) -> tuple[np.ndarray, tuple[float, float, float]]:
    if array.ndim == 2:
        return array[np.newaxis], (1.0,) + spacing
    return array, spacing  # type: ignore[return-value]


def feature_stack(
    array: np.ndarray,
    *,
    spacing: Sequence[float],
    scales_mm: Sequence[float] = (1.0, 2.0, 4.0),
    features: Sequence[str] = DEFAULT_FEATURES,
    settings: FeatureSettings | None = None,
    z_range: tuple[int, int] | None = None,
    slab_bytes: int = SLAB_BYTES,
    workers: int | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelCheck | None = None,
) -> tuple[np.ndarray, list[str]]:
    """Multi-scale pixel features of a 2D or 3D image, sigmas in mm.

    Parameters
    ----------
    array : numpy.ndarray
        2D ``(y, x)`` or 3D ``(z, y, x)`` image; integer or float, no NaN.
    spacing : sequence of float
        Voxel spacing in mm, numpy order (required: the scales are in mm).
    scales_mm : sequence of float
        Gaussian sigmas in mm.
    features : sequence of str
        Subset of ``("intensity", "gaussian", "gradient", "log", "hessian",
        "structure_tensor", "std")``; see the module notes.
    settings : FeatureSettings, optional
        Instead of ``scales_mm`` and ``features``.
    z_range : (int, int), optional
        3D only: compute the features of slices ``z0 <= z < z1`` only (their context
        is read from the whole volume, so they equal the whole-volume result).
    slab_bytes : int
        Feature memory per slab while computing (the output is allocated once).
    workers : int, optional
        Threads (planes are filtered in parallel); by default all cores.
    progress, cancel : callable, optional
        Progress (fraction, per slab) and cancel check (between slabs).

    Returns
    -------
    features : numpy.ndarray
        float32 ``(..., n_features)``: the image's shape (or the ``z_range`` slices)
        with the features last. Stored feature-major (a view whose last axis has the
        largest stride: each feature is one contiguous image); use
        ``numpy.ascontiguousarray`` where a C-ordered copy is needed.
    names : list of str
        One per feature (see :func:`feature_names`).

    Examples
    --------
    >>> import numpy as np
    >>> image = np.zeros((8, 16, 16), np.int16); image[:, 4:12, 4:12] = 100
    >>> stack, names = feature_stack(image, spacing=(2.0, 1.0, 1.0), scales_mm=(1.0,))
    >>> stack.shape, stack.dtype.name, names[:3]
    ((8, 16, 16, 10), 'float32', ['intensity', 'gaussian_1mm', 'gradient_1mm'])
    """
    array, spacing = _check(array, spacing)
    settings = _settings(settings, scales_mm, features)
    names = feature_names(settings, array.ndim)
    array3, spacing3 = _as3d(array, spacing)
    if z_range is None:
        z0, z1 = 0, array3.shape[0]
    else:
        if array.ndim != 3:
            raise ValueError("z_range is for 3D images")
        z0, z1 = int(z_range[0]), int(z_range[1])
        if not 0 <= z0 < z1 <= array3.shape[0]:
            raise ValueError(f"z_range {z_range} is outside the {array3.shape[0]} slices")
    out = np.empty((len(names), z1 - z0) + array3.shape[1:], np.float32)  # feature-major
    cache: dict = {}
    with ThreadPoolExecutor(max_workers=workers or default_workers()) as pool:
        for a, b in _slabs(z0, z1, array3.shape[1:], len(names), slab_bytes):
            check_cancel(cancel)
            _compute_range(array3, spacing3, settings, a, b, out[:, a - z0 : b - z0], array.ndim, pool, cache)
            report(progress, (b - z0) / (z1 - z0))
    check_cancel(cancel)
    out = np.moveaxis(out, 0, -1)
    if array.ndim == 2:
        out = out[0]
    return out, names


def _slabs(z0: int, z1: int, plane_shape, n_features: int, slab_bytes: int) -> list[tuple[int, int]]:
    per_slice = int(np.prod(plane_shape)) * n_features * 4
    step = max(1, int(slab_bytes) // max(1, per_slice))
    return [(a, min(z1, a + step)) for a in range(z0, z1, step)]


def iter_feature_slabs(
    array: np.ndarray,
    *,
    spacing: Sequence[float],
    settings: FeatureSettings | None = None,
    scales_mm: Sequence[float] = (1.0, 2.0, 4.0),
    features: Sequence[str] = DEFAULT_FEATURES,
    z_range: tuple[int, int] | None = None,
    slab_bytes: int = SLAB_BYTES,
    workers: int | None = None,
    cancel: CancelCheck | None = None,
) -> Iterator[tuple[int, int, np.ndarray]]:
    """Yield ``(z0, z1, features)`` slab by slab along z (features float32 ``(z1-z0, y, x, F)``).

    Only one slab's features (about ``slab_bytes``) plus its filter temporaries are
    alive at a time; each slab equals the same slices of :func:`feature_stack`. A 2D
    image is one slab with ``z0, z1 = 0, 1`` and features ``(1, y, x, F)``.
    """
    array, spacing = _check(array, spacing)
    settings = _settings(settings, scales_mm, features)
    n = len(feature_names(settings, array.ndim))
    array3, spacing3 = _as3d(array, spacing)
    z0, z1 = (0, array3.shape[0]) if z_range is None else (int(z_range[0]), int(z_range[1]))
    if not 0 <= z0 < z1 <= array3.shape[0]:
        raise ValueError(f"z_range {z_range} is outside the {array3.shape[0]} slices")
    cache: dict = {}
    with ThreadPoolExecutor(max_workers=workers or default_workers()) as pool:
        for a, b in _slabs(z0, z1, array3.shape[1:], n, slab_bytes):
            check_cancel(cancel)
            out = np.empty((n, b - a) + array3.shape[1:], np.float32)
            _compute_range(array3, spacing3, settings, a, b, out, array.ndim, pool, cache)
            yield a, b, np.moveaxis(out, 0, -1)
