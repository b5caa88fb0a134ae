"""A registry of networks built from a plain, JSON-serialisable config.

Segmentation networks return logits ``(B, classes, *spatial)``; the image classifier
(``resnet_classifier``) returns logits ``(B, classes)``; ``slice_sequence`` labels every slice of
a stack ``(B, Z, C, H, W)`` -> ``(B, classes, Z)`` (:mod:`.sequence`); ``conv_vae``,
``gan_generator``, ``gan_critic`` and ``diffusion_unet`` are the generative models of
:mod:`.generative` (one-channel images in [-1, 1]).

MONAI's networks are used where they fit; ``slice_sequence`` and the generative networks are this
package's own.

The config lives in a checkpoint's model card, so a checkpoint rebuilds its own network::

    {"name": "basic_unet", "spatial_dims": 2, "in_channels": 1, "out_channels": 3,
     "features": [16, 16, 32, 64, 128, 16]}

torch and MONAI are imported when a network is built, not when this module is imported.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["NETWORKS", "build_network", "check_config", "UnknownArchitectureError"]


class UnknownArchitectureError(ValueError):
    """The config names a network this version does not know, or gives it invalid settings."""


def _basic_unet(cfg: dict[str, Any]):
    from monai.networks.nets import BasicUNet

    return BasicUNet(spatial_dims=cfg["spatial_dims"], in_channels=cfg["in_channels"],
                     out_channels=cfg["out_channels"], features=tuple(cfg["features"]),
                     dropout=cfg["dropout"], norm=tuple(cfg["norm"]) if isinstance(cfg["norm"], list) else cfg["norm"])


def _segresnet(cfg: dict[str, Any]):
    from monai.networks.nets import SegResNet

    return SegResNet(spatial_dims=cfg["spatial_dims"], in_channels=cfg["in_channels"],
                     out_channels=cfg["out_channels"], init_filters=cfg["init_filters"],
                     blocks_down=tuple(cfg["blocks_down"]), blocks_up=tuple(cfg["blocks_up"]),
                     dropout_prob=cfg["dropout"] or None)


def _resnet_classifier(cfg: dict[str, Any]):
    from monai.networks.nets import ResNet

    # a 3x3 first convolution without stride or max pooling: small images (28 px) keep their detail
    return ResNet(block="basic", layers=list(cfg["layers"]), block_inplanes=list(cfg["block_inplanes"]),
                  spatial_dims=cfg["spatial_dims"], n_input_channels=cfg["in_channels"], conv1_t_size=3,
                  conv1_t_stride=1, no_max_pool=True, num_classes=cfg["out_channels"])


def _slice_sequence(cfg: dict[str, Any]):
    from .sequence import SliceSequenceNet

    return SliceSequenceNet(cfg["in_channels"], cfg["out_channels"], cfg["features"], cfg["hidden"], cfg["recurrent"])


def _generative(name: str) -> Callable:
    """Builder of a :mod:`.generative.nets` network (one-channel 2D images; ``num_classes`` 0 = unconditional)."""

    def build(cfg: dict[str, Any]):
        from .generative import nets

        kwargs = {k: (tuple(v) if isinstance(v, list) else v) for k, v in cfg.items()
                  if k in ("image_size", "latent_size", "features", "num_classes", "dropout")}
        return getattr(nets, name)(**kwargs)

    return build


_GENERATIVE = {"image_size": [28, 28], "num_classes": 0}

#: name -> (builder, defaults, divisor: patch sizes should be a multiple of it)
NETWORKS: dict[str, tuple[Callable, dict[str, Any], int]] = {
    # batch norm by default: on small patches lying wholly inside a structure, instance norm
    # removes the very contrast that tells it from the background (bright disc on noise, 32 px
    # patches, 60 steps: validation Dice 0.60 with instance norm, 0.96 with batch norm)
    "basic_unet": (_basic_unet, {"features": [32, 32, 64, 128, 256, 32], "dropout": 0.0,
                                 "norm": ["batch", {"affine": True}]}, 16),
    "segresnet": (_segresnet, {"init_filters": 8, "blocks_down": [1, 2, 2, 4], "blocks_up": [1, 1, 1],
                               "dropout": 0.0}, 8),
    # image classifier: logits (B, classes); out_channels = number of classes
    "resnet_classifier": (_resnet_classifier, {"layers": [2, 2, 2, 2], "block_inplanes": [16, 32, 64, 128]}, 8),
    # CNN per slice + bidirectional GRU across slices: (B, Z, C, H, W) -> logits (B, classes, Z)
    "slice_sequence": (_slice_sequence, {"features": [16, 32, 64, 64], "hidden": 64, "recurrent": True}, 16),
    # generative models of one-channel 2D images in [-1, 1] (:mod:`.generative`)
    "conv_vae": (_generative("ConvVAE"), {**_GENERATIVE, "latent_size": 32, "features": [32, 64]}, 4),
    "gan_generator": (_generative("GanGenerator"), {**_GENERATIVE, "latent_size": 64, "features": [64, 128]}, 4),
    "gan_critic": (_generative("GanCritic"), {**_GENERATIVE, "features": [64, 128]}, 4),
    "diffusion_unet": (_generative("DiffusionUNet"), {**_GENERATIVE, "features": [32, 64, 128], "dropout": 0.0}, 4),
}


def check_config(config: dict[str, Any]) -> dict[str, Any]:
    """Validate a network config and fill in the defaults.

    Parameters
    ----------
    config : dict
        ``name`` (a key of :data:`NETWORKS`), ``spatial_dims`` (2 or 3), ``in_channels``,
        ``out_channels`` (classes including background), and the network's own settings.

    Returns
    -------
    dict
        The complete config (JSON-serialisable), including ``divisor``.

    Raises
    ------
    UnknownArchitectureError
        For an unknown name, missing keys or settings the network does not take.
    """
    if not isinstance(config, dict):
        raise UnknownArchitectureError(f"a network config is a dict, got {type(config).__name__}")
    name = config.get("name")
    if name not in NETWORKS:
        raise UnknownArchitectureError(f"unknown architecture {name!r}: known are {', '.join(NETWORKS)}")
    _, defaults, divisor = NETWORKS[name]
    known = {"name", "spatial_dims", "in_channels", "out_channels", "divisor", *defaults}
    extra = set(config) - known
    if extra:
        raise UnknownArchitectureError(f"architecture {name!r} does not take {', '.join(sorted(extra))}")
    cfg = {**defaults, **config, "divisor": divisor}
    for key in ("spatial_dims", "in_channels", "out_channels"):
        if not isinstance(cfg.get(key), int) or cfg[key] < 1:
            raise UnknownArchitectureError(f"architecture {name!r} needs a positive integer {key!r}")
    if cfg["spatial_dims"] not in (2, 3):
        raise UnknownArchitectureError(f"spatial_dims must be 2 or 3, got {cfg['spatial_dims']}")
    if name == "basic_unet" and len(cfg["features"]) != 6:
        raise UnknownArchitectureError(f"basic_unet takes 6 features, got {cfg['features']}")
    if name == "resnet_classifier" and (len(cfg["layers"]) != 4 or len(cfg["block_inplanes"]) != 4):
        raise UnknownArchitectureError(f"resnet_classifier takes 4 layers and 4 block_inplanes, got "
                                       f"{cfg['layers']} and {cfg['block_inplanes']}")
    if "image_size" in defaults and (len(cfg["image_size"]) != 2 or any(int(v) % 4 or int(v) < 8 for v in cfg["image_size"])):
        raise UnknownArchitectureError(f"{name} needs two image sides that are multiples of 4 (at least 8), got "
                                       f"{cfg['image_size']}")
    if name == "diffusion_unet" and (len(cfg["features"]) != 3 or any(int(f) % 8 for f in cfg["features"])):
        raise UnknownArchitectureError(f"diffusion_unet takes 3 features, multiples of 8 (group norm), got {cfg['features']}")
    if name == "segresnet" and cfg["init_filters"] % 8:
        raise UnknownArchitectureError(f"segresnet needs init_filters a multiple of 8 (group norm), got {cfg['init_filters']}")
    return cfg


def build_network(config: dict[str, Any], seed: int | None = None):
    """Build a network from its config.

    Parameters
    ----------
    config : dict
        See :func:`check_config`.
    seed : int, optional
        Seed for the initial weights (torch's global random state is left as it was).

    Returns
    -------
    torch.nn.Module
        The network, in training mode, on the CPU.
    """
    cfg = check_config(config)
    builder = NETWORKS[cfg["name"]][0]
    if seed is None:
        return builder(cfg)
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return builder(cfg)
