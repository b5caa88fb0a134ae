"""Train a VAE, a GAN or a diffusion model on an :class:`~.data.ImageSet`.

Imports torch: import this module only where a generator is trained.

One loop serves the three methods; each brings its step (:func:`_vae_step`, :func:`_gan_step`,
:func:`_diffusion_step`). The loop keeps the conventions of :func:`napari_medimg.learn.train.train`:
AdamW with warm-up and a cosine schedule, seeds, ``progress(fraction, history)`` after every
step and ``cancel()`` polled before every step (a cancelled run keeps what it learnt). The GAN's
generator and the diffusion U-Net are kept as an exponential moving average of their weights
(the model that is sampled and saved). Every ``preview_every`` steps a grid of samples from the
current model goes into the history (``history["samples"]``), for the Train widget.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..networks import build_network
from ..train import _schedule
from . import METHODS
from .data import ImageSet, intensity_range, to_unit_range

__all__ = ["METHODS", "DEFAULTS", "check_generator_config", "GeneratorRun", "fit_generator"]

#: Settings of each method: the network (see :mod:`napari_medimg.learn.networks`) and the training run.
DEFAULTS: dict[str, dict[str, Any]] = {
    "vae": {"network": {"name": "conv_vae", "latent_size": 32, "features": [32, 64]},
            "training": {"iterations": 3000, "batch_size": 64, "lr": 2e-3, "warmup": 100, "beta": 1.0}},
    "gan": {"network": {"name": "gan_generator", "latent_size": 64, "features": [64, 128]},
            "critic": {"name": "gan_critic", "features": [32, 64]},
            "training": {"iterations": 4000, "batch_size": 64, "lr": 2e-4, "warmup": 0, "ema": 0.999}},
    "diffusion": {"network": {"name": "diffusion_unet", "features": [32, 64, 128], "dropout": 0.0},
                  "scheduler": {"timesteps": 1000, "schedule": "cosine"},
                  "training": {"iterations": 4000, "batch_size": 64, "lr": 1e-3, "warmup": 200, "ema": 0.999}},
}

#: sampling settings recorded in the card (DDIM steps for diffusion)
SAMPLING_STEPS = 50


def check_generator_config(method: str, config: dict[str, Any] | None = None) -> dict[str, Any]:
    """A method's settings, :data:`DEFAULTS` overridden section by section by ``config``.

    Raises
    ------
    ValueError
        An unknown method, section or setting, or values out of range.
    """
    if method not in DEFAULTS:
        raise ValueError(f"unknown generative method {method!r}: {', '.join(METHODS)}")
    defaults = DEFAULTS[method]
    config = dict(config or {})
    unknown = set(config) - set(defaults)
    if unknown:
        raise ValueError(f"{method}: unknown section(s) {', '.join(sorted(unknown))}; known are {', '.join(defaults)}")
    cfg = {}
    for section, default in defaults.items():
        given = dict(config.get(section) or {})
        extra = set(given) - set(default) - ({"image_size", "num_classes"} if section in ("network", "critic") else set())
        if extra:
            raise ValueError(f"{method}: unknown {section} setting(s) {', '.join(sorted(extra))}; known are "
                             f"{', '.join(default)}")
        cfg[section] = {**default, **given}
    training = cfg["training"]
    for key in ("iterations", "batch_size"):
        if int(training[key]) < 1:
            raise ValueError(f"{key} must be a positive integer, got {training[key]}")
    if not 0.0 <= float(training.get("ema", 0.0)) < 1.0:
        raise ValueError(f"ema must lie in [0, 1), got {training['ema']}")
    return cfg


@dataclass
class GeneratorRun:
    """What :func:`fit_generator` returns.

    Attributes
    ----------
    model : torch.nn.Module
        The model that samples (VAE, the generator's moving average, the U-Net's moving average), eval mode.
    card : dict
        Its model card (architecture, method, classes, intensity mapping, sampling, training), ready
        for :func:`napari_medimg.learn.checkpoint.save_checkpoint`.
    history : dict of list
        ``iterations`` and ``loss`` (running mean since the last entry) and, per method, its parts
        (``reconstruction`` and ``kl``; ``critic`` and ``generator``); ``seconds``.
    stopped : str
        ``"iterations"`` or ``"cancelled"``.
    iterations : int
        Steps taken in this run.
    seconds : float
        Wall time of this run.
    trained, critic, ema : torch.nn.Module or None
        The network as trained (before averaging), the GAN's critic and the moving average: what
        ``fit_generator(..., resume=run)`` goes on from.
    """

    model: Any
    card: dict[str, Any]
    history: dict[str, list] = field(default_factory=dict)
    stopped: str = ""
    iterations: int = 0
    seconds: float = 0.0
    trained: Any = None
    critic: Any = None
    ema: Any = None


def _ema_update(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    with torch.no_grad():
        for e, p in zip(ema.parameters(), model.parameters()):
            e.mul_(decay).add_(p.detach(), alpha=1.0 - decay)
        for e, b in zip(ema.buffers(), model.buffers()):
            e.copy_(b)


def _kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(1).mean()


class _Batches:
    """Random batches of the training images (class-balanced when there are classes)."""

    def __init__(self, images: np.ndarray, labels: np.ndarray | None, batch_size: int, rng: np.random.Generator,
                 device) -> None:
        self.images, self.labels, self.batch_size, self.rng, self.device = images, labels, batch_size, rng, device
        if labels is not None:
            self.by_class = [np.flatnonzero(labels == c) for c in range(int(labels.max()) + 1)]
            self.by_class = [idx for idx in self.by_class if len(idx)]

    def __call__(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.labels is None:
            idx = self.rng.integers(len(self.images), size=self.batch_size)
            return torch.from_numpy(self.images[idx]).to(self.device), None
        # every class as often as the others: the model learns the rare class too; sampling uses the priors
        groups = self.rng.integers(len(self.by_class), size=self.batch_size)
        idx = np.array([self.by_class[g][self.rng.integers(len(self.by_class[g]))] for g in groups])
        return (torch.from_numpy(self.images[idx]).to(self.device),
                torch.from_numpy(self.labels[idx]).to(self.device))


def _vae_step(parts: dict, x: torch.Tensor, y, cfg: dict) -> dict[str, float]:
    vae, opt = parts["model"], parts["optimisers"][0]
    recon, mu, logvar = vae(x, y)
    # Gaussian likelihood, summed over pixels (sd 0.1 of the [-1, 1] range), + beta * KL
    reconstruction = (recon - x).pow(2).sum(dim=(1, 2, 3)).mean() / (2 * 0.1 ** 2) / x[0].numel()
    kl = _kl(mu, logvar) / x[0].numel()
    loss = reconstruction + float(cfg["training"]["beta"]) * kl
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return {"loss": float(loss.detach()), "reconstruction": float(reconstruction.detach()), "kl": float(kl.detach())}


def _gan_step(parts: dict, x: torch.Tensor, y, cfg: dict) -> dict[str, float]:
    generator, critic = parts["model"], parts["critic"]
    g_opt, c_opt = parts["optimisers"]
    z = torch.randn(len(x), generator.latent_size, device=x.device)
    fake = generator(z, y)
    # hinge loss (Miyato et al. 2018) with a spectrally normalised critic
    c_loss = F.relu(1.0 - critic(x, y)).mean() + F.relu(1.0 + critic(fake.detach(), y)).mean()
    c_opt.zero_grad(set_to_none=True)
    c_loss.backward()
    c_opt.step()
    g_loss = -critic(fake, y).mean()
    g_opt.zero_grad(set_to_none=True)
    g_loss.backward()
    g_opt.step()
    return {"loss": float((c_loss + g_loss).detach()), "critic": float(c_loss.detach()), "generator": float(g_loss.detach())}


def _diffusion_step(parts: dict, x: torch.Tensor, y, cfg: dict) -> dict[str, float]:
    unet, opt, scheduler = parts["model"], parts["optimisers"][0], parts["scheduler"]
    noise = torch.randn_like(x)
    t = torch.randint(0, scheduler.num_train_timesteps, (len(x),), device=x.device)
    noisy = scheduler.add_noise(original_samples=x, noise=noise, timesteps=t)
    loss = F.mse_loss(unet(noisy, t, y), noise)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return {"loss": float(loss.detach())}


_STEPS = {"vae": _vae_step, "gan": _gan_step, "diffusion": _diffusion_step}
_PARTS = {"vae": ("reconstruction", "kl"), "gan": ("critic", "generator"), "diffusion": ()}


def training_scheduler(card_or_cfg: dict):
    """The DDPM noise schedule of a diffusion model's card (or config): MONAI's ``DDPMScheduler``."""
    from monai.networks.schedulers import DDPMScheduler

    spec = card_or_cfg.get("scheduler") or card_or_cfg.get("sampling", {}).get("scheduler")
    return DDPMScheduler(num_train_timesteps=int(spec["timesteps"]), schedule=str(spec["schedule"]))


def _network_config(section: dict, image_size, num_classes: int) -> dict:
    return {"spatial_dims": 2, "in_channels": 1, "out_channels": 1, **section,
            "image_size": [int(v) for v in image_size], "num_classes": int(num_classes)}


def fit_generator(data: ImageSet, method: str, config: dict[str, Any] | None = None, *, device="cpu", seed: int = 0,
                  progress: Callable[[float, dict], Any] | None = None, cancel: Callable[[], bool] | None = None,
                  preview_every: int = 0, log_every: int = 25, name: str = "generator",
                  training: dict[str, Any] | None = None, resume: Any = None) -> GeneratorRun:
    """Train a generative model of ``data``'s images (conditional on their classes when they have any).

    Parameters
    ----------
    data : ImageSet
        Training images (their sides multiples of 4) and optional classes.
    method : {"vae", "gan", "diffusion"}
    config : dict, optional
        Overrides of :data:`DEFAULTS` ``[method]``, section by section.
    device : str or torch.device
    seed : int
        Seeds the weights, the batches and the noise: the same seed gives the same model.
    progress : callable, optional
        ``progress(fraction, history)`` after every step.
    cancel : callable, optional
        Polled before every step; True stops within one step, keeping the model so far.
    preview_every : int
        Put 16 samples of the current model (float32 in [0, 1]) in ``history["samples"]``
        every this many steps (0: never).
    log_every : int
        Steps per history entry.
    name : str
        The model's name in its card.
    training : dict, optional
        Extra card fields under ``training`` (data, licence, machine).
    resume : GeneratorRun, optional
        Go on training this run's model (same method and data size).

    Returns
    -------
    GeneratorRun
    """
    from .sample import sample

    cfg = check_generator_config(method, config)
    if data.image_size[0] % 4 or data.image_size[1] % 4:
        raise ValueError(f"{data.source}: image sides must be multiples of 4, got {data.image_size[0]}x"
                         f"{data.image_size[1]}; crop or resize the images")
    if len(data) < 2:
        raise ValueError(f"{data.source}: {len(data)} image; a generative model needs many")
    device = torch.device(device)
    tcfg = cfg["training"]
    num_classes = len(data.classes)
    intensity = intensity_range(data.images) if resume is None else resume.card["input"]["intensity"]
    images = to_unit_range(data.images, intensity)
    arch = _network_config(cfg["network"], data.image_size, num_classes)
    card = resume.card if resume is not None else {
        "name": name, "kind": "generator", "method": method, "architecture": arch,
        "task": f"{method.upper() if method != 'diffusion' else 'diffusion model'} of {data.image_size[0]}x"
                f"{data.image_size[1]} images" + (f" conditional on {', '.join(data.classes)}" if num_classes else ""),
        "classes": [{"value": i, "name": n} for i, n in enumerate(data.classes)],
        "class_priors": [c / len(data) for c in data.class_counts()],
        "input": {"image_size": list(data.image_size), "intensity": intensity},
        "sampling": {"latent_size": arch.get("latent_size")} if method != "diffusion" else
                    {"scheduler": cfg["scheduler"], "steps": SAMPLING_STEPS},
        "training": {}, "validation": {}}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if resume is not None and resume.card.get("method") != method:
            raise ValueError(f"cannot go on training a {resume.card.get('method')} model as a {method} model")
        model = resume.trained if resume is not None else build_network(arch, seed=seed)
        model.to(device).train()
        parts: dict[str, Any] = {"model": model}
        lr = float(tcfg["lr"])
        if method == "gan":
            critic = resume.critic if resume is not None and resume.critic is not None else \
                build_network(_network_config(cfg["critic"], data.image_size, num_classes), seed=seed + 1)
            critic.to(device).train()
            parts["critic"] = critic
            parts["optimisers"] = [torch.optim.Adam(model.parameters(), lr=lr, betas=(0.0, 0.9)),
                                   torch.optim.Adam(critic.parameters(), lr=lr, betas=(0.0, 0.9))]
        else:
            parts["optimisers"] = [torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-5)]
        if method == "diffusion":
            parts["scheduler"] = training_scheduler(cfg)
        total = int(tcfg["iterations"])
        schedulers = [torch.optim.lr_scheduler.LambdaLR(o, _schedule("cosine" if method != "gan" else "constant",
                                                                     total, int(tcfg["warmup"])))
                      for o in parts["optimisers"]]
        decay = float(tcfg.get("ema", 0.0))
        ema = resume.ema if resume is not None and resume.ema is not None else (
            copy.deepcopy(model).eval() if decay else None)
        batches = _Batches(images, data.labels, int(tcfg["batch_size"]), np.random.default_rng(seed), device)
        keys = ("loss", *_PARTS[method])
        history: dict[str, list] = {"iterations": [], "seconds": [], **{k: [] for k in keys}}
        running: dict[str, list[float]] = {k: [] for k in keys}
        start, step, stopped = time.perf_counter(), 0, "iterations"
        step_fn = _STEPS[method]
        for step in range(1, total + 1):
            if cancel is not None and cancel():
                stopped, step = "cancelled", step - 1
                break
            x, y = batches()
            values = step_fn(parts, x, y, cfg)
            for s in schedulers:
                s.step()
            if ema is not None:  # the average warms up: early on it follows the model closely
                _ema_update(ema, model, min(decay, (1.0 + step) / (10.0 + step)))
            for k in keys:
                running[k].append(values[k])
            if step % log_every == 0 or step == total:
                history["iterations"].append(step)
                history["seconds"].append(time.perf_counter() - start)
                for k in keys:
                    history[k].append(float(np.mean(running[k])))
                    running[k].clear()
            if preview_every and progress is not None and (step % preview_every == 0 or step == 1):
                shown = ema if ema is not None else model
                card_now = {**card, "sampling": {**card["sampling"], "steps": min(20, SAMPLING_STEPS)}}
                history["samples"] = sample(shown, card_now, 16, seed=0, unit_range=True, device=device)[0]
            if progress is not None:
                progress(step / total, history)
    model.eval()
    final = ema if ema is not None else model
    final.eval()
    seconds = time.perf_counter() - start
    previous = card.get("training", {})
    card["training"] = {**previous, **(training or {}), "iterations_run": int(previous.get("iterations_run", 0)) + step,
                        "batch_size": int(tcfg["batch_size"]), "lr": lr, "seed": seed, "images": len(data),
                        "class_counts": data.class_counts(),
                        "seconds": round(float(previous.get("seconds", 0.0)) + seconds, 1),
                        "settings": {k: v for k, v in cfg.items() if k != "network"}}
    return GeneratorRun(model=final, card=card, history=history, stopped=stopped, iterations=step, seconds=seconds,
                        trained=model, critic=parts.get("critic"), ema=ema)
