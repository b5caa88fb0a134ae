"""Checkpoints: weights in safetensors + a readable JSON model card beside them.

``save_checkpoint("lungs.safetensors", model, card)`` writes ``lungs.safetensors`` (the
weights, no code) and ``lungs.json`` (the card). The card records the architecture config
(:mod:`.networks`), the classes, the input spacing and normalisation, the training data, the
validation figures, the versions, the command that made it, and the SHA-256 of the weights
file. Loading checks, before any tensor is read, that the card is a napari-medimg card of a
known format version and architecture and that the weights file has exactly the recorded
SHA-256; a truncated or edited file, a pickle (or anything else) under a checkpoint's name, or
an unknown architecture is refused with :class:`~napari_medimg.analysis.model_io.ModelFileError`
naming the file. Nothing is unpickled and nothing is downloaded.

Card fields written by :func:`save_checkpoint` (``card`` may add any JSON fields)::

    format, format_version, architecture, classes [{value, name, color?}],
    input {spacing, normalisation, patch_size}, training {data, licence, ...},
    validation {...}, versions {napari-medimg, torch, monai, safetensors, numpy},
    command, weights {file, sha256, bytes}
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from ..analysis.model_io import ModelFileError
from .networks import UnknownArchitectureError, check_config

__all__ = ["FORMAT", "FORMAT_VERSION", "ModelFileError", "save_checkpoint", "load_checkpoint", "read_card",
           "card_path", "weights_path"]

FORMAT = "napari-medimg-checkpoint"
FORMAT_VERSION = 1
_MAX_CARD_BYTES = 4 << 20


def card_path(path: str | os.PathLike) -> Path:
    """The card of a checkpoint given by its weights, its card, or its stem."""
    p = Path(path)
    return p.with_suffix(".json") if p.suffix in (".safetensors", ".json") else p.with_name(p.name + ".json")


def weights_path(path: str | os.PathLike) -> Path:
    """The weights file of a checkpoint given by its weights, its card, or its stem."""
    p = Path(path)
    if p.suffix in (".safetensors", ".json"):
        return p.with_suffix(".safetensors")
    return p.with_name(p.name + ".safetensors")


def _sha256(path: Path) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


def _versions() -> dict[str, str]:
    import monai
    import numpy
    import safetensors
    import torch

    from .. import __version__

    return {"napari-medimg": __version__, "torch": torch.__version__, "monai": monai.__version__,
            "safetensors": safetensors.__version__, "numpy": numpy.__version__,
            "python": sys.version.split()[0]}


def save_checkpoint(path: str | os.PathLike, model, card: dict[str, Any], *, state_dict=None) -> Path:
    """Write a model's weights (safetensors) and its card (JSON).

    Parameters
    ----------
    path : str or os.PathLike
        The weights file (``.safetensors``; the card goes beside it as ``.json``).
    model : torch.nn.Module or None
        Whose ``state_dict()`` is saved (unless ``state_dict`` is given).
    card : dict
        JSON-serialisable; must contain ``architecture`` (a :mod:`.networks` config). Usual
        fields: ``classes``, ``input`` (``spacing``, ``normalisation``, ``patch_size``),
        ``training``, ``validation``, ``command``. ``format``, ``versions`` and ``weights``
        are filled in.
    state_dict : dict, optional
        Weights to save instead of the model's (e.g. ``TrainResult.best_state``).

    Returns
    -------
    pathlib.Path
        The weights file written.
    """
    from safetensors.torch import save_file

    wpath, cpath = weights_path(path), card_path(path)
    try:
        arch = check_config(card["architecture"])
    except KeyError:
        raise ValueError("the card needs an 'architecture' (a network config)") from None
    state = state_dict if state_dict is not None else model.state_dict()
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in state.items()}
    full = {"format": FORMAT, "format_version": FORMAT_VERSION, **card, "architecture": arch}
    full.setdefault("command", " ".join(sys.argv))
    full["versions"] = {**_versions(), **card.get("versions", {})}
    text = json.dumps(full, indent=2)  # fails before anything is written if the card is not JSON
    wpath.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(wpath), metadata={"format": FORMAT})
    digest, size = _sha256(wpath)
    full = json.loads(text)
    full["weights"] = {"file": wpath.name, "sha256": digest, "bytes": size}
    cpath.write_text(json.dumps(full, indent=2) + "\n", encoding="utf-8")
    return wpath


def read_card(path: str | os.PathLike) -> dict[str, Any]:
    """Read and check a checkpoint's card (no torch needed).

    Parameters
    ----------
    path : str or os.PathLike
        The weights file, the card, or their common stem.

    Returns
    -------
    dict
        The card, its ``architecture`` completed by :func:`.networks.check_config`.

    Raises
    ------
    ModelFileError
        Missing, unreadable, not a napari-medimg card, a newer format, or an unknown architecture.
    """
    cpath = card_path(path)
    if not cpath.is_file():
        raise ModelFileError(f"{path}: no model card {cpath.name} beside it (a checkpoint is a .safetensors "
                             f"weights file with its .json card); refusing to load it")
    raw = cpath.read_bytes()[: _MAX_CARD_BYTES + 1]
    if len(raw) > _MAX_CARD_BYTES:
        raise ModelFileError(f"{cpath}: too large for a model card")
    try:
        card = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{cpath}: not a napari-medimg model card (not JSON: {exc})") from None
    if not isinstance(card, dict) or card.get("format") != FORMAT:
        raise ModelFileError(f"{cpath}: not a napari-medimg model card (format {card.get('format') if isinstance(card, dict) else None!r})")
    if card.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(f"{cpath}: card format version {card.get('format_version')!r}; this version reads {FORMAT_VERSION}")
    try:
        card["architecture"] = check_config(card.get("architecture"))
    except UnknownArchitectureError as exc:
        raise ModelFileError(f"{cpath}: {exc}") from None
    weights = card.get("weights")
    if not isinstance(weights, dict) or not isinstance(weights.get("sha256"), str):
        raise ModelFileError(f"{cpath}: the card records no SHA-256 of its weights")
    return card


def load_checkpoint(path: str | os.PathLike, device="cpu"):
    """Load a checkpoint after checking its card and the weights' SHA-256.

    Parameters
    ----------
    path : str or os.PathLike
        The weights file, the card, or their common stem.
    device : str or torch.device
        Where to put the model.

    Returns
    -------
    model : torch.nn.Module
        The network rebuilt from the card, weights loaded, in eval mode.
    card : dict
        The model card.

    Raises
    ------
    ModelFileError
        Naming the file: no card, a bad card, an unknown architecture, weights missing,
        truncated or edited (SHA-256 differs), not safetensors, or not matching the architecture.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load

    from .networks import build_network

    card = read_card(path)
    wpath = card_path(path).with_name(Path(card["weights"].get("file") or weights_path(path).name).name)
    if not wpath.is_file():
        raise ModelFileError(f"{wpath}: the weights file named by the card is missing")
    digest, size = _sha256(wpath)
    if digest != card["weights"]["sha256"].lower():
        expected = card["weights"].get("bytes")
        how = f"{size} bytes, the card says {expected}" if expected is not None and expected != size else "same size"
        raise ModelFileError(f"{wpath}: the weights do not match their card's SHA-256 ({how}): the file was "
                             f"truncated, edited or replaced; refusing to load it")
    data = wpath.read_bytes()
    if hashlib.sha256(data).hexdigest() != digest:  # changed between the check and the read
        raise ModelFileError(f"{wpath}: the weights changed while being read")
    try:
        state = load(data)
    except (SafetensorError, ValueError, OSError) as exc:
        raise ModelFileError(f"{wpath}: not a safetensors weights file ({exc})") from None
    model = build_network(card["architecture"])
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise ModelFileError(f"{wpath}: the weights do not fit the card's architecture ({first})") from None
    model.to(device).eval()
    return model, card
