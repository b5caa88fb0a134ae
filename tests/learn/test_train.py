import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("monai")

from napari_medimg.learn import IGNORE_LABEL
from napari_medimg.learn.losses import DiceCELoss
from napari_medimg.learn.networks import build_network
from napari_medimg.learn.patches import PatchSampler, patch_voxels
from napari_medimg.learn.train import train

from _learn_data import TINY_UNET, disc_case


def _data(seed=0):
    sampler = PatchSampler([disc_case(i) for i in range(4)], (1.0, 1.0), (32, 32), batch_size=4,
                           batches_per_epoch=10, multiple=16, seed=seed)
    val = PatchSampler([disc_case(100)], (1.0, 1.0), (32, 32), batch_size=4, multiple=16).fixed_batches(2)
    return sampler, val


def _run(**kwargs):
    sampler, val = _data()
    net = build_network(TINY_UNET, seed=0)
    return net, train(net, DiceCELoss(), sampler, val, num_classes=2, lr=1e-2, seed=0, **kwargs)


def test_tiny_unet_learns_a_disc_and_is_repeatable():
    net, result = _run(max_epochs=6)
    print(f"val Dice {result.history['val_dice']}, {result.iterations_per_second:.1f} it/s")
    assert result.stopped == "max_epochs" and result.iterations == 60
    assert result.best_metric > 0.8
    assert max(result.history["val_dice"]) == result.best_metric
    assert len(result.history["loss"]) == 6 and result.history["loss"][-1] < result.history["loss"][0]
    # the model holds the best weights
    assert all(torch.equal(v, result.best_state[k]) for k, v in net.state_dict().items())
    steps = []  # the same run again (same schedule), cancelled after two epochs
    # whole images, sliding window: the held-out disc is found
    from napari_medimg.learn.infer import evaluate_cases

    scores = evaluate_cases(net, [disc_case(100), disc_case(101, n=80)], 2, patch_size=(32, 32))
    print(f"whole-image Dice {scores['mean_foreground']}")
    assert min(scores["mean_foreground"]) > 0.8 and scores["pooled"][1] > 0.8
    _, again = _run(max_epochs=6, progress=lambda f, h: steps.append(f), cancel=lambda: len(steps) >= 22)
    assert again.history["loss"] == result.history["loss"][:2]
    assert again.history["val_dice"] == result.history["val_dice"][:2]


def test_bfloat16_training_learns_as_float32_does_or_falls_back_with_a_warning():
    from napari_medimg.learn.sliding_window import bfloat16_supported

    if bfloat16_supported(torch.device("cpu")):
        _, result = _run(max_epochs=6, precision="bfloat16")
    else:
        with pytest.warns(UserWarning, match="bfloat16 is not supported natively"):
            _, result = _run(max_epochs=6, precision="bfloat16")
    assert result.best_metric > 0.8  # float32: the same disc task above
    assert all(v.dtype == torch.float32 for v in result.best_state.values() if v.is_floating_point())


def test_cancel_returns_the_best_state_and_history_so_far():
    calls = []

    def progress(fraction, history):
        calls.append((fraction, len(history["loss"])))

    net, result = _run(max_epochs=6, progress=progress, cancel=lambda: len(calls) >= 25)
    assert result.stopped == "cancelled"
    assert result.iterations == 23  # 2 epochs of 10 steps (+1 report each) and 3 steps: stopped within one step
    assert len(result.history["val_dice"]) == 2
    assert result.best_epoch == int(np.argmax(result.history["val_dice"])) + 1
    assert all(torch.equal(v, result.best_state[k]) for k, v in net.state_dict().items())
    assert 0 < calls[0][0] < calls[-1][0] < 1


def test_early_stopping_and_max_iterations():
    _, result = _run(max_epochs=50, patience=1, min_delta=0.5)
    assert result.stopped == "early_stopping" and len(result.history["loss"]) == 2
    _, result = _run(max_epochs=50, max_iterations=15)
    assert result.stopped == "max_iterations" and result.iterations == 15 and len(result.history["loss"]) == 2


def test_unlabelled_voxels_do_not_contribute_to_the_loss():
    torch.manual_seed(0)
    logits = torch.randn(2, 3, 16, 16, requires_grad=True)
    target = torch.randint(0, 3, (2, 16, 16))
    partial = target.clone()
    partial[:, :8] = IGNORE_LABEL
    other = partial.clone()
    other[:, :8] = torch.randint(0, 3, (2, 8, 16))  # what the unlabelled voxels "are" must not matter
    other[:, :8] = torch.where(other[:, :8] == 0, -1, IGNORE_LABEL)
    loss = DiceCELoss()
    value = loss(logits, partial)
    (grad,) = torch.autograd.grad(value, logits)
    assert torch.count_nonzero(grad[:, :, :8]) == 0 and torch.count_nonzero(grad[:, :, 8:]) > 0
    assert torch.allclose(value, loss(logits, other))
    # changing the logits where nothing is labelled changes nothing
    changed = logits.detach().clone()
    changed[:, :, :8] = 10 * torch.randn_like(changed[:, :, :8])
    assert torch.allclose(value, loss(changed, partial))
    assert loss(logits, torch.full_like(target, IGNORE_LABEL)).item() == 0.0
    with pytest.raises(ValueError, match="label 3 .* 3 classes"):
        loss(logits, torch.full_like(target, 3))


def test_partial_labels_train_from_the_annotated_rows_only():
    image, labels = disc_case(3)
    partial = labels.astype(np.int64)
    partial[:40] = IGNORE_LABEL
    sampler = PatchSampler([(image, partial)], (1.0, 1.0), (16, 16), batch_size=8, batches_per_epoch=2, seed=0)
    for images, batch in sampler:
        assert images.shape == (8, 1, 16, 16) and batch.shape == (8, 16, 16)
        # every patch is centred on an annotated voxel, so every patch carries annotation
        assert (batch != IGNORE_LABEL).any(axis=(1, 2)).all()
        assert set(np.unique(batch)) <= {0, 1, IGNORE_LABEL}
    net = build_network(TINY_UNET, seed=0)
    result = train(net, DiceCELoss(), sampler, [sampler.batch()], num_classes=2, max_epochs=2, seed=0)
    assert np.isfinite(result.history["loss"]).all() and np.isfinite(result.history["val_dice"]).all()


def test_patch_sampler_sizes_in_mm_and_balances_classes():
    assert patch_voxels((40.0, 40.0, 40.0), (2.5, 0.8, 0.8)) == (16, 50, 50)
    assert patch_voxels((40.0, 40.0), (0.8, 0.8), multiple=16) == (48, 48)
    image, labels = disc_case(1)
    sampler = PatchSampler([(image, labels)], (0.5, 0.5), (8.0, 8.0), batch_size=200, seed=0)
    assert sampler.patch_size == (16, 16)
    _, batch = sampler.batch()
    centre_fg = batch[:, 8, 8] == 1
    assert 0.4 < centre_fg.mean() < 0.75  # half centred on foreground, the rest anywhere (disc covers ~10 %)
    with pytest.raises(ValueError, match="no labelled voxel"):
        PatchSampler([(image, np.full_like(labels, IGNORE_LABEL))], (1, 1), (8, 8))


def test_flips_keep_image_and_labels_aligned():
    image, labels = disc_case(2)
    ramp = np.add.outer(np.arange(64), 100 * np.arange(64)).astype(np.float32)  # unique value per pixel
    sampler = PatchSampler([(ramp, labels)], (1.0, 1.0), (16, 16), batch_size=32, flip_axes=(0, 1), seed=0)
    images, batch = sampler.batch()
    flipped = 0
    for img, lab in zip(images[:, 0], batch):
        rows, cols = (img % 100).astype(int), (img // 100).astype(int)  # where each pixel came from
        assert np.array_equal(labels[rows, cols], lab)
        flipped += rows[0, 0] > rows[-1, 0]
    assert 0 < flipped < 32
    with pytest.raises(ValueError, match="flip axes"):
        PatchSampler([(image, labels)], (1.0, 1.0), (16, 16), flip_axes=(2,))


def test_dice_counts_over_annotated_voxels():
    from napari_medimg.learn.metrics import dice_counts, dice_scores

    truth = np.array([0, 1, 1, 2, IGNORE_LABEL, IGNORE_LABEL])
    pred = np.array([0, 1, 0, 2, 1, 2])
    counts = dice_counts(pred, truth, 3)
    assert counts.tolist() == [[1, 2, 1], [1, 1, 2], [1, 1, 1]]
    assert np.allclose(dice_scores(counts), [2 / 3, 2 / 3, 1.0])
    assert np.isnan(dice_scores(dice_counts(np.zeros(3), np.zeros(3), 2))[1])
