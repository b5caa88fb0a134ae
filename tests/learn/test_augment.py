"""Augmentation in mm: geometry, labels kept intact, settings checked."""

import numpy as np
import pytest

from napari_medimg.learn.augment import Augmentation
from napari_medimg.learn.patches import PatchSampler


def _disc(shape=(64, 64), radius=12.0, centre=None):
    centre = np.asarray(centre if centre is not None else [(n - 1) / 2 for n in shape])
    grid = np.indices(shape).astype(float)
    return (np.sqrt(((grid - centre.reshape(-1, *[1] * len(shape))) ** 2).sum(0)) <= radius).astype(np.int64)


def test_identity_settings_give_the_plain_crop():
    rng = np.random.default_rng(0)
    image = rng.normal(size=(1, 40, 50)).astype(np.float32)
    labels = rng.integers(0, 3, size=(40, 50))
    aug = Augmentation(rotate_deg=0.0, scale=0.0)
    out_img, out_lab = Augmentation(rotate_deg=1e-9).sample(image, labels, (20, 25), (16, 16), (1.0, 1.0), rng,
                                                            ignore_label=255)
    np.testing.assert_allclose(out_img[0], image[0, 12:28, 17:33], atol=1e-5)
    np.testing.assert_array_equal(out_lab, labels[12:28, 17:33])
    assert not aug.spatial


def test_rotation_acts_in_mm_on_anisotropic_voxels():
    # a disc of radius 12 mm drawn on 1 x 2 mm pixels stays a disc of the same area after rotation
    shape, spacing = (80, 40), (1.0, 2.0)
    grid = np.indices(shape).astype(float) * np.array(spacing)[:, None, None]
    disc = (np.sqrt((grid[0] - 40) ** 2 + (grid[1] - 40) ** 2) <= 12).astype(np.int64)
    rng = np.random.default_rng(1)
    aug = Augmentation(rotate_deg=45)
    for _ in range(5):
        _, lab = aug.sample(disc[None].astype(np.float32), disc, (40, 20), (64, 32), spacing, rng, ignore_label=255)
        assert abs((lab == 1).sum() - disc.sum()) <= 0.05 * disc.sum()


def test_scaling_and_elastic_keep_labels_valid_and_mark_outside_unlabelled():
    labels = _disc((48, 48), 10) * 2
    image = labels[None].astype(np.float32)
    rng = np.random.default_rng(2)
    aug = Augmentation(rotate_deg=30, scale=0.2, elastic_mm=3, elastic_grid_mm=16)
    for _ in range(5):
        img, lab = aug.sample(image, labels, (24, 24), (64, 64), (1.0, 1.0), rng, ignore_label=255)
        assert set(np.unique(lab)) <= {0, 2, 255}
        assert (lab == 255).any()  # a 64 px patch from a 48 px image reaches outside
        assert img.dtype == np.float32 and img.shape == (1, 64, 64)
        # label and image move together: labelled-2 voxels are bright
        assert img[0][lab == 2].mean() > 1.5


def test_intensity_changes_stay_finite_and_vary():
    rng = np.random.default_rng(3)
    aug = Augmentation(intensity_scale=0.2, intensity_shift=0.1, gamma=0.3, noise=0.05)
    base = np.linspace(0, 1, 100, dtype=np.float32).reshape(1, 10, 10)
    outs = [aug.intensity(base.copy(), rng) for _ in range(4)]
    assert all(np.isfinite(o).all() for o in outs)
    assert not np.allclose(outs[0], outs[1])


def test_settings_are_checked_and_round_trip():
    with pytest.raises(ValueError, match="unknown augmentation"):
        Augmentation.from_dict({"rotate": 10})
    with pytest.raises(ValueError, match="finite"):
        Augmentation(noise=float("nan"))
    aug = Augmentation.from_dict({"rotate_deg": 10, "rotate_axes": [[1, 2]], "elastic_mm": 2})
    assert Augmentation.from_dict(aug.to_dict()) == aug


def test_sampler_augments_training_batches_but_not_fixed_validation_batches():
    labels = _disc((64, 64), 14)
    image = labels.astype(np.float32)
    kwargs = dict(batch_size=2, seed=0)
    plain = PatchSampler([(image, labels)], (1.0, 1.0), (32, 32), **kwargs).fixed_batches(2)
    augmented = PatchSampler([(image, labels)], (1.0, 1.0), (32, 32), augment={"rotate_deg": 20, "noise": 0.1},
                             **kwargs)
    for (a, b), (c, d) in zip(plain, augmented.fixed_batches(2)):
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(b, d)
    img, _ = augmented.batch()
    assert not np.isin(img, [0.0, 1.0]).all()  # noise was added
