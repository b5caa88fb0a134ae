"""CNN + RNN over slices: shapes, runs, and a task where the neighbours tell what a slice cannot."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from napari_medimg.learn.networks import build_network  # noqa: E402
from napari_medimg.learn.sequence import (  # noqa: E402
    SliceRuns,
    f1_score,
    fit_slice_model,
    predict_slices,
    prepare_volume,
    slice_targets,
)


def test_network_labels_every_slice_and_runs_share_one_warp():
    net = build_network({"name": "slice_sequence", "spatial_dims": 2, "in_channels": 1, "out_channels": 2,
                         "features": [8, 8], "hidden": 8}, seed=0)
    assert net(torch.zeros(2, 7, 1, 32, 32)).shape == (2, 2, 7)
    volume = np.zeros((10, 32, 32), np.float32)
    volume[:, 10:20, 12:16] = 1.0  # the same bar on every slice
    runs = SliceRuns([prepare_volume(volume, (32, 32), {"kind": "none"})], [np.zeros(10)], run_length=6,
                     batch_size=2, steps=3, augment={"rotate_deg": 30.0, "scale": 0.2, "shift": 0.1,
                                                     "intensity_scale": 0.0, "intensity_shift": 0.0, "noise": 0.0})
    for x, y in runs:
        assert x.shape == (2, 6, 1, 32, 32) and y.shape == (2, 6)
        np.testing.assert_allclose(x[:, 1:].numpy(), x[:, :1].expand(-1, 5, -1, -1, -1).numpy(), atol=1e-6)


def test_slice_targets_and_f1():
    labels = np.zeros((5, 4, 4), np.uint8)
    labels[1, 0, 0] = 1
    labels[2, :2, :2] = 2
    np.testing.assert_array_equal(slice_targets(labels), [0, 1, 1, 0, 0])
    np.testing.assert_array_equal(slice_targets(labels, min_voxels=2), [0, 0, 1, 0, 0])
    assert f1_score([0, 1, 1, 0], [0, 1, 0, 1]) == pytest.approx(0.5)
    assert np.isnan(f1_score([0, 0], [0, 0]))


def _faint_runs(n_volumes, seed):
    """Volumes of 40 noisy slices; a blob spans a run of slices, bright in the run's middle and
    nearly invisible at its ends: the ends are found from their neighbours."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:32, :32]
    volumes, targets = [], []
    for _ in range(n_volumes):
        volume = rng.normal(0, 1, (40, 32, 32)).astype(np.float32)
        start, length = int(rng.integers(5, 20)), int(rng.integers(8, 15))
        cy, cx = rng.integers(10, 22, 2)
        blob = ((yy - cy) ** 2 + (xx - cx) ** 2 < 30).astype(np.float32)
        for i in range(length):
            strength = 2.5 * np.sin(np.pi * (i + 0.5) / length) ** 2
            volume[start + i] += strength * blob
        target = np.zeros(40, np.int64)
        target[start:start + length] = 1
        volumes.append(prepare_volume(volume, (32, 32), {"kind": "none"}))
        targets.append(target)
    return volumes, targets


def test_the_sequence_model_uses_the_neighbours():
    """Measured (seed 0): F1 0.975 with the GRU against 0.770 slice by slice on 8 unseen volumes."""
    volumes, targets = _faint_runs(24, 0)
    test_volumes, test_targets = _faint_runs(8, 1)
    scores = {}
    for recurrent in (True, False):
        config = {"network": {"features": [8, 16, 16], "hidden": 16, "recurrent": recurrent},
                  "size": [32, 32], "augment": {"rotate_deg": 0.0, "noise": 0.0},
                  "training": {"iterations": 150, "run_length": 20, "batch_size": 4, "steps_per_epoch": 50,
                               "lr": 5e-3}}
        model, result = fit_slice_model(volumes, targets, config)
        assert result.iterations == 150
        truth = np.concatenate(test_targets)
        predicted = np.concatenate([predict_slices(model, v).argmax(1) for v in test_volumes])
        scores[recurrent] = f1_score(truth, predicted)
    assert scores[True] >= 0.85, scores
    assert scores[True] > scores[False] + 0.08, scores


class _MeanIsTumour(torch.nn.Module):
    """A stand-in slice classifier: a slice's tumour logit is its mean (so brighter slices score higher)."""

    def forward(self, x):
        mean = x.mean(dim=(2, 3, 4))
        return torch.stack([torch.zeros_like(mean), 10 * mean], 1)


@pytest.mark.parametrize("direction, axis", [
    (np.eye(3), 0),
    (np.diag([-1.0, 1.0, 1.0]), 0),  # slices stored foot to head: read reversed, reported in the file's order
    (np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]), 2),  # axial along the last array axis
])
def test_volume_slices_are_read_axially_and_reported_in_the_volume_own_order(direction, axis):
    from napari_medimg.learn.sequence import classify_volume_slices
    from napari_medimg.volume import Volume

    shape = [6, 8, 8]
    shape[axis] = 12
    ramp = np.arange(12, dtype=np.float32).reshape([-1 if a == axis else 1 for a in range(3)])
    noise = np.random.default_rng(0).normal(0, 0.01, shape).astype(np.float32)  # no flat background for MR z-scores
    array = np.broadcast_to(ramp, shape) + noise
    card = {"input": {"size": [8, 8], "normalisation": {"kind": "mr"}}, "classes": [{"name": "no"}, {"name": "yes"}]}
    result = classify_volume_slices(_MeanIsTumour(), card, Volume(array, (1.0, 1.0, 1.0), (0.0, 0.0, 0.0), direction))
    assert result.axis == axis and result.probabilities.shape == (12, 2)
    assert np.all(np.diff(result.probabilities[:, 1]) > 0)  # brighter slices (higher index) score higher
    table = result.table()
    assert list(table) == ["slice", "class", "probability", "no", "yes"]
    assert table["class"][-1] == "yes" and "volume probability" in result.summary()
    holed = array.copy()  # NaN voxels are missing values (the median), said, not NaN probabilities
    holed[(slice(None),) * axis + (0,)] = np.nan
    with pytest.warns(RuntimeWarning, match="NaN voxels taken as missing"):
        again = classify_volume_slices(_MeanIsTumour(), card, Volume(holed, (1.0, 1.0, 1.0), (0.0, 0.0, 0.0), direction))
    assert np.isfinite(again.probabilities).all()
