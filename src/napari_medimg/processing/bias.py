"""N4 bias-field correction (SimpleITK) for MR intensity inhomogeneity."""

from __future__ import annotations

import contextlib
import sys
import threading
from typing import Sequence

import numpy as np

from ..dtypes import float_dtype_for
from ..progress import CancelCheck, OperationCancelled, ProgressCallback, check_cancel, default_workers, report
from ..volume import Volume
from .denoise import _check_array, _sitk_image

__all__ = ["n4_bias_correction"]


class _FitCancelled(OperationCancelled):
    """Raised inside N4's iteration event; SimpleITK prints it through ``sys.excepthook``."""


_HOOK_LOCK = threading.Lock()
_hook_state = {"users": 0, "previous": None}


def _quiet_hook(kind, value, traceback) -> None:
    """``sys.excepthook`` while N4 runs: silent for our own cancel, the previous hook otherwise."""
    if isinstance(value, _FitCancelled):
        return
    (_hook_state["previous"] or sys.__excepthook__)(kind, value, traceback)


@contextlib.contextmanager
def _cancel_quietly():
    with _HOOK_LOCK:
        if _hook_state["users"] == 0:
            _hook_state["previous"] = sys.excepthook
            sys.excepthook = _quiet_hook
        _hook_state["users"] += 1
    try:
        yield
    finally:
        with _HOOK_LOCK:
            _hook_state["users"] -= 1
            if _hook_state["users"] == 0 and sys.excepthook is _quiet_hook:
                sys.excepthook = _hook_state["previous"]


def _run_n4(corrector, small, small_mask, iterations: int, levels: int, progress, cancel) -> None:
    """Fit N4 with progress after each of its iterations and Cancel between them.

    ITK's N4 filter sends no progress while it fits and does not look at Abort, but it
    sends an iteration event: progress is (levels done + iterations done / maximum
    iterations) / levels of the first 0.9 (a level that converges early ends its share
    at once), and a Cancel raises :class:`OperationCancelled` from the event, which
    SimpleITK passes up through ``Execute`` as a RuntimeError.
    """
    import SimpleITK as sitk

    if progress is None and cancel is None:
        corrector.Execute(small, small_mask)
        return
    state = {"cancelled": False, "last": 0.0}

    def on_iteration() -> None:
        level = min(int(corrector.GetCurrentLevel()), levels - 1)
        done = min(int(corrector.GetElapsedIterations()), iterations)
        fraction = 0.9 * (level + done / max(1, iterations)) / levels
        if fraction > state["last"]:
            state["last"] = fraction
            report(progress, fraction)
        if cancel is not None and cancel():
            state["cancelled"] = True
            raise _FitCancelled("cancelled by the user")  # stops Execute (N4 ignores Abort)

    corrector.AddCommand(sitk.sitkIterationEvent, on_iteration)
    try:
        with _cancel_quietly():  # SimpleITK hands the exception to sys.excepthook (PyErr_Print)
            corrector.Execute(small, small_mask)
    except RuntimeError:
        if state["cancelled"]:
            raise OperationCancelled("cancelled by the user") from None
        raise
    finally:
        corrector.RemoveAllCommands()
    report(progress, 0.9)


def n4_bias_correction(
    array: np.ndarray,
    *,
    spacing: Sequence[float],
    mask: "np.ndarray | Volume | None" = None,
    shrink_factor: int = 4,
    iterations: int = 50,
    levels: int = 4,
    spline_distance: float = 100.0,
    convergence_threshold: float = 0.001,
    return_bias_field: bool = False,
    progress: ProgressCallback | None = None,
    cancel: CancelCheck | None = None,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """N4 bias-field correction: remove a smooth multiplicative intensity inhomogeneity.

    Follows SimpleITK's N4 example: the field is fitted on a shrunk copy of the image
    (``N4BiasFieldCorrectionImageFilter``), then the full-resolution log bias field
    (``GetLogBiasFieldAsImage``) is evaluated on the original grid and divided out.

    Parameters
    ----------
    array : numpy.ndarray
        2D or 3D MR image in numpy order, positive intensities (values <= 0 are
        outside the fit; shift the image first if its background is negative).
    spacing : sequence of float
        Voxel spacing in mm, numpy order (the B-spline mesh lives in mm).
    mask : numpy.ndarray or Volume, optional
        Region to fit (non-zero inside), e.g. a brain mask; by default an Otsu
        threshold of the image (as SimpleITK's example). The correction is applied
        to the whole image.
    shrink_factor : int
        Downsampling for the fit along the finest axes; an axis whose spacing is
        coarser is shrunk less (``round(shrink_factor * min(spacing) / spacing)``,
        at least 1), so thick slices are not shrunk away.
    iterations : int
        Maximum iterations at each fitting level.
    levels : int
        Fitting levels (the B-spline mesh doubles at each).
    spline_distance : float
        Initial B-spline control-point distance in mm (N4's usual ~ 100-200 mm);
        sets the number of control points per axis.
    convergence_threshold : float
        N4's convergence threshold.
    return_bias_field : bool
        Also return the multiplicative bias field (``image = corrected * field``).
    progress, cancel : callable, optional
        Progress callback (fraction 0..1) and cancel check (ITK aborts the fit).

    Returns
    -------
    corrected : numpy.ndarray
        float32 (float64 for float64 input), same shape.
    bias_field : numpy.ndarray
        Only with ``return_bias_field``: float32 field, same shape.

    Raises
    ------
    ValueError
        For NaN values, a mask of another shape or an empty mask.

    Examples
    --------
    >>> import numpy as np
    >>> z, y, x = np.mgrid[:16, :48, :48]
    >>> field = 1 + 0.2 * (x - 24) / 24
    >>> image = (100 * field).astype(np.float32)
    >>> out = n4_bias_correction(image, spacing=(2, 2, 2), shrink_factor=2, iterations=20)
    >>> float(out.std() / out.mean()) < float(image.std() / image.mean())
    True
    """
    import SimpleITK as sitk

    array = _check_array(array)
    if array.ndim not in (2, 3):
        raise ValueError(f"N4 needs a 2D or 3D image, got shape {array.shape}")
    if min(array.shape) < 2:
        raise ValueError(
            f"N4 bias correction needs at least 2 voxels along every axis, got shape {array.shape}: "
            "give a single slice as a 2D image, or a larger region"
        )
    spacing = tuple(float(s) for s in spacing)
    if len(spacing) != array.ndim:
        raise ValueError(f"spacing {spacing} needs one entry per axis of shape {array.shape}")
    dtype = float_dtype_for(array.dtype)
    image = _sitk_image(np.ascontiguousarray(array, dtype=np.float32), spacing)
    if mask is not None:
        if isinstance(mask, Volume):  # a labels layer given as a second input (same grid)
            mask = mask.array
        mask = np.asarray(mask)
        if mask.shape != array.shape:
            raise ValueError(f"mask shape {mask.shape} differs from the image shape {array.shape}")
        inside = (mask != 0).view(np.uint8)
        if not inside.any():
            raise ValueError("mask is empty: nothing to fit the bias field on")
        mask_image = _sitk_image(inside, spacing)
    else:
        mask_image = sitk.OtsuThreshold(image, 0, 1, 200)
    factors = [max(1, int(round(shrink_factor * min(spacing) / s))) for s in spacing[::-1]]
    factors = [min(f, max(1, n // 4)) for f, n in zip(factors, image.GetSize())]
    small = sitk.Shrink(image, factors)
    small_mask = sitk.Shrink(mask_image, factors)
    corrector = sitk.N4BiasFieldCorrectionImageFilter()
    corrector.SetMaximumNumberOfIterations([int(iterations)] * int(levels))
    corrector.SetConvergenceThreshold(float(convergence_threshold))
    extent = [sz * sp for sz, sp in zip(image.GetSize(), image.GetSpacing())]
    corrector.SetNumberOfControlPoints([max(4, int(round(e / spline_distance)) + 3) for e in extent])
    corrector.SetNumberOfThreads(default_workers())
    check_cancel(cancel)
    _run_n4(corrector, small, small_mask, int(iterations), int(levels), progress, cancel)
    check_cancel(cancel)
    # full-resolution field, exponentiated and divided out by ITK's multi-threaded filters
    field_image = sitk.Exp(corrector.GetLogBiasFieldAsImage(image))
    if dtype == np.float64:
        corrected = np.asarray(array, np.float64) / sitk.GetArrayViewFromImage(field_image)
    else:
        corrected = sitk.GetArrayFromImage(sitk.Divide(image, sitk.Cast(field_image, sitk.sitkFloat32)))
    del image
    report(progress, 1.0)
    if return_bias_field:
        return corrected, sitk.GetArrayFromImage(sitk.Cast(field_image, sitk.sitkFloat32))
    return corrected
