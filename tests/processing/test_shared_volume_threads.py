"""Four threads running operations on one shared Volume give the serial results."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from napari_medimg.operations import run_operation
from napari_medimg.volume import Volume

CALLS = [
    ("gaussian", {"sigma": 1.5}),
    ("median_filter", {"radius": 1.0}),
    ("threshold_auto", {"method": "otsu"}),
    ("clahe", {}),
    ("resample_isotropic", {"spacing": 1.0}),
    ("gradient_magnitude", {"sigma": 1.0}),
    ("anisotropic_diffusion", {"iterations": 2}),
    ("unsharp_mask", {"radius": 1.0, "amount": 0.5}),
]


def test_four_threads_on_one_volume_match_the_serial_results():
    rng = np.random.default_rng(3)
    array = rng.normal(100, 25, (12, 48, 40)).astype(np.float32)
    array[4:8, 10:30, 10:25] += 80
    volume = Volume(array, (2.0, 0.8, 0.9), (1.0, 2.0, 3.0), np.eye(3), {"units": "HU"})
    snapshot = array.copy()
    serial = [run_operation(name, volume, **values).array for name, values in CALLS]
    with ThreadPoolExecutor(max_workers=4) as pool:
        for order in (list(range(len(CALLS))), list(range(len(CALLS)))[::-1]):
            futures = {i: pool.submit(run_operation, CALLS[i][0], volume, **CALLS[i][1]) for i in order}
            for i, future in futures.items():
                np.testing.assert_array_equal(future.result().array, serial[i], err_msg=CALLS[i][0])
    np.testing.assert_array_equal(volume.array, snapshot)  # nobody wrote into the shared input
