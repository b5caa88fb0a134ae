"""The report PDF writer: a strict PDF reader opens what it writes, text stays text, pages flow."""

from __future__ import annotations

import io

import numpy as np
from pypdf import PdfReader

from napari_medimg.pipeline.pdf_page import PdfReport, _width, _wrap


def read(pdf: PdfReport) -> tuple[PdfReader, str]:
    reader = PdfReader(io.BytesIO(pdf.to_bytes()), strict=True)  # strict: a wrong xref offset fails
    return reader, " ".join(" ".join(p.extract_text() for p in reader.pages).split())


def test_text_picture_and_table_read_back():
    pdf = PdfReport("Lung study (left)")
    pdf.heading("Lung study (left)", 16)
    pdf.text("Volume 1234.5 mL ± 2 %, voxels of 0.7 µm², angle 30°, 2 × 3, emphysema ≥ 950 HU − a \\ backslash.")
    picture = np.zeros((40, 60, 3), np.uint8)
    picture[10:30, 20:40] = (255, 0, 0)
    pdf.picture(picture)
    pdf.table(["label", "name", "volume_ml"], [["1", "right lung", "1782"], ["2", "left lung", "1101"]])
    pdf.bullets(["first step", "second step"], numbered=True)
    reader, text = read(pdf)
    assert len(reader.pages) == 1 and reader.metadata.title == "Lung study (left)"
    assert "Volume 1234.5 mL ± 2 %, voxels of 0.7 µm², angle 30°, 2 × 3, emphysema >= 950 HU - a \\ backslash." in text
    assert "right lung 1782" in text and "1. first step" in text and "page 1 of 1" in text
    (image,) = reader.pages[0].images
    shown = np.asarray(image.image.convert("RGB"))
    np.testing.assert_array_equal(shown, picture)  # stored losslessly


def test_long_content_flows_onto_pages_and_wide_tables_say_what_is_left_out():
    pdf = PdfReport("Nodules")
    pdf.table([f"column_{i}" for i in range(30)], [[f"{i * j:.4g}" for j in range(30)] for i in range(3)])
    for i in range(120):
        pdf.text(f"line {i}")
    reader, text = read(pdf)
    assert len(reader.pages) >= 3 and "line 0" in text and "line 119" in text
    assert f"page {len(reader.pages)} of {len(reader.pages)}" in text
    assert "more columns in the CSV" in text and "column_0" in text and "column_29" not in text


def test_wrapping_keeps_lines_inside_the_width():
    words = "the quick brown fox jumps over the lazy dog " * 20 + "x" * 400
    lines = _wrap(words, 10, "F1", 300)
    assert len(lines) > 5 and all(_width(line, 10, "F1") <= 300 for line in lines)
    assert "".join(lines).replace(" ", "") == words.replace(" ", "")
