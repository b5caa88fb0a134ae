"""Generative models of 2D medical images: a VAE, a GAN and a diffusion model, with quality measures.

Importing this package is cheap (no torch). Submodules:

data
    Training images (an .npz stack, arrays, patches of a volume) and their intensity mapping (numpy only).
nets
    The networks (torch), built by name through :mod:`napari_medimg.learn.networks`.
fit
    :func:`~.fit.fit_generator`: one training loop for the three methods, with progress and cancel.
sample
    :func:`~.sample.sample` new images, :func:`~.sample.interpolate` between two images, :func:`~.sample.reconstruct`.
quality
    Fréchet distance, KID, precision / recall, memorisation (nearest-neighbour SSIM), histogram distance.
"""

from __future__ import annotations

__all__ = ["METHODS"]

#: the generative methods, in the order a user meets them (fast and blurry to slow and best)
METHODS = ("vae", "gan", "diffusion")
