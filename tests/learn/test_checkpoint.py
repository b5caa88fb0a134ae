import json
import pickle

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("monai")
pytest.importorskip("safetensors")

from _learn_data import TINY_UNET, disc_case  # noqa: E402

from napari_medimg.learn.checkpoint import ModelFileError, load_checkpoint, read_card, save_checkpoint  # noqa: E402
from napari_medimg.learn.infer import predict_with_card  # noqa: E402
from napari_medimg.learn.networks import build_network  # noqa: E402

CARD = {
    "architecture": TINY_UNET,
    "task": "segmentation",
    "classes": [{"value": 0, "name": "background"}, {"value": 1, "name": "disc", "color": "#ff0000"}],
    "input": {"spacing": [1.0, 1.0], "normalisation": {"kind": "percentile", "low": 1, "high": 99},
              "patch_size": [32, 32]},
    "training": {"data": "synthetic discs on noise", "licence": "CC0"},
    "validation": {"dice": 0.5},
    "command": "pytest tests/learn",
}


@pytest.fixture
def saved(tmp_path):
    net = build_network(TINY_UNET, seed=3).eval()
    return net, save_checkpoint(tmp_path / "disc.safetensors", net, CARD)


def assert_refused(path, *words):
    with pytest.raises(ModelFileError) as info:
        load_checkpoint(path)
    message = str(info.value)
    assert path.name in message, message
    for word in words:
        assert word in message, message
    return message


def test_round_trip_gives_identical_predictions(saved):
    net, path = saved
    card = json.loads(path.with_suffix(".json").read_text())
    assert card["format"] == "napari-medimg-checkpoint" and len(card["weights"]["sha256"]) == 64
    assert card["classes"][1]["name"] == "disc" and card["versions"]["monai"].startswith("1.6")
    assert card["command"] == "pytest tests/learn"
    loaded, card2 = load_checkpoint(path)
    assert card2["architecture"]["features"] == TINY_UNET["features"]
    for key, value in net.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[key])
    image, _ = disc_case(5, n=70)
    a = predict_with_card(net, card, image, spacing=(1.0, 1.0))
    b = predict_with_card(loaded, card2, image, spacing=(1.0, 1.0))
    assert a.shape == image.shape and a.dtype == np.uint8 and np.array_equal(a, b)
    # the card alone, or the stem, name the same checkpoint
    assert read_card(path.with_suffix(".json"))["weights"]["file"] == "disc.safetensors"
    load_checkpoint(path.with_suffix(""))


def test_a_checkpoint_edited_by_one_byte_is_refused(saved):
    _, path = saved
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    assert_refused(path, "SHA-256", "edited")


def test_a_truncated_checkpoint_is_refused(saved):
    _, path = saved
    path.write_bytes(path.read_bytes()[:-100])
    assert_refused(path, "SHA-256", "truncated")


def test_a_pickle_disguised_as_a_checkpoint_is_refused(saved, tmp_path):
    net, path = saved
    # a torch pickle under the weights' name, the card edited to match its hash: still not loaded
    torch.save(net.state_dict(), path)
    import hashlib

    card = json.loads(path.with_suffix(".json").read_text())
    card["weights"]["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    path.with_suffix(".json").write_text(json.dumps(card))
    assert_refused(path, "not a safetensors")
    # a bare pickle with no card, and a pickle as the card
    bare = tmp_path / "bare.safetensors"
    bare.write_bytes(pickle.dumps({"weight": np.zeros(3)}))
    assert_refused(bare, "no model card")
    (tmp_path / "bare.json").write_bytes(pickle.dumps({"format": "napari-medimg-checkpoint"}))
    message = assert_refused(tmp_path / "bare.json", "not JSON")
    assert "bare.json" in message


def test_an_unknown_architecture_is_refused(saved):
    _, path = saved
    card = json.loads(path.with_suffix(".json").read_text())
    card["architecture"]["name"] = "mystery_net"
    path.with_suffix(".json").write_text(json.dumps(card))
    assert_refused(path.with_suffix(".json"), "unknown architecture", "mystery_net")


def test_weights_for_another_architecture_are_refused(saved):
    _, path = saved
    card = json.loads(path.with_suffix(".json").read_text())
    card["architecture"]["features"] = [4, 4, 8, 16, 32, 4]
    path.with_suffix(".json").write_text(json.dumps(card))
    assert_refused(path, "do not fit")
