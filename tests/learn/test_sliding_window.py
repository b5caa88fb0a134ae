"""Our sliding window against MONAI's ``sliding_window_inference`` on small inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("monai")

from napari_medimg.learn.networks import build_network  # noqa: E402
from napari_medimg.learn.sliding_window import (  # noqa: E402
    _tile_plan, axis_tiles, bfloat16_supported, blend_weights, sliding_window)
from napari_medimg.progress import OperationCancelled  # noqa: E402


def unet(ndim: int, classes: int = 3):
    config = {"name": "basic_unet", "spatial_dims": ndim, "in_channels": 1, "out_channels": classes,
              "features": [4, 4, 8, 8, 16, 4]}
    return build_network(config, seed=0).eval()


def pointwise(ndim: int, classes: int = 3):
    """A network without spatial context (1x1 convolutions): any tiling gives the same logits."""
    conv = torch.nn.Conv2d if ndim == 2 else torch.nn.Conv3d
    torch.manual_seed(0)
    return torch.nn.Sequential(conv(1, 8, 1), torch.nn.Tanh(), conv(8, classes, 1)).eval()


def monai_logits(model, image, patch, overlap=0.25, batch_size=1, mode="gaussian"):
    from monai.inferers import sliding_window_inference

    with torch.no_grad():
        return sliding_window_inference(torch.from_numpy(image)[None], patch, batch_size, model, overlap=overlap,
                                        mode=mode)[0]


def decided(logits: torch.Tensor, margin: float = 1e-4) -> np.ndarray:
    """Voxels whose two best logits differ by more than ``margin`` (float rounding cannot swap them)."""
    top = logits.topk(2, dim=0).values
    return (top[0] - top[1] > margin).numpy()


@pytest.mark.parametrize("shape, patch, overlap, batch", [
    ((1, 37, 29), (16, 16), 0.25, 1),          # 2D, odd shape
    ((1, 11, 9), (16, 16), 0.5, 2),            # 2D, smaller than the patch (padded as MONAI pads)
    ((1, 21, 35, 18), (16, 16, 16), 0.5, 3),   # 3D, odd, batch > 1
    ((1, 9, 40, 13), (16, 16, 16), 0.25, 2),   # 3D, two axes smaller than the patch
])
def test_windows_of_patch_size_are_monais(shape, patch, overlap, batch):
    model = unet(len(patch))
    image = np.random.default_rng(1).normal(0, 1, shape).astype(np.float32)
    ref = monai_logits(model, image, patch, overlap, batch)
    labels, unsure = sliding_window(model, image, patch, overlap=overlap, tile_voxels=0, batch_size=batch,
                                    uncertainty=True)
    assert labels.shape == shape[1:] and labels.dtype == np.uint8 and unsure.dtype == np.uint8
    sure = decided(ref)
    assert sure.mean() > 0.9
    assert np.array_equal(labels[sure], ref.argmax(0).numpy()[sure])
    p = torch.softmax(ref, 0)
    entropy = (-(p * p.log()).sum(0) / math.log(3) * 100).numpy()
    assert np.abs(unsure - entropy).max() <= 1.0


@pytest.mark.parametrize("shape, patch", [((1, 70, 45), (16, 16)), ((1, 40, 23, 50), (16, 16, 16))])
def test_large_tiles_cover_the_image_exactly_once_per_voxel_class(shape, patch):
    """With no spatial context, tiles of any size must give MONAI's labels everywhere."""
    model = pointwise(len(patch))
    image = np.random.default_rng(2).normal(0, 1, shape).astype(np.float32)
    ref = monai_logits(model, image, patch)
    for tile_voxels in (0, 2 * math.prod(patch), 10**9):
        labels, _ = sliding_window(model, image, patch, tile_voxels=tile_voxels, multiple=8)
        sure = decided(ref)
        assert np.array_equal(labels[sure], ref.argmax(0).numpy()[sure])


def test_tile_plan_respects_the_budget_and_monais_windows():
    assert axis_tiles(100, 64, 0.25, 64, 16) == (64, [0, 36])        # MONAI: interval 48, last moved back
    assert axis_tiles(256, 64, 0.5, 256, 16) == (256, [0])
    size, starts = axis_tiles(256, 64, 0.5, 150, 16)
    assert size == 144 and starts == [0, 112]                          # overlap 32 = two windows' overlap
    sizes, starts = _tile_plan((256, 256, 256), (64, 64, 64), 0.5, 160**3, 16)
    assert math.prod(sizes) <= 160**3 and all(s[-1] + n == 256 for s, n in zip(starts, sizes))
    w = blend_weights((96,), (64,))
    g = blend_weights((64,), (64,))
    assert np.allclose(w[:32], g[:32]) and np.allclose(w[-32:], g[-32:]) and np.all(w[32:64] == 1)
    from monai.data.utils import compute_importance_map

    assert np.allclose(blend_weights((16, 12), (16, 12)), compute_importance_map((16, 12), "gaussian").numpy())


def test_tta_averages_the_flipped_predictions_probabilities():
    model = unet(2)
    image = np.random.default_rng(3).normal(0, 1, (1, 40, 24)).astype(np.float32)
    labels, unsure = sliding_window(model, image, (16, 16), tile_voxels=0, tta_axes=(0, 1), uncertainty=True)
    flips = [(), (2,), (3,), (2, 3)]

    def tta(x):  # MONAI's windows, each predicted as the mean probability of its flips
        return sum(torch.softmax(model(x.flip(d)).flip(d), 1) for d in flips) / len(flips)

    ref = monai_logits(tta, image, (16, 16))
    sure = decided(ref)
    assert sure.mean() > 0.9 and np.array_equal(labels[sure], ref.argmax(0).numpy()[sure])
    entropy = (-(ref * ref.log()).sum(0) / math.log(3) * 100).numpy()
    assert np.abs(unsure - entropy).max() <= 1.0


def test_progress_and_cancel_between_forward_passes():
    model = unet(2)
    image = np.zeros((1, 64, 64), np.float32)
    seen = []
    sliding_window(model, image, (16, 16), tile_voxels=0, progress=seen.append)
    assert seen == sorted(seen) and seen[-1] == 1.0 and len(seen) == 25    # 5 x 5 windows
    calls = []

    def cancel():
        calls.append(1)
        return len(calls) > 2

    with pytest.raises(OperationCancelled):
        sliding_window(model, image, (16, 16), tile_voxels=0, cancel=cancel)
    assert len(calls) == 3


def test_bfloat16_falls_back_with_a_warning_or_agrees_with_float32():
    from napari_medimg.learn.infer import bfloat16_agreement, predict

    model = unet(3)
    image = np.random.default_rng(4).normal(0, 1, (20, 20, 20)).astype(np.float32)
    if not bfloat16_supported(torch.device("cpu")):
        with pytest.warns(UserWarning, match="bfloat16 is not supported"):
            labels = predict(model, image, patch_size=(16, 16, 16), dtype="bfloat16")
        assert np.array_equal(labels, predict(model, image, patch_size=(16, 16, 16)))
    result = bfloat16_agreement(model, image, patch_size=(16, 16, 16))
    assert 0.5 < result["agreement"] <= 1.0 and result["seconds_bfloat16"] > 0
