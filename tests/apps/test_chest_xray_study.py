"""The chest radiograph study recipe on a PNG and on a CR DICOM (MONOCHROME1), in batch, with its reports."""

from __future__ import annotations

import numpy as np
from pypdf import PdfReader

from napari_medimg import read
from napari_medimg.pipeline import find_cases, load_workflow, run_batch


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return float(2 * (a & b).sum() / (a.sum() + b.sum()))


def test_chest_xray_study_in_batch(shared_data, tmp_path):
    folder = tmp_path / "cases"
    folder.mkdir()
    (folder / "cxr.jpg").symlink_to(shared_data / "xray/cxr_lungs_montgomery/images/1.jpg")
    (folder / "cr.dcm").symlink_to(shared_data / "dicom/single_files/pydicom-data__RG1_UNCR.dcm")
    manifest = run_batch(load_workflow("chest_xray_study"), find_cases(folder), tmp_path / "out", workers=1,
                         say=lambda _: None)
    assert manifest["summary"]["done"] == 2, [c.get("error") for c in manifest["cases"]]
    for case in manifest["cases"]:
        organs = read(tmp_path / "out" / case["outputs"]["organs"]["path"]).array
        assert set(np.unique(organs)) == {0, 1, 2, 3}
        page = (tmp_path / "out" / case["outputs"]["report"]["path"]).read_text()
        assert "right lung" in page and "cardiothoracic_ratio" in page and "not a clinical" in page
        assert case["id"].startswith("cxr") or "no_spacing" in page  # the CR gives no spacing: said on the page
        # the same page as a PDF a reader opens: its text holds the figures, no file name of the study
        pdf = PdfReader(tmp_path / "out" / case["outputs"]["report_pdf"]["path"])
        text = " ".join(" ".join(p.extract_text() for p in pdf.pages).split())  # lines wrap where the page ends
        assert "right lung" in text and "cardiothoracic_ratio" in text and "not a clinical" in text
        assert len(pdf.pages) <= 2 and pdf.metadata.title == "Chest radiograph study"
        assert case["id"] not in text and ".dcm" not in text and ".jpg" not in text
        table_value = page.split("<td>right lung</td><td>")[1].split("<")[0]  # the first figure of the right lung
        assert table_value in text
    # a Montgomery radiograph has a manual lung mask: the lungs of the recipe match it
    png = next(c for c in manifest["cases"] if c["id"].startswith("cxr"))
    organs = read(tmp_path / "out" / png["outputs"]["organs"]["path"]).array
    mask = read(shared_data / "xray/cxr_lungs_montgomery/masks/1-mask.png").array > 0
    assert dice(np.isin(organs, (1, 2)), mask) > 0.85  # Montgomery is in the model's development data (CV in its card)
