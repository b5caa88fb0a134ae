"""Sample a trained generator; walk a VAE's latent space; reconstruct with a VAE.

Imports torch: import this module only where a generator is used.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from .data import from_unit_range, to_unit_range

__all__ = ["load_generator", "sample_labels", "sample", "interpolate", "reconstruct"]


def load_generator(name_or_path: str | os.PathLike, device="cpu"):
    """A generator ``(model, card)`` by shipped name or checkpoint path; other model kinds are refused."""
    from ..registry import load_model, shipped_names

    model, card = load_model(name_or_path, device=device)
    if card.get("kind") != "generator":
        names = ", ".join(shipped_names("generator")) or "none shipped"
        raise ValueError(f"{name_or_path}: a {card.get('kind', 'segmentation')} model, not an image generator "
                         f"(generators: {names})")
    return model, card


def sample_labels(card: dict, n: int, class_name: str | None = None, seed: int = 0) -> np.ndarray | None:
    """Class index of each of ``n`` samples: ``class_name``'s, or drawn from the training set's class shares.

    Raises
    ------
    ValueError
        A class the model does not know, or a class asked of an unconditional model.
    """
    names = [c["name"] for c in card.get("classes", [])]
    if not names:
        if class_name:
            raise ValueError(f"{card.get('name', 'this model')} is not conditional on a class; leave the class out")
        return None
    if class_name:
        if class_name not in names:
            raise ValueError(f"unknown class {class_name!r}: this model knows {', '.join(names)}")
        return np.full(n, names.index(class_name), np.int64)
    priors = np.asarray(card.get("class_priors") or [1.0] * len(names), np.float64)
    return np.random.default_rng(seed).choice(len(names), size=n, p=priors / priors.sum()).astype(np.int64)


def _ddim(model, card: dict, noise: torch.Tensor, labels, steps: int, generator: torch.Generator, eta: float):
    from monai.networks.schedulers import DDIMScheduler

    spec = card["sampling"]["scheduler"]
    scheduler = DDIMScheduler(num_train_timesteps=int(spec["timesteps"]), schedule=str(spec["schedule"]),
                              clip_sample=True)
    scheduler.set_timesteps(int(steps), device=noise.device)
    x = noise
    for t in scheduler.timesteps:
        eps = model(x, torch.full((len(x),), int(t), device=x.device, dtype=torch.long), labels)
        x, _ = scheduler.step(eps, int(t), x, eta=eta, generator=generator)
    return x


def sample(model, card: dict, n: int, *, class_name: str | None = None, labels=None, seed: int = 0,
           steps: int | None = None, eta: float = 0.0, batch_size: int = 256, unit_range: bool = False, device="cpu",
           progress: Callable[[float], Any] | None = None, cancel: Callable[[], bool] | None = None):
    """``n`` new images from a generator.

    Parameters
    ----------
    model : torch.nn.Module
        A VAE, GAN generator or diffusion U-Net (:func:`load_generator`).
    card : dict
        Its model card.
    n : int
        How many images.
    class_name : str, optional
        Generate this class only; default: classes in the training set's proportions.
    labels : array (n,) of int, optional
        The class index of each image (instead of ``class_name``).
    seed : int
        The same seed gives the same images.
    steps : int, optional
        Diffusion: DDIM steps (default: the card's, 50); more is slower and a little better.
    eta : float
        Diffusion: 0 for deterministic DDIM, 1 for DDPM-like noise.
    batch_size : int
        Images per forward pass.
    unit_range : bool
        Return float32 in [0, 1] instead of the training images' units.
    device : str or torch.device
    progress, cancel : callable, optional
        ``progress(fraction)`` after every batch and, for diffusion, every step; ``cancel()``
        polled between batches and diffusion steps (within a second).

    Returns
    -------
    images : numpy.ndarray (n, H, W)
        uint8 for a model trained on 8-bit images, else float32 in the training images' units.
    labels : numpy.ndarray (n,) or None
        The class index of each image.
    """
    from ...progress import OperationCancelled

    if int(n) < 1:
        raise ValueError(f"the number of images must be at least 1, got {n}")
    n = int(n)
    if labels is None:
        labels = sample_labels(card, n, class_name, seed)
    elif len(labels) != n:
        raise ValueError(f"{len(labels)} labels for {n} images")
    method = card["method"]
    h, w = card["input"]["image_size"]
    steps = int(steps or card["sampling"].get("steps") or 50)
    device = torch.device(device)
    model = model.to(device)
    was_training = model.training
    model.eval()
    out = np.empty((n, h, w), np.float32)
    generator = torch.Generator(device="cpu").manual_seed(int(seed))
    try:
        with torch.no_grad():
            for start in range(0, n, batch_size):
                if cancel is not None and cancel():
                    raise OperationCancelled("sampling cancelled")
                m = min(batch_size, n - start)
                y = None if labels is None else torch.as_tensor(labels[start:start + m], device=device)
                if method == "diffusion":
                    noise = torch.randn(m, 1, h, w, generator=generator).to(device)
                    stepped = model
                    if cancel is not None or progress is not None:  # a batch is many steps: report each
                        stepped = _Stepped(model, cancel, progress, start / n, m / n / steps)
                    x = _ddim(stepped, card, noise, y, steps, generator, eta)
                else:
                    z = torch.randn(m, int(card["sampling"]["latent_size"]), generator=generator).to(device)
                    x = model.decode(z, y) if method == "vae" else model(z, y)
                out[start:start + m] = x[:, 0].clamp(-1, 1).cpu().numpy()
                if progress is not None:
                    progress((start + m) / n)
    finally:
        model.train(was_training)
    images = (out + 1.0) / 2.0 if unit_range else from_unit_range(out, card["input"]["intensity"])
    return images, labels


class _Stepped(torch.nn.Module):
    """A model that checks ``cancel()`` and reports progress before every forward pass
    (one DDIM step), so that a batch of a long diffusion run moves the bar step by step."""

    def __init__(self, model, cancel, progress, done: float, per_step: float) -> None:
        super().__init__()
        self.model, self.cancel, self.progress = model, cancel, progress
        self.done, self.per_step, self.calls = done, per_step, 0

    def forward(self, *args):
        from ...progress import OperationCancelled

        if self.cancel is not None and self.cancel():
            raise OperationCancelled("sampling cancelled")
        if self.progress is not None and self.calls:
            self.progress(self.done + self.calls * self.per_step)
        self.calls += 1
        return self.model(*args)


def _vae_inputs(model, card: dict, images, labels) -> tuple[torch.Tensor, torch.Tensor | None]:
    if card.get("method") != "vae":
        raise ValueError(f"{card.get('name', 'this model')} is a {card.get('method')} model: only a VAE encodes images")
    images = np.asarray(images)
    if images.ndim == 2:
        images = images[None]
    size = tuple(card["input"]["image_size"])
    if images.shape[1:] != size:
        raise ValueError(f"the VAE takes {size[0]}x{size[1]} images, got {images.shape[1]}x{images.shape[2]}")
    x = torch.from_numpy(to_unit_range(images, card["input"]["intensity"]))
    y = None if labels is None or not card.get("classes") else torch.as_tensor(np.asarray(labels).reshape(-1))
    return x, y


def reconstruct(model, card: dict, images, labels=None) -> np.ndarray:
    """A VAE's reconstruction of ``images`` (N, H, W) from their mean latent code, in the images' units."""
    x, y = _vae_inputs(model, card, images, labels)
    model.eval()
    with torch.no_grad():
        mu, _ = model.encode(x, y)
        return from_unit_range(model.decode(mu, y).numpy(), card["input"]["intensity"])


def interpolate(model, card: dict, first, second, n: int = 8, labels=None) -> np.ndarray:
    """Walk a VAE's latent space from ``first`` to ``second`` (two images): ``n`` decoded images, ends included.

    The two images are encoded (mean codes), the codes interpolated linearly, and each decoded;
    ``labels`` gives the class of each end (with a conditional model, the class embedding is
    interpolated too).
    """
    if n < 2:
        raise ValueError(f"an interpolation needs at least 2 images, got {n}")
    x, y = _vae_inputs(model, card, np.stack([np.asarray(first), np.asarray(second)]), labels)
    model.eval()
    with torch.no_grad():
        mu, _ = model.encode(x, y)
        weights = torch.linspace(0.0, 1.0, n)[:, None]
        z = (1 - weights) * mu[0] + weights * mu[1]
        if y is not None and model.code.embedding is not None:
            codes = model.code.embedding(y)
            z = z + (1 - weights) * codes[0] + weights * codes[1]
            decoded = model.decode(z, None)
        else:
            decoded = model.decode(z, None if y is None else y[:1].repeat(n))
        return from_unit_range(decoded.numpy(), card["input"]["intensity"])
