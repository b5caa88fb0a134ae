"""Agreement with pyradiomics' own regression baseline (pyradiomics 3.1.0, BSD-3).

Every value of every ``baseline_<class>.csv`` in ``../shared/data/radiomics_baseline`` is
one test: each column is a case (brain1, breast1, lung1) with its exact settings (row
``diagnostics_Configuration_Settings``), each ``original_*`` row a feature. Extraction is
cached per column (module-scoped), so the whole table runs in seconds.

Tolerance: ``|got - ref| <= 1e-4 * |ref| + 1e-9``. Re-running pyradiomics reproduces the
table to about 1e-12, so 1e-4 leaves room only for summation order; the absolute 1e-9
only matters for references below 1e-5 (features that vanish analytically, e.g. cluster
shade of a flat region, where both sides are rounding noise around 0).
"""

from __future__ import annotations

import ast
import csv
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

from napari_medimg import read
from napari_medimg.analysis.radiomics import extract
from napari_medimg.volume import Volume

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
BASELINE = DATA / "radiomics_baseline"
CASES = {
    "brain1": ("mr/pyradiomics/brain1_image.nrrd", "mr/pyradiomics/brain1_label.nrrd"),
    "breast1": ("mr/pyradiomics/breast1_image.nrrd", "mr/pyradiomics/breast1_label.nrrd"),
    "lung1": ("ct/pyradiomics_lung1/lung1_image.nrrd", "ct/pyradiomics_lung1/lung1_label.nrrd"),
}
CLASSES = ("firstorder", "glcm", "glrlm", "glszm", "gldm", "ngtdm", "shape", "shape2D")
# shape2D was computed by pyradiomics on one-slice label maps (size x, y, 1) that pyradiomics
# resampled onto the image (correctMask). They are not in the shared data; they equal the
# 3D label's slice at this z index (same voxel count and mean, see the diagnostics rows).
SHAPE2D_SLICE = {"brain1": 16, "breast1": 9, "lung1": 33}
RTOL, ATOL = 1e-4, 1e-9

# The brain1 mesh values of the baseline were produced by an older pyradiomics mesh; the
# data README states that pyradiomics 3.1.0 itself reproduces one shape value only to 9e-4.
# Our mesh (pyradiomics 3.x triangle table) matches every other case, and brain1 after
# resampling to 2 mm, to 1e-12, so these four are known, explained differences.
_MESH_REASON = (
    "brain1 (0.78x0.78x6.5 mm) mesh: baseline from an older pyradiomics marching-cubes table; "
    "pyradiomics 3.1.0 itself reproduces this shape value only to ~9e-4 (data README); "
    "ours differs by {rel}"
)
KNOWN_DIFFERENCES = {
    ("shape", "brain1", "original_shape_SurfaceArea"): "7.9e-4",
    ("shape", "brain1", "original_shape_MeshVolume"): "1.2e-4",
    ("shape", "brain1", "original_shape_Sphericity"): "8.7e-4",
    ("shape", "brain1", "original_shape_SurfaceVolumeRatio"): "9.1e-4",
}


def _read_table(cls: str) -> tuple[list[str], dict[str, list[str]]]:
    with open(BASELINE / f"baseline_{cls}.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    return rows[0][1:], {row[0]: row[1:] for row in rows[1:]}


def _params():
    assert BASELINE.is_dir(), f"the pyradiomics baseline is expected at {BASELINE}"
    out = []
    for cls in CLASSES:
        columns, table = _read_table(cls)
        for index, column in enumerate(columns):
            for feature, values in table.items():
                if not feature.startswith("original_"):
                    continue
                marks = []
                key = (cls, column, feature)
                if key in KNOWN_DIFFERENCES:
                    reason = _MESH_REASON.format(rel=KNOWN_DIFFERENCES[key])
                    marks.append(pytest.mark.xfail(strict=True, reason=f"{feature}: {reason}"))
                out.append(pytest.param(cls, column, feature, float(values[index]),
                                        id=f"{cls}-{column}-{feature.split('_', 2)[2]}", marks=marks))
    return out


@lru_cache(maxsize=None)
def _volumes(case: str) -> tuple[Volume, Volume]:
    image_path, mask_path = CASES[case]
    return read(DATA / image_path), read(DATA / mask_path)


@lru_cache(maxsize=None)
def _column(cls_group: str, column: str) -> dict[str, float]:
    """Features of every class sharing this column's settings (one extraction per column)."""
    if cls_group == "shape2D":
        _, table = _read_table("shape2D")
        columns = _read_table("shape2D")[0]
        index = columns.index(column)
        case = column.split("_")[0]
        settings = ast.literal_eval(table["diagnostics_Configuration_Settings"][index])
        image, label = _volumes(case)
        z = SHAPE2D_SLICE[case]
        origin = tuple(label.index_to_world(np.array([z, 0, 0])))
        one_slice = Volume(label.array[z : z + 1], label.spacing, origin, label.direction)
        return extract(image, one_slice, settings, feature_classes=["shape2D"])
    classes = []
    settings = None
    case = None
    for cls in CLASSES[:-1]:
        columns, table = _read_table(cls)
        if column in columns:
            index = columns.index(column)
            classes.append(cls)
            settings = ast.literal_eval(table["diagnostics_Configuration_Settings"][index])
            case = table["diagnostics_Configuration_TestCase"][index]
    image, label = _volumes(case)
    return extract(image, label, settings, feature_classes=classes)


@pytest.mark.parametrize("cls, column, feature, reference", _params())
def test_baseline_value(cls, column, feature, reference):
    values = _column("shape2D" if cls == "shape2D" else "volume", column)
    assert feature in values, f"{feature} not computed for {column}"
    got = values[feature]
    assert abs(got - reference) <= RTOL * abs(reference) + ATOL, (
        f"{column} {feature}: got {got!r}, pyradiomics {reference!r}, "
        f"relative difference {abs(got - reference) / max(abs(reference), 1e-300):.2e}"
    )


@pytest.mark.parametrize("case", list(CASES))
def test_baseline_matrices_match_pyradiomics(case):
    """The texture matrices of the default extraction equal pyradiomics' saved matrices."""
    from napari_medimg.analysis.radiomics import gldm, glcm, glrlm, glszm, ngtdm, prepare_roi
    from napari_medimg.analysis.radiomics.preprocessing import discretize
    from napari_medimg.analysis.radiomics.settings import resolve_settings

    settings = resolve_settings({"binWidth": 25, "minimumROIDimensions": 1})
    roi = prepare_roi(*_volumes(case), settings)
    levels = discretize(roi.image, roi.mask, settings)

    def reference(name):
        return np.load(BASELINE / f"{case}_{name}.npy", allow_pickle=False)

    p, _ = glcm.glcm_matrix(levels, roi.mask, settings, roi.spacing)
    np.testing.assert_allclose(p, reference("glcm"), rtol=0, atol=1e-15)
    p, _, _ = glrlm.glrlm_matrix(levels, roi.mask, settings, roi.spacing)
    p = p[:, p.sum(axis=(0, 2)) != 0]
    np.testing.assert_array_equal(p, reference("glrlm"))
    p, _ = glszm.glszm_matrix(levels, roi.mask, settings)
    np.testing.assert_array_equal(p[:, p.sum(axis=0) != 0], reference("glszm"))
    p, _, _ = gldm.gldm_matrix(levels, roi.mask, settings)
    np.testing.assert_array_equal(p, reference("gldm"))
    np.testing.assert_allclose(ngtdm.ngtdm_matrix(levels, roi.mask, settings), reference("ngtdm"), rtol=1e-12)
