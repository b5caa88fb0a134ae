"""A DICOM series that would not fit in memory is refused from its tags, before decoding."""

from __future__ import annotations

import shutil

import numpy as np
import pydicom
import pytest

from napari_medimg.io import read
from napari_medimg.io.dicom import _reader
from napari_medimg.io.errors import ImageReadError
from napari_medimg.io.validate import _budget

GIB = float(1 << 30)


def _no_decoding(*args, **kwargs):
    raise AssertionError("pixels were decoded before the budget check")


def test_series_too_large_is_refused_with_the_figures(shared_data, monkeypatch):
    folder = shared_data / "dicom/mr_sag_t1_siemens_hfs/dicom"
    volume = read(folder)  # the real size: what the estimate must match
    n = volume.array.shape[0]
    rows, columns = volume.array.shape[1:]
    decoded = rows * columns * n * 2  # 16-bit stored
    monkeypatch.setattr(_budget, "available_memory", lambda: decoded)  # less than the 3 copies needed
    monkeypatch.setattr(_reader, "_decode_series", _no_decoding)
    with pytest.raises(ImageReadError) as info:
        read(folder)
    message = str(info.value)
    assert message.startswith(f"{folder}: the series declares {rows} x {columns} pixels x {n} frame(s) in {n} file(s)")
    assert f"({decoded / GIB:.1f} GiB decoded); reading it needs about {3 * decoded / GIB:.1f} GiB" in message
    assert "read fewer files" in message


def test_series_that_fits_is_read(shared_data, monkeypatch):
    monkeypatch.setattr(_budget, "available_memory", lambda: 64 << 30)
    volume = read(shared_data / "dicom/mr_sag_t1_siemens_hfs/dicom")
    assert volume.array.size > 0


def test_hostile_frame_count_is_refused_before_decoding(shared_data, tmp_path, monkeypatch):
    """A 1-frame file whose tags claim 65,535 frames of 4096 x 4096 (2 TiB; three 16-bit copies at the peak): refused, not tried."""
    source = shared_data / "dicom/single_files/pydicom__CT_small.dcm"
    ds = pydicom.dcmread(source)
    ds.Rows, ds.Columns, ds.NumberOfFrames = 4096, 4096, 65535
    path = tmp_path / "huge.dcm"
    ds.save_as(path)
    monkeypatch.setattr(_budget, "available_memory", lambda: 8 << 30)
    monkeypatch.setattr(_reader, "_decode_series", _no_decoding)
    with pytest.raises(ImageReadError, match=r"huge.dcm: the series declares 4096 x 4096 pixels x 65535 frame\(s\) in 1 file\(s\), 2 byte\(s\) per pixel \(2048\.0 GiB decoded\); reading it needs about 6143\.9 GiB but only 8\.0 GiB"):
        read(path)
