"""The reader given many files: each series is read once."""

from __future__ import annotations

from unittest import mock

from napari_medimg._napari.reader import read_layers


def test_files_of_one_series_give_one_layer_and_shared_uids_stay_apart(shared_data):
    tilted = sorted(str(p) for p in (shared_data / "dicom/ct_head_gantry_tilt_ge/dicom").iterdir())
    with mock.patch("napari.utils.notifications.show_warning"), mock.patch(
        "napari_medimg._napari.reader.read", wraps=__import__("napari_medimg").read
    ) as reads:
        layers = read_layers(tilted)
    assert len(layers) == 1 and reads.call_count == 1
    assert layers[0][0].shape[0] == len(tilted)
    # three series share one SeriesInstanceUID there and differ by SeriesNumber
    twelve_bit = sorted(str(p) for p in (shared_data / "dicom/mr_12bit_edgecase/dicom").iterdir())
    with mock.patch("napari.utils.notifications.show_warning"):
        assert len(read_layers(twelve_bit)) == len(twelve_bit) == 3
