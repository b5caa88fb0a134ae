import numpy as np
import pytest

from napari_medimg.learn import IGNORE_LABEL
from napari_medimg.learn.data import prepare_pairs, resample_pair, resampled_shape
from napari_medimg.learn.patches import PatchSampler


def _ball(shape=(12, 40, 40), spacing=(3.0, 0.75, 0.75), radius_mm=9.0):
    zz, yy, xx = np.indices(shape) * np.asarray(spacing)[:, None, None, None]
    centre = (np.asarray(shape) - 1) * np.asarray(spacing) / 2
    labels = (((zz - centre[0]) ** 2 + (yy - centre[1]) ** 2 + (xx - centre[2]) ** 2) < radius_mm ** 2).astype(np.uint8)
    image = (labels * 200 + np.random.default_rng(0).normal(40, 20, shape)).astype(np.int16)
    return image, labels


def test_pairs_are_resampled_to_one_spacing_keeping_the_ignore_value():
    image, labels = _ball()
    labels[:4] = IGNORE_LABEL
    assert resampled_shape(labels.shape, (3.0, 0.75, 0.75), (1.5, 1.5, 1.5)) == (24, 20, 20)
    img2, lab2 = resample_pair(image, labels, (3.0, 0.75, 0.75), (1.5, 1.5, 1.5))
    assert img2.shape == lab2.shape == (24, 20, 20) and img2.dtype == np.float32 and lab2.dtype == np.uint8
    assert set(np.unique(lab2)) == {0, 1, IGNORE_LABEL} and (lab2[:8] == IGNORE_LABEL).all()
    # the ball keeps its volume in mL to within a few per cent
    assert abs((lab2 == 1).sum() * 1.5 ** 3 / ((labels == 1).sum() * 3 * 0.75 ** 2) - 1) < 0.1
    (p_img, p_lab), = prepare_pairs([(image, labels)], (3.0, 0.75, 0.75), target_spacing=(1.5, 1.5, 1.5),
                                    normalisation={"kind": "ct", "window": [0, 400]})
    assert p_img.shape == (24, 20, 20) and 0 <= p_img.min() and p_img.max() <= 1


def test_a_tiny_3d_unet_trains_on_anisotropic_patches():
    torch = pytest.importorskip("torch")
    pytest.importorskip("monai")
    from napari_medimg.learn.losses import DiceCELoss
    from napari_medimg.learn.networks import build_network
    from napari_medimg.learn.train import train

    image, labels = _ball()
    pairs = prepare_pairs([(image, labels)], (3.0, 0.75, 0.75), normalisation={"kind": "mr"})
    sampler = PatchSampler(pairs, (3.0, 0.75, 0.75), (48.0, 12.0, 12.0), batch_size=2, batches_per_epoch=3,
                           multiple=16, seed=0)
    assert sampler.patch_size == (16, 16, 16)
    net = build_network({"name": "basic_unet", "spatial_dims": 3, "in_channels": 1, "out_channels": 2,
                         "features": [4, 4, 8, 8, 16, 4]}, seed=0)
    result = train(net, DiceCELoss(), sampler, sampler.fixed_batches(1), num_classes=2, max_epochs=2, seed=0)
    assert result.iterations == 6 and len(result.history["val_dice"]) == 2
    assert np.isfinite(result.history["loss"]).all() and torch.is_tensor(next(iter(result.best_state.values())))
