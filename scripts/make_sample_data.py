"""Rebuild the bundled sample data from ../shared/data (run once; the outputs are committed).

The chest CT is pyradiomics' lung1 (BSD-3) reduced to half resolution in-plane
(2 x 2 block mean, rounded back to int16 HU) so the package stays small; its nodule label
is reduced with a 2 x 2 block maximum. The other samples are copied unchanged.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import SimpleITK as sitk

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
OUT = ROOT / "src" / "napari_medimg" / "data"


def half_in_plane(image: sitk.Image, reducer, dtype=None) -> sitk.Image:
    """Reduce x and y by 2 with ``reducer`` over 2 x 2 blocks, keeping the physical extent."""
    array = sitk.GetArrayFromImage(image)
    z, y, x = array.shape
    blocks = array[:, : y // 2 * 2, : x // 2 * 2].reshape(z, y // 2, 2, x // 2, 2)
    reduced = reducer(blocks)
    out = sitk.GetImageFromArray(reduced.astype(dtype or array.dtype))
    sx, sy, sz = image.GetSpacing()
    out.SetSpacing((sx * 2, sy * 2, sz))
    # The centre of the first 2 x 2 block is half a (source) voxel from the first centre.
    direction = np.asarray(image.GetDirection()).reshape(3, 3)
    shift = direction @ np.array([sx / 2, sy / 2, 0.0])
    out.SetOrigin(tuple(np.asarray(image.GetOrigin()) + shift))
    out.SetDirection(image.GetDirection())
    return out


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    lung = sitk.ReadImage(str(SHARED / "ct/pyradiomics_lung1/lung1_image.nrrd"))
    label = sitk.ReadImage(str(SHARED / "ct/pyradiomics_lung1/lung1_label.nrrd"))
    mean = lambda b: np.round(b.astype(np.float32).mean(axis=(2, 4)))  # noqa: E731
    sitk.WriteImage(half_in_plane(lung, mean), str(OUT / "chest_ct.nii.gz"), useCompression=True)
    sitk.WriteImage(
        half_in_plane(label, lambda b: b.max(axis=(2, 4)), np.uint8), str(OUT / "chest_ct_nodule.nii.gz"), useCompression=True
    )
    copies = {
        "mr/pyradiomics/brain1_image.nrrd": "brain_mr.nrrd",
        "mr/pyradiomics/brain1_label.nrrd": "brain_mr_tumour.nrrd",
        "xray/cxr_lungs_montgomery/images/1.jpg": "chest_xray.jpg",
        "xray/cxr_lungs_montgomery/masks/1-mask.png": "chest_xray_lungs.png",
        "ultrasound/plus_mha/BkCurvilinearScanConvertedData.igs.mha": "ultrasound_curvilinear.mha",
        "ct/pyradiomics_lung1/LICENSE_pyradiomics_BSD-3-Clause.txt": "LICENSE_pyradiomics_BSD-3-Clause.txt",
        "xray/cxr_lungs_montgomery/LICENSE_lung-segmentation-2d_MIT.txt": "LICENSE_lung-segmentation-2d_MIT.txt",
        "ultrasound/plus_mha/LICENSE_PlusLibData_BSD-3.txt": "LICENSE_PlusLibData_BSD-3.txt",
    }
    for source, target in copies.items():
        shutil.copyfile(SHARED / source, OUT / target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
