"""Training data from partly painted label arrays: the painting convention, the validation split, a session."""

import numpy as np
import pytest

from napari_medimg.learn import IGNORE_LABEL
from napari_medimg.learn.layers import (
    UNPAINTED,
    TrainingSession,
    class_values,
    encode_labels,
    network_config,
    painted_slices,
    training_data,
    validation_split,
)

from _learn_data import disc_case


def _volume(slices=8, n=48, seed=0):
    """A stack of bright discs on noise: image (z, y, x) and full truth (label 3 inside)."""
    cases = [disc_case(seed + z, n) for z in range(slices)]
    image = np.stack([c[0] for c in cases])
    truth = np.stack([c[1] for c in cases]).astype(np.uint8) * 3
    return image, truth


def test_painted_slices_and_classes():
    labels = np.zeros((5, 4, 4), np.uint8)
    labels[1, 0, 0] = 2
    labels[3, 1:3, 1:3] = 7
    assert painted_slices(labels).tolist() == [1, 3]
    assert painted_slices(labels[3]).tolist() == [0] and painted_slices(labels[0]).tolist() == []
    assert class_values([labels]) == [2, 7]
    assert class_values([labels], background=2) == [7]  # the background label is not a class
    with pytest.raises(ValueError, match="paint the structure"):
        class_values([np.zeros((3, 3), np.uint8)])
    with pytest.raises(ValueError, match="other than the background label 2"):
        class_values([labels[1]], background=2)


def test_unpainted_voxels_of_a_painted_slice_are_background_by_default():
    plane = np.array([[0, 5, 9], [0, 0, 5]], np.uint8)
    assert encode_labels(plane, [5, 9]).tolist() == [[0, 1, 2], [0, 0, 1]]
    # scribbles: label 1 is painted background, unpainted voxels are left out
    scribbles = np.array([[0, 1, 9], [1, 0, 0]], np.uint8)
    assert encode_labels(scribbles, [9], background=1).tolist() == [[IGNORE_LABEL, 0, 1], [0, IGNORE_LABEL, IGNORE_LABEL]]
    with pytest.raises(ValueError, match=r"values \[4\] are not among the model's classes \[5, 9\]"):
        encode_labels(np.array([[4, 5]]), [5, 9])


def test_validation_split_holds_out_inner_slices():
    assert validation_split(2).tolist() == []
    assert validation_split(3).tolist() == [1]
    assert validation_split(10).tolist() == [3, 6]
    held = validation_split(23)
    assert len(held) == 5 and 0 not in held and 22 not in held


def test_training_data_uses_painted_slices_only_and_holds_some_out():
    image, truth = _volume(8)
    painted = np.zeros_like(truth)
    painted[[1, 3, 5, 6]] = truth[[1, 3, 5, 6]]
    data = training_data([(image, painted, (3.0, 0.5, 0.5))])
    assert data.values == [3] and data.num_classes == 2 and data.spacing == (0.5, 0.5)
    assert data.held_out and data.val_slices == [(0, 5)] and data.slices == [(0, 1), (0, 3), (0, 6)]
    assert len(data.train) == 3 and len(data.val) == 1
    img, lab = data.train[0]
    assert img.dtype == np.float32 and img.shape == (48, 48) and lab.dtype == np.uint8
    assert np.array_equal(lab, truth[1] // 3)  # unpainted voxels of a painted slice: background
    # normalised over the whole volume (as prediction does), not slice by slice
    assert 0.0 <= img.min() and img.max() <= 1.0 and data.normalisation == {"kind": "percentile", "low": 0.5, "high": 99.5}
    assert "4 painted slice(s) in 1 image(s): 3 for training, 1 held out" in data.summary()


def test_training_data_several_pairs_one_spacing_and_too_few_slices():
    image, truth = _volume(2)
    small = image[:, ::2, ::2], truth[:, ::2, ::2]
    # the second pair has twice the pixel size: resampled to the first's spacing
    data = training_data([(image[0], truth[0], (1.0, 1.0)), (small[0][1], small[1][1], (2.0, 2.0))])
    assert [p[0].shape for p in data.train] == [(48, 48), (48, 48)]
    assert not data.held_out and data.val is data.train and "training slices" in data.summary()
    with pytest.raises(ValueError, match="shape"):
        training_data([(image, truth[:1], (1, 1, 1))])
    with pytest.raises(ValueError, match="nothing to learn"):
        training_data([(image, np.zeros_like(truth), (1, 1, 1))])


def test_network_config_sizes():
    assert network_config("tiny", 3)["features"] == [8, 8, 16, 32, 64, 8]
    assert network_config("tiny", 3)["out_channels"] == 3
    with pytest.raises(ValueError, match="unknown network size"):
        network_config("huge", 2)


def test_session_trains_stops_resumes_saves_loads_and_predicts(tmp_path):
    torch = pytest.importorskip("torch")
    pytest.importorskip("monai")
    image, truth = _volume(6, n=44)
    painted = np.zeros_like(truth)
    painted[[0, 2, 4]] = truth[[0, 2, 4]]
    data = training_data([(image, painted, (2.0, 1.0, 1.0))])
    session = TrainingSession("tiny")
    steps = []
    result = session.train(data, patch_mm=(32, 32), iterations=40, device="cpu", lr=1e-2,
                           progress=lambda f, h: steps.append((f, len(h["loss"]))), cancel=lambda: len(steps) >= 14,
                           names={3: "disc"}, colours={3: (1.0, 0.0, 0.0, 1.0)}, sources=["discs"])
    assert result.stopped == "cancelled" and result.iterations == 12  # 5 steps (+1 report) per epoch: 2 epochs and 2 steps
    assert session.history["iterations"] == [5, 10] and len(session.history["val_dice"]) == 2
    assert "CPU" in session.device_message
    card = session.card
    assert card["classes"] == [{"value": 0, "name": "background"}, {"value": 3, "name": "disc", "color": [1.0, 0.0, 0.0]}]
    assert card["input"]["spacing"] == [1.0, 1.0] and card["input"]["patch_size"] == [32, 32]
    assert card["validation"]["kind"] == "held-out painted slices" and card["training"]["stopped"] == "cancelled"
    # resume: the history goes on, iterations count on
    session.train(data, patch_mm=(32, 32), iterations=60, device="cpu", lr=1e-2)
    assert session.history["iterations"][:2] == [5, 10] and session.history["iterations"][-1] == 70
    path = session.save(tmp_path / "discs.safetensors")
    loaded = TrainingSession.load(path)
    assert loaded.values == [3] and loaded.history == session.history
    assert all(torch.equal(v, session.state[k]) for k, v in loaded.state.items())
    labels = loaded.predict(image, (2.0, 1.0, 1.0), device="cpu")
    assert labels.shape == image.shape and labels.dtype == np.uint8 and set(np.unique(labels)) <= {0, 3}
    dice = 2 * np.sum((labels == 3) & (truth == 3)) / (np.sum(labels == 3) + np.sum(truth == 3))
    print(f"whole-volume Dice after 70 steps: {dice:.3f}")
    assert dice > 0.7
    # a 2D picture is one slice; Stop raises OperationCancelled
    from napari_medimg.progress import OperationCancelled

    picture = loaded.predict(image[2], (1.0, 1.0), device="cpu")  # normalised alone: nearly the same
    assert picture.shape == image[2].shape and np.mean(picture == labels[2]) > 0.99
    with pytest.raises(OperationCancelled):
        loaded.predict(image, (2.0, 1.0, 1.0), device="cpu", cancel=lambda: True)
    # fine-tuning needs the same classes
    other = painted.copy()
    other[other == 3] = 4
    with pytest.raises(ValueError, match=r"not among the model's classes \[3\]"):
        training_data([(image, other, (2.0, 1.0, 1.0))], values=loaded.values)
    with pytest.raises(ValueError, match="classes are label values"):
        loaded.train(training_data([(image, other, (2.0, 1.0, 1.0))]), iterations=1)


def test_a_new_session_refuses_to_save_or_predict():
    session = TrainingSession()
    with pytest.raises(ValueError, match="train one first"):
        session.save("x.safetensors")
    with pytest.raises(ValueError, match="train one first"):
        session.predict(np.zeros((4, 4)), (1, 1))
    assert UNPAINTED == "unpainted"
