import subprocess
import sys

import numpy as np
import pytest

from napari_medimg.learn.normalize import normalize


def test_learn_package_imports_no_torch():
    code = ("import sys, napari_medimg, napari_medimg.learn, napari_medimg.learn.normalize, "
            "napari_medimg.learn.patches, napari_medimg.learn.networks, napari_medimg.learn.device, "
            "napari_medimg.learn.checkpoint, napari_medimg.learn.infer, napari_medimg.learn.data, "
            "napari_medimg.learn.metrics;"
            "print('LOADED', [m for m in ('torch', 'monai', 'safetensors') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "LOADED []"


def test_normalisation_per_modality():
    ct = np.array([-2000.0, -1000.0, 0.0, 1000.0, 3000.0])
    assert np.allclose(normalize(ct, {"kind": "ct", "window": [-1000, 1000]}), [0, 0, 0.5, 1, 1])
    mr = np.array([0.0, 0.0, 10.0, 20.0, 30.0], np.float32)
    out = normalize(mr, {"kind": "mr"})
    assert out[0] == out[1] == 0 and np.isclose(out[2:].mean(), 0) and np.isclose(out[2:].std(), 1)
    # a skull-stripped volume stored z-scored: its flat background is its minimum, not 0
    stored = np.array([-3.6] * 6 + [-1.0, 0.0, 1.0, 2.0], np.float32)
    out = normalize(stored, {"kind": "mr"})
    assert np.all(out[:6] == 0) and np.isclose(out[6:].mean(), 0) and out[7] != 0
    xr = np.arange(1001, dtype=np.uint16)
    out = normalize(xr, {"kind": "percentile", "low": 1, "high": 99})
    assert out.dtype == np.float32 and out.min() == 0 and out.max() == 1 and np.isclose(out[500], 0.5)
    with pytest.raises(ValueError, match="unknown normalisation"):
        normalize(xr, {"kind": "pet"})


def test_device_auto_says_which_and_why():
    pytest.importorskip("torch")
    from napari_medimg.learn.device import choose_device

    device, message = choose_device("auto")
    assert device.type in ("cpu", "cuda", "mps") and "auto" in message
    assert choose_device("cpu")[0].type == "cpu"
    with pytest.raises(ValueError, match="unknown device"):
        choose_device("tpu")


def test_inference_with_anisotropic_spacing_returns_labels_on_the_input_grid():
    pytest.importorskip("torch")
    pytest.importorskip("monai")
    from napari_medimg.learn.infer import predict
    from napari_medimg.learn.networks import build_network

    config = {"name": "basic_unet", "spatial_dims": 3, "in_channels": 1, "out_channels": 3,
              "features": [4, 4, 8, 8, 16, 4]}
    net = build_network(config, seed=0)
    image = np.random.default_rng(0).normal(100, 30, (9, 40, 37)).astype(np.int16)
    labels = predict(net, image, patch_size=(16, 16, 16), spacing=(3.0, 0.8, 0.8), model_spacing=(1.5, 1.5, 1.5),
                     normalisation={"kind": "mr"}, overlap=0.25)
    assert labels.shape == image.shape and labels.dtype == np.uint8 and labels.max() <= 2
    # nearest-neighbour back to the grid: along the coarse axis, each input slice is one model slice
    from napari_medimg.learn.infer import to_grid

    grid = to_grid(np.arange(18).reshape(18, 1, 1), (9, 2, 2))
    assert grid[:, 0, 0].tolist() == [1, 3, 5, 7, 9, 11, 13, 15, 17]


def test_network_registry_builds_from_plain_configs_and_refuses_unknown_ones():
    torch = pytest.importorskip("torch")
    pytest.importorskip("monai")
    from napari_medimg.learn.networks import UnknownArchitectureError, build_network, check_config

    seg = build_network({"name": "segresnet", "spatial_dims": 3, "in_channels": 2, "out_channels": 3,
                         "init_filters": 8}, seed=0)
    with torch.no_grad():
        assert seg.eval()(torch.zeros(1, 2, 16, 16, 16)).shape == (1, 3, 16, 16, 16)
    a, b = (build_network({"name": "basic_unet", "spatial_dims": 2, "in_channels": 1, "out_channels": 2,
                           "features": [4, 4, 8, 8, 16, 4]}, seed=1) for _ in range(2))
    assert all(torch.equal(v, b.state_dict()[k]) for k, v in a.state_dict().items())
    assert check_config({"name": "basic_unet", "spatial_dims": 3, "in_channels": 1, "out_channels": 2})["divisor"] == 16
    for bad, words in [({"name": "vit"}, "unknown architecture"),
                       ({"name": "basic_unet", "spatial_dims": 4, "in_channels": 1, "out_channels": 2}, "spatial_dims"),
                       ({"name": "basic_unet", "spatial_dims": 2, "in_channels": 1, "out_channels": 2, "depth": 9},
                        "does not take depth")]:
        with pytest.raises(UnknownArchitectureError, match=words):
            check_config(bad)
    with pytest.raises(UnknownArchitectureError, match="multiple of 8"):
        check_config({"name": "segresnet", "spatial_dims": 2, "in_channels": 1, "out_channels": 2, "init_filters": 4})


def test_inference_uncertainty_tta_progress_and_cancel_on_the_input_grid():
    pytest.importorskip("torch")
    pytest.importorskip("monai")
    from napari_medimg.learn.infer import predict
    from napari_medimg.learn.networks import build_network
    from napari_medimg.progress import OperationCancelled

    net = build_network({"name": "basic_unet", "spatial_dims": 3, "in_channels": 1, "out_channels": 3,
                         "features": [4, 4, 8, 8, 16, 4]}, seed=0)
    image = np.random.default_rng(0).normal(100, 30, (9, 40, 37)).astype(np.float32)
    seen = []
    kwargs = dict(patch_size=(16, 16, 16), spacing=(3.0, 0.8, 0.8), model_spacing=(1.5, 1.5, 1.5),
                  normalisation={"kind": "mr"})
    labels, unsure = predict(net, image, tta_axes=(1, 2), uncertainty=True, progress=seen.append, **kwargs)
    assert labels.shape == unsure.shape == image.shape and unsure.dtype == np.uint8 and unsure.max() <= 100
    assert seen[-1] == 1.0 and net.training  # the model's mode is restored
    with pytest.raises(OperationCancelled):
        predict(net, image, cancel=lambda: True, **kwargs)
    assert net.training
