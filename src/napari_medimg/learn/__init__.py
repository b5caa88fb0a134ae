"""Learned models: networks, training loop, inference and checkpoints.

Importing this package is cheap: it never imports torch or MONAI. Import the submodules
that need them explicitly (``from napari_medimg.learn import train``); those are loaded only
when a learned model is actually used.

Submodules
----------
device
    :func:`~.device.choose_device`: CUDA, then MPS, then CPU.
normalize
    Intensity normalisation per modality (numpy only).
data
    Normalise (image, labels) pairs and bring them to one spacing (numpy only).
metrics
    Dice over annotated voxels (numpy only).
patches
    Spacing-aware, class-balanced patch sampling from (image, labels) pairs (numpy only).
networks
    A registry building MONAI networks from a plain, JSON-serialisable config.
losses
    Dice + cross-entropy with unlabelled voxels ignored.
train
    The one training loop shared by every model kind.
checkpoint
    Weights in safetensors + a JSON model card, checked before anything is loaded.
infer
    Sliding-window inference returning labels on the input grid; whole-image evaluation.
classify
    CNN image classifiers: class-balanced training, calibration on held-out images, Grad-CAM.
registry
    The shipped models (segmentation, classifiers, landmark detectors, image generators), found by name.
generative
    Image generation: a VAE, a GAN and a diffusion model, their training loop, sampling and quality measures.
"""

from __future__ import annotations

import os

__all__ = ["IGNORE_LABEL"]

# torch's OpenMP threads wait by sleeping instead of spinning. On a laptop or a shared machine
# where napari, a preview or another job also wants the cores, spinning threads made a U-Net
# training step six times slower (2 cores, another job running: 7.2 s against 1.2 s per step).
# Set before torch starts its thread pool; a value the user chose is kept.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

#: Label value meaning "not annotated": such voxels are left out of the loss and the metrics.
IGNORE_LABEL = 255
