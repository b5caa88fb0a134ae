"""The PneumoniaMNIST stack the image classifier GUI tests tag and predict."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def pneumonia_stack(shared_data: Path, n_train: int = 300, n_val: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """Images ``(n_train + n_val, 28, 28)`` and labels (0 normal, 1 pneumonia).

    ``n_train`` balanced training images (a seeded sample of the training split: its first
    images are all pneumonia), then the first ``n_val`` validation images.
    """
    data = np.load(shared_data / "classification" / "pneumoniamnist_train_val.npz")
    labels = data["train_labels"][:, 0]
    rng = np.random.default_rng(0)
    train = np.sort(np.concatenate([
        rng.choice(np.flatnonzero(labels == k), n_train // 2, replace=False) for k in (0, 1)
    ]))
    images = np.concatenate([data["train_images"][train], data["val_images"][:n_val]])
    return images, np.concatenate([labels[train], data["val_labels"][:n_val, 0]]).astype(np.int64)
