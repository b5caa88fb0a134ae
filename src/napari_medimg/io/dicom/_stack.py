"""Stack frames into a volume with the geometry of the DICOM standard.

* Orientation: every frame must share ImageOrientationPatient. The slice normal is
  ``row_cos x col_cos``; frames are sorted by the projection of their position on it.
* Several frames at one position make a 4D series ``(t, z, y, x)``, each position's
  frames ordered by their time key (TemporalPositionIdentifier, AcquisitionNumber,
  AcquisitionTime, TriggerTime, InstanceNumber).
* Slice spacing is the distance between consecutive positions projected on the
  normal (never SliceThickness). Non-uniform gaps are reported, and either kept
  (the median gap is used as spacing and the exact positions go to metadata) or,
  with ``resample_nonuniform=True``, interpolated linearly onto a uniform grid whose
  spacing is the smallest gap.
* Gantry tilt shows as positions that move in-plane from slice to slice. It is
  reported; with ``resample_tilt=True`` each slice is shifted in-plane (linear
  interpolation) onto the orthogonal grid spanned by row, column and normal, and
  the in-plane grid grows so that nothing is cropped.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from ..errors import ImageReadError
from ..warnings_codes import (
    FOUR_D,
    GANTRY_TILT,
    MISSING_SLICES,
    NONUNIFORM_SPACING,
    NO_SPACING,
    make_warning,
)
from ._frames import Frame
from ._pixels import apply_rescale

__all__ = ["StackResult", "stack_frames"]

#: Positions closer than this along the normal are the same slice (mm).
_SAME_POSITION_MM = 0.01
#: Gaps within this of the median are uniform: max(absolute mm, relative).
_GAP_TOLERANCE_MM = 0.01
_GAP_TOLERANCE_REL = 0.005
#: In-plane drift of positions below this is rounding, not tilt (mm).
_SHEAR_TOLERANCE_MM = 0.01


@dataclasses.dataclass
class StackResult:
    """A stacked, rescaled array with numpy-order geometry, warnings and metadata."""

    array: np.ndarray
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]
    direction: np.ndarray
    warnings: list[str]
    metadata: dict[str, Any]


# ------------------------------------------------------------------ helpers
def _check_shapes(frames: list[Frame]) -> None:
    shapes = {f.pixels.shape for f in frames}
    if len(shapes) > 1:
        raise ImageReadError(
            f"The frames of this series have different sizes {sorted(shapes)}; they cannot "
            "form one volume. Use list_series() and read one part with series_uid=."
        )


def _common_orientation(frames: list[Frame]) -> np.ndarray:
    first = frames[0].orientation
    worst = max(float(np.abs(f.orientation - first).max()) for f in frames)
    if worst > 1e-3:
        raise ImageReadError(
            "The frames of this series have different orientations (ImageOrientationPatient "
            f"differs by up to {worst:.3g}); they cannot form one volume. "
            "Use list_series() to see the parts and read one with series_uid=."
        )
    return first


def _group_positions(frames: list[Frame], normal: np.ndarray) -> list[list[Frame]]:
    """Frames grouped by position along the normal (ascending), each group time-ordered."""
    dist = np.array([float(f.position @ normal) for f in frames])
    order = np.argsort(dist, kind="stable")
    groups: list[list[Frame]] = []
    last = None
    for i in order:
        if last is None or dist[i] - last > _SAME_POSITION_MM:
            groups.append([])
        groups[-1].append(frames[i])
        last = dist[i]
    counts = sorted({len(g) for g in groups})
    if len(counts) > 1:
        raise ImageReadError(
            f"Slice positions hold different numbers of images ({counts}); the series is "
            "incomplete or mixes acquisitions. Check that all files were copied, or "
            "pick one part with list_series() / series_uid=."
        )
    return [sorted(g, key=lambda f: f.order) for g in groups]


def _stack(groups: list[list[Frame]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pixels ``(t, z, ...)``, slopes and intercepts ``(t, z)``."""
    n_t = len(groups[0])
    pixels = np.stack([np.stack([g[t].pixels for g in groups]) for t in range(n_t)])
    slopes = np.array([[g[t].slope for g in groups] for t in range(n_t)])
    intercepts = np.array([[g[t].intercept for g in groups] for t in range(n_t)])
    return pixels, slopes, intercepts


def _to_numpy_order(
    spacing_itk: tuple[float, float, float], origin_lps: np.ndarray, columns_itk: np.ndarray
) -> tuple[tuple, tuple, np.ndarray]:
    """ITK (x, y, z) spacing, LPS origin and direction columns -> numpy (z, y, x) order."""
    direction_itk = np.column_stack(columns_itk)
    return (
        tuple(float(s) for s in spacing_itk[::-1]),
        tuple(float(o) for o in origin_lps[::-1]),
        direction_itk[::-1, ::-1].copy(),
    )


# ------------------------------------------------------------------- gaps
def analyse_gaps(distances: np.ndarray) -> dict[str, Any]:
    """Describe the gaps between consecutive slice positions along the normal.

    Parameters
    ----------
    distances : numpy.ndarray
        Sorted positions along the slice normal (mm).

    Returns
    -------
    dict
        ``gaps`` (mm), ``typical`` (median gap), ``uniform`` (bool) and ``missing``:
        a list of ``(index, gap, estimated_missing_slices)`` for gaps that are a
        multiple (1.5x or more) of the typical gap.
    """
    gaps = np.diff(distances)
    if gaps.size == 0:
        return {"gaps": gaps, "typical": None, "uniform": True, "missing": []}
    typical = float(np.median(gaps))
    tol = max(_GAP_TOLERANCE_MM, _GAP_TOLERANCE_REL * typical)
    uniform = bool(np.all(np.abs(gaps - typical) <= tol))
    missing = []
    for i, gap in enumerate(gaps):
        ratio = gap / typical
        if ratio >= 1.5 and (abs(ratio - round(ratio)) <= 0.15 or ratio >= 3):
            missing.append((i, float(gap), int(round(ratio)) - 1))
    return {"gaps": gaps, "typical": typical, "uniform": uniform, "missing": missing}


def _gap_warnings(info: dict[str, Any], resampled: bool) -> list[str]:
    if info["uniform"]:
        return []
    unique, counts = np.unique(np.round(info["gaps"], 3), return_counts=True)
    listing = ", ".join(f"{g:g} mm x{c}" for g, c in zip(unique, counts))
    action = (
        "they were interpolated linearly onto a uniform grid (see metadata['resampling'])"
        if resampled
        else f"the volume uses the median gap {info['typical']:.4g} mm as slice spacing, so "
        "slice positions in world space are approximate; exact positions are in "
        "metadata['slice_positions']; pass resample_nonuniform=True to interpolate"
    )
    out = [make_warning(NONUNIFORM_SPACING, f"slice gaps along the normal are not uniform ({listing}); {action}.")]
    for index, gap, n_missing in info["missing"]:
        out.append(
            make_warning(
                MISSING_SLICES,
                f"the gap of {gap:.4g} mm between slices {index} and {index + 1} is "
                f"{gap / info['typical']:.3g} times the typical {info['typical']:.4g} mm: "
                f"about {n_missing} slice(s) are missing there.",
            )
        )
    return out


def _interpolate_slices(array: np.ndarray, z_axis: int, distances: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Linear interpolation along ``z_axis`` from ``distances`` to ``targets`` (float32)."""
    src = np.moveaxis(array, z_axis, 0)
    out = np.empty((len(targets),) + src.shape[1:], dtype=np.float32)
    upper = np.clip(np.searchsorted(distances, targets, side="right"), 1, len(distances) - 1)
    for k, (t, j) in enumerate(zip(targets, upper)):
        d0, d1 = distances[j - 1], distances[j]
        w = float(np.clip((t - d0) / (d1 - d0), 0.0, 1.0))
        out[k] = (1.0 - w) * src[j - 1].astype(np.float32) + w * src[j].astype(np.float32)
    return np.moveaxis(out, 0, z_axis)


def _resample_uniform(array: np.ndarray, z_axis: int, distances: np.ndarray, gaps: np.ndarray):
    spacing = float(gaps.min())
    n_out = int(np.floor((distances[-1] - distances[0]) / spacing + 1e-6)) + 1
    targets = distances[0] + spacing * np.arange(n_out)
    out = _interpolate_slices(array, z_axis, distances, targets)
    meta = {
        "nonuniform": {
            "method": "linear interpolation along the slice normal between the two nearest slices",
            "spacing_mm": spacing,
            "rule": "spacing = smallest gap between acquired slices",
            "n_slices_in": int(len(distances)),
            "n_slices_out": n_out,
        }
    }
    return out, spacing, meta


# ------------------------------------------------------------------- tilt
def _inplane_offsets(positions: np.ndarray, orientation: np.ndarray) -> np.ndarray:
    """In-plane displacement (along row cosine, along column cosine) of each slice from the first (mm)."""
    return (positions - positions[0]) @ orientation.T


def tilt_angle(positions: np.ndarray, normal: np.ndarray, orientation: np.ndarray) -> float:
    """Angle in degrees between the line of slice positions and the slice normal."""
    offsets = _inplane_offsets(positions, orientation)
    along = float((positions[-1] - positions[0]) @ normal)
    if along == 0:
        return 0.0
    return float(np.degrees(np.arctan(np.linalg.norm(offsets[-1]) / abs(along))))


def _shift_slices(
    array: np.ndarray, z_axis: int, offsets: np.ndarray, pixel_spacing: tuple[float, float], rgb: bool
):
    """Shift each slice in-plane by its offset onto a common, enlarged grid (float32)."""
    from scipy import ndimage

    shift_px = np.column_stack([offsets[:, 1] / pixel_spacing[0], offsets[:, 0] / pixel_spacing[1]])
    low = np.minimum(shift_px.min(axis=0), 0.0)
    grow = np.ceil(np.maximum(shift_px.max(axis=0), 0.0) - low).astype(int)
    src = np.moveaxis(array, z_axis, 0)
    in_shape = src.shape[-3:-1] if rgb else src.shape[-2:]
    fill = float(array.min()) if array.size else 0.0
    out_plane = tuple(int(s + g) for s, g in zip(in_shape, grow))
    lead = src.shape[1:-3] if rgb else src.shape[1:-2]
    out = np.full((src.shape[0],) + lead + out_plane + ((src.shape[-1],) if rgb else ()), fill, np.float32)
    for z in range(src.shape[0]):
        plane = np.full(lead + out_plane + ((src.shape[-1],) if rgb else ()), fill, np.float32)
        index = (Ellipsis, slice(0, in_shape[0]), slice(0, in_shape[1])) + ((slice(None),) if rgb else ())
        plane[index] = src[z]
        shift = (0,) * len(lead) + tuple(shift_px[z] - low) + ((0,) if rgb else ())
        out[z] = ndimage.shift(plane, shift, order=1, mode="constant", cval=fill)
    origin_shift_mm = np.array([low[1] * pixel_spacing[1], low[0] * pixel_spacing[0]])
    return np.moveaxis(out, 0, z_axis), origin_shift_mm, fill


def _tilt_warning(angle: float, tag: float | None, max_shift: float, corrected: bool) -> str:
    tag_text = f"GantryDetectorTilt {tag:g}°" if tag is not None else "no GantryDetectorTilt tag"
    action = (
        "each slice was shifted in-plane (linear interpolation) onto a regular grid "
        "(see metadata['resampling'])"
        if corrected
        else "this volume places every slice on the orthogonal grid of the first slice, "
        f"so anatomy is displaced by up to {max_shift:.2f} mm in-plane; pass "
        "resample_tilt=True to correct it"
    )
    return make_warning(
        GANTRY_TILT,
        f"slice positions are sheared by {angle:.2f}° from the slice normal ({tag_text}); {action}.",
    )


# ------------------------------------------------------------------ entry
def _stack_without_geometry(frames: list[Frame]) -> StackResult:
    frames = sorted(frames, key=lambda f: f.order)
    pixels = np.stack([f.pixels for f in frames])
    array = apply_rescale(pixels, np.array([f.slope for f in frames]), np.array([f.intercept for f in frames]))
    dr, dc = frames[0].pixel_spacing or (1.0, 1.0)
    missing = "slice positions/orientation" + ("" if frames[0].pixel_spacing else " and pixel spacing")
    warning = make_warning(
        NO_SPACING,
        f"the frames carry no {missing}; they are stacked in file order with 1 mm "
        "between slices and an identity orientation.",
    )
    return StackResult(
        array=array,
        spacing=(1.0, dr, dc),
        origin=(0.0, 0.0, 0.0),
        direction=np.eye(3),
        warnings=[warning],
        metadata={"spacing_source": "none (default 1 mm)"},
    )


def stack_frames(
    frames: list[Frame],
    *,
    resample_tilt: bool = False,
    resample_nonuniform: bool = False,
    gantry_tilt_tag: float | None = None,
    rgb: bool = False,
) -> StackResult:
    """Sort, stack and rescale frames into a 3D or 4D array with its geometry.

    Parameters
    ----------
    frames : list of Frame
        All frames of one series.
    resample_tilt : bool
        Shift sheared (gantry-tilted) slices onto a regular grid.
    resample_nonuniform : bool
        Interpolate non-uniformly spaced slices onto a uniform grid.
    gantry_tilt_tag : float, optional
        GantryDetectorTilt of the series, quoted in the warning.
    rgb : bool
        Frames hold colour as a last axis.

    Returns
    -------
    StackResult
        Array ``(z, y, x)`` or ``(t, z, y, x)`` (+ colour axis), numpy-order geometry.
    """
    _check_shapes(frames)
    if any(f.position is None or f.orientation is None for f in frames):
        return _stack_without_geometry(frames)
    orientation = _common_orientation(frames)
    normal = np.cross(orientation[0], orientation[1])
    normal /= np.linalg.norm(normal)
    groups = _group_positions(frames, normal)
    pixels, slopes, intercepts = _stack(groups)
    array = apply_rescale(pixels, slopes, intercepts)
    n_t = array.shape[0]
    if n_t == 1:
        array = array[0]
    z_axis = 0 if n_t == 1 else 1

    positions = np.array([g[0].position for g in groups])
    distances = positions @ normal
    warnings_: list[str] = []
    meta: dict[str, Any] = {"image_positions_lps": positions.tolist()}
    resampling: dict[str, Any] = {}
    if n_t > 1:
        warnings_.append(
            make_warning(
                FOUR_D,
                f"{n_t} images per slice position: returned as (t, z, y, x) with t={n_t} "
                f"volumes of {len(groups)} slices, ordered by temporal position / acquisition "
                "number / time / instance number.",
            )
        )
    pixel_spacing = groups[0][0].pixel_spacing
    if pixel_spacing is None:
        pixel_spacing = (1.0, 1.0)
        warnings_.append(make_warning(NO_SPACING, "no PixelSpacing: 1 mm is assumed in-plane."))

    origin = positions[0].copy()
    offsets = _inplane_offsets(positions, orientation)
    max_shift = float(np.linalg.norm(offsets, axis=1).max()) if len(offsets) else 0.0
    if max_shift > _SHEAR_TOLERANCE_MM:
        angle = tilt_angle(positions, normal, orientation)
        meta["gantry_tilt_degrees"] = angle
        if resample_tilt:
            array, origin_shift, fill = _shift_slices(array, z_axis, offsets, pixel_spacing, rgb)
            origin = origin + origin_shift @ orientation
            resampling["tilt"] = {
                "method": "in-plane shift of each slice by its offset from the first "
                "(linear interpolation); grid enlarged to keep every voxel",
                "angle_degrees": angle,
                "fill_value": fill,
            }
        warnings_.append(_tilt_warning(angle, gantry_tilt_tag, max_shift, resample_tilt))

    gap_info = analyse_gaps(distances)
    slice_spacing = gap_info["typical"]
    if slice_spacing is None:
        slice_spacing = 1.0
        warnings_.append(make_warning(NO_SPACING, "a single slice: 1 mm is assumed between slices."))
    resample_gaps = resample_nonuniform and not gap_info["uniform"]
    if resample_gaps:
        array, slice_spacing, gap_meta = _resample_uniform(array, z_axis, distances, gap_info["gaps"])
        resampling.update(gap_meta)
    warnings_.extend(_gap_warnings(gap_info, resample_gaps))
    meta["slice_positions"] = (distances - distances[0]).tolist()
    meta["slice_gaps"] = gap_info["gaps"].tolist()
    if resampling:
        meta["resampling"] = resampling

    spacing, origin_np, direction = _to_numpy_order(
        (pixel_spacing[1], pixel_spacing[0], slice_spacing), origin, [orientation[0], orientation[1], normal]
    )
    return StackResult(array, spacing, origin_np, direction, warnings_, meta)
