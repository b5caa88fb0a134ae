"""Training from a config (whole-image, spacing and slice models), cross-validation, predicting volumes."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("monai")

from _learn_data import disc_case  # noqa: E402

from napari_medimg.learn.apply import as_model_input, input_mode, predict_image, predict_volume  # noqa: E402
from napari_medimg.learn.experiment import Case, check_config, cross_validate, fit, folds, model_card  # noqa: E402
from napari_medimg.progress import OperationCancelled  # noqa: E402
from napari_medimg.volume import Volume  # noqa: E402

NET = {"name": "basic_unet", "spatial_dims": 2, "features": [8, 8, 16, 32, 64, 8]}
WHOLE = {"name": "discs", "classes": [{"value": 1, "name": "disc"}], "network": NET,
         "input": {"resize_to": [32, 32], "normalisation": {"kind": "percentile", "low": 1, "high": 99}},
         "augment": {"rotate_deg": 5, "noise": 0.02},
         "training": {"iterations": 30, "batch_size": 4, "lr": 0.01, "val_every": 10, "val_fraction": 0.25}}


def _cases(n, size=64):
    return [Case(*disc_case(seed, size), (1.0, 1.0), f"disc{seed}") for seed in range(n)]


def test_config_is_checked_with_clear_messages():
    with pytest.raises(ValueError, match="needs 'classes'"):
        check_config({k: v for k, v in WHOLE.items() if k != "classes"})
    with pytest.raises(ValueError, match="1..K without gaps"):
        check_config({**WHOLE, "classes": [{"value": 2, "name": "x"}]})
    with pytest.raises(ValueError, match="multiple of 16"):
        check_config({**WHOLE, "input": {"resize_to": [30, 30]}})
    with pytest.raises(ValueError, match="unknown training settings"):
        check_config({**WHOLE, "training": {"iters": 3}})
    with pytest.raises(ValueError, match="unknown augmentation"):
        check_config({**WHOLE, "augment": {"spin": 3}})
    with pytest.raises(ValueError, match="precision is 'float32' or 'bfloat16'"):
        check_config({**WHOLE, "training": {"precision": "float16"}})
    cfg = check_config(WHOLE)
    assert cfg["network"]["out_channels"] == 2 and cfg["input"]["patch_size"] == [32, 32]


def test_whole_image_model_learns_discs_and_predicts_on_any_grid():
    model, result, cfg = fit(_cases(8), {**WHOLE, "training": {**WHOLE["training"], "iterations": 60}})
    assert result.iterations == 60 and result.best_epoch >= 1
    card = {"architecture": cfg["network"], "input": cfg["input"]}
    image, labels = disc_case(99, 80)  # another size than the training images
    pred = predict_image(model, card, image)
    assert pred.shape == labels.shape and pred.dtype == np.uint8
    dice = 2 * ((pred == 1) & (labels == 1)).sum() / ((pred == 1).sum() + (labels == 1).sum())
    assert dice > 0.7  # 60 steps on 6 discs (measured 0.9)
    colour = np.repeat(image[..., None], 3, axis=-1)
    np.testing.assert_array_equal(predict_image(model, card, colour), pred)  # colour pictures become grey
    full = model_card(cfg, result, training={"data": "discs"})
    assert full["classes"][1]["name"] == "disc" and full["training"]["iterations_run"] == 60


def test_cross_validation_scores_each_fold_on_cases_it_never_saw():
    cases = _cases(6)
    report = cross_validate(cases, {**WHOLE, "training": {**WHOLE["training"], "iterations": 10}}, 3)
    assert len(report["folds"]) == 3
    seen = [name for fold in report["folds"] for name in fold["cases"]]
    assert sorted(seen) == sorted(c.name for c in cases)  # every case held out exactly once
    assert set(report["per_case"]) == {c.name for c in cases}
    assert set(report["mean"]) == {"disc"} and np.isfinite(report["sd"]["disc"])
    assert [len(f) for f in folds(7, 3)] == [3, 2, 2]
    with pytest.raises(ValueError, match="cannot make"):
        folds(2, 3)


def test_slice_model_trains_on_annotated_slices_and_predicts_a_volume():
    rng = np.random.default_rng(0)
    volume, labels = np.zeros((6, 48, 48), np.float32), np.full((6, 48, 48), 255, np.uint8)
    for z in range(6):
        image, lab = disc_case(z, 48)
        volume[z] = image + 3.0  # nonzero body
        if z % 2 == 0:
            labels[z] = lab  # only every other slice annotated
    config = {**WHOLE, "network": NET, "augment": {},
              "input": {"slice_axis": 0, "spacing": [1.0, 1.0], "patch_mm": [32, 32], "normalisation": {"kind": "mr"}},
              "training": {"iterations": 20, "batch_size": 4, "val_every": 10, "val_fraction": 0.0}}
    model, result, cfg = fit([Case(volume, labels, (2.0, 1.0, 1.0), "vol")], config)
    card = {"architecture": cfg["network"], "input": cfg["input"]}
    assert input_mode(cfg["input"]) == "slices"
    seen = []
    out = predict_image(model, card, volume, (2.0, 1.0, 1.0), progress=seen.append)
    assert out.shape == volume.shape and seen[-1] == 1.0
    with pytest.raises(OperationCancelled):
        predict_image(model, card, volume, (2.0, 1.0, 1.0), cancel=lambda: True)
    geometry = Volume(volume, (2.0, 1.0, 1.0), (5.0, -3.0, 1.0), np.eye(3), {"modality": "MR"})
    result_volume = predict_volume(model, {**card, "classes": [{"value": 0, "name": "bg"}, {"value": 1, "name": "disc"}]},
                                   geometry)
    assert result_volume.spacing == geometry.spacing and result_volume.origin == geometry.origin
    assert result_volume.metadata["kind"] == "labels" and result_volume.metadata["classes"] == [{"value": 1, "name": "disc"}]
    del rng


def test_model_input_shapes_are_checked():
    with pytest.raises(ValueError, match="does not fit a 2D model"):
        as_model_input(np.zeros((4, 8, 8)), 2)
    assert as_model_input(np.zeros((8, 8, 4)), 2).shape == (8, 8)


def test_nan_voxels_are_missing_not_garbage_and_infinite_ones_are_refused():
    model, _, cfg = fit(_cases(6), {**WHOLE, "training": {**WHOLE["training"], "iterations": 40}})
    card = {"architecture": cfg["network"], "input": cfg["input"]}
    image, _ = disc_case(7, 64)
    clean = predict_image(model, card, image)
    holed = image.copy()
    holed[:8, :8] = np.nan
    with pytest.warns(RuntimeWarning, match="64 NaN voxels"):
        labels = predict_image(model, card, holed)
    assert (labels[:8, :8] == 0).all()
    assert (labels[20:, 20:] == clean[20:, 20:]).mean() > 0.95  # the rest is segmented as before
    holed[0, 0] = np.inf
    with pytest.raises(ValueError, match="infinite|inf"):
        predict_image(model, card, holed)
    with pytest.raises(ValueError, match="every voxel"):
        predict_image(model, card, np.full((16, 16), np.nan, np.float32))
