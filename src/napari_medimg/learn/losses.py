"""Segmentation loss: soft Dice (MONAI) + cross-entropy, with unlabelled voxels ignored.

Imports torch and MONAI: import this module only where a model is trained.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from monai.losses import DiceLoss

from . import IGNORE_LABEL

__all__ = ["DiceCELoss", "labelled_mask"]


def labelled_mask(target: torch.Tensor, ignore_label: int = IGNORE_LABEL) -> torch.Tensor:
    """Boolean mask of annotated voxels (neither ``ignore_label`` nor negative)."""
    return (target != ignore_label) & (target >= 0)


class DiceCELoss(torch.nn.Module):
    """Soft Dice + cross-entropy over the annotated voxels only.

    Parameters
    ----------
    ignore_label : int
        Label value of unannotated voxels (negative values are unannotated too).
    dice_weight, ce_weight : float
        Weights of the two terms.
    include_background : bool
        Whether the Dice term includes class 0.

    Notes
    -----
    ``forward(logits, target)`` takes logits ``(B, K, *spatial)`` and integer labels
    ``(B, *spatial)`` or ``(B, 1, *spatial)``. Unannotated voxels are zeroed in both the
    probabilities and the one-hot target before MONAI's :class:`monai.losses.DiceLoss`
    (batch Dice), and left out of the cross-entropy, so they change neither term nor its
    gradient. A batch with no annotated voxel gives a loss of 0 (with a gradient graph).
    """

    def __init__(self, ignore_label: int = IGNORE_LABEL, dice_weight: float = 1.0, ce_weight: float = 1.0,
                 include_background: bool = True):
        super().__init__()
        self.ignore_label = int(ignore_label)
        self.dice_weight, self.ce_weight = float(dice_weight), float(ce_weight)
        self.dice = DiceLoss(include_background=include_background, batch=True, smooth_nr=1e-5, smooth_dr=1e-5)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if target.ndim == logits.ndim:
            target = target[:, 0]
        target = target.long()
        mask = labelled_mask(target, self.ignore_label)
        if not bool(mask.any()):
            return logits.sum() * 0.0
        clean = torch.where(mask, target, torch.zeros_like(target))
        k = logits.shape[1]
        top = int(clean.max())
        if top >= k:
            raise ValueError(f"label {top} in the training labels, but the network predicts {k} classes (0-{k - 1}); "
                             f"unannotated voxels are {self.ignore_label} or negative")
        onehot = F.one_hot(clean, k).movedim(-1, 1).to(logits.dtype)
        m = mask.unsqueeze(1).to(logits.dtype)
        probs = torch.softmax(logits, dim=1)
        dice = self.dice(probs * m, onehot * m)
        ce = F.cross_entropy(logits, torch.where(mask, target, torch.full_like(target, -100)), ignore_index=-100)
        return self.dice_weight * dice + self.ce_weight * ce
