"""Sliding-window inference of a 3D U-Net: ours (``learn.infer.predict``) against MONAI's
``sliding_window_inference``, plus the training throughput of the same network.

Run ``python benchmarks/bench_sliding_window.py [--size 256 256 256] [--overlap 0.5 0.25]
[--steps 120] [--weights /tmp/unet.pt] [--repeat 1] [--exact]`` (about 25 minutes on 2 loaded
cores, most of it MONAI at overlap 0.5; ``--weights`` keeps the fitted network for a rerun).

Data: the CT-like phantom of ``_common.py`` (int16, 1 mm isotropic here), labels 0 air,
1 body, 2 lungs (both lungs one class: telling left from right needs more context than a
64^3 patch has), 3 spine, 4 a nodule. Normalised with a CT window [-1000, 1000].

Network: MONAI's BasicUNet, 3D, features (8, 8, 16, 32, 64, 8), batch norm, 5 classes
(small enough for a 2-core CPU), **fitted first** for ``--steps`` steps (AdamW, lr 1e-2,
Dice + CE) with :func:`napari_medimg.learn.train.train` on
:class:`~napari_medimg.learn.patches.PatchSampler` patches (32^3, batch 4: more steps per
minute than 64^3) of another phantom (seed 1). Fitting matters for the agreement figure: a
random-init network has near-tied logits almost everywhere, so any change of summation
order or context flips labels and the agreement says nothing about the method; a fitted
network has the confident outputs of a real model. Training throughput: a separate short
run (``--throughput-steps``) of the same network with 64^3 patches, batch 2.

Inference, same network, patch 64^3, gaussian blending (sigma 0.125 x patch), batch size 1,
float32, all cores:

- MONAI: ``sliding_window_inference(x, (64, 64, 64), 1, net, overlap=o, mode="gaussian")``
  under ``torch.no_grad()`` and ``argmax`` of the blended logits (what a user writes).
- ours: ``predict(net, image, patch_size=(64, 64, 64), overlap=o, batch_size=1)``: tiles of
  up to 160^3 voxels evaluated in one pass, overlapping by the windows' overlap, flat-topped
  gaussian blending, argmax per finished tile-row, uint8 labels.
- ``--tile-voxels N ...``: also ours with tiles of up to N voxels (``256**3``: the whole
  volume in one pass, about 3 GB of activations for this network).
- ``--exact``: also ours with ``tile_voxels=0`` (MONAI's own windows, ``*`` in the table).

Timings are interleaved (MONAI, ours, MONAI, ours with ``--repeat 2``); best of ``--repeat``.
Agreement: share of voxels whose label equals MONAI's.

Measured (2-core AMD EPYC CPU, AVX2, no native bfloat16, torch 2.13 CPU, MONAI 1.6, 256^3,
the 2 cores shared with a training job of another session: load 3-7, so single timings
swing by up to 2x between runs; --repeat 1):

| overlap | run | MONAI (s) | ours (s) | ratio | labels equal to MONAI's | where MONAI is confident |
|---|---|---|---|---|---|---|
| 0.5 | A | 451.2 | 63.3 | 0.14 | 99.69 % | - |
| 0.25 | A | 111.4 | 41.8 | 0.38 | 99.05 % | - |
| 0.5 | B | 251.3 | 38.3 | 0.15 | 96.77 % | - |
| 0.25 | B | 117.6 | 41.9 | 0.36 | 96.34 % | - |
| 0.5 | C | 189.0 | 50.2 | 0.27 | 96.77 % | 99.32 % of 49 % |
| 0.25 | C | 84.6 | 41.2 | 0.49 | 96.34 % | 99.32 % of 49 % |

Run A: network fitted 24 steps on 64^3 patches (batch 2, lr 5e-3; mean foreground Dice vs
truth 0.32). Runs B, C: the network of this script's defaults (120 steps of 32^3 x 4;
Dice 0.48 for MONAI, 0.47 for ours; MONAI at overlap 0.5 vs MONAI at 0.25: 98.75 % of
labels equal). Whole volume as one tile (``--tile-voxels 16777216``, run B): 37.0 s / 44.1 s,
agreement 96.20 % / 95.82 %, peak extra RSS 3.9 GB (default tiles: 0.9-1.0 GB; MONAI
0.45-0.6 GB). Training throughput (same network, 64^3 patches, batch 2, ``learn.train`` on
``PatchSampler``): 0.17-0.21 patches/s (the 32^3 x 4 fit: 0.75 patches/s).

Reading: tiles of 144^3 (8 for 256^3) compute 1.42x the volume where MONAI's 64^3 windows
compute 2x (overlap 0.25, 125 windows) or 5.4x (overlap 0.5, 343 windows), and channels-last
tiles run faster per voxel; at overlap 0.5 ours is at or under 0.3x, at overlap 0.25 it is
0.36-0.49x. The labels do NOT reach 99.9 % agreement with these quickly fitted networks:
their outputs depend on context beyond a 64^3 window (only ~49 % of voxels have a top
probability >= 0.9, and MONAI's own result changes on 1.25 % of voxels between overlaps
0.25 and 0.5); about 9 in 10 differing voxels are where MONAI is unsure. A network trained to
convergence at the inference patch size is needed to settle the 99.9 % figure. With
``tile_voxels=0`` ours evaluates MONAI's own windows and equals its labels up to float
rounding (``tests/learn/test_sliding_window.py``) at about MONAI's speed (0.96x on 128^3).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import PeakRSS, ct_labels, ct_phantom  # noqa: E402  (shared benchmark helpers, same folder)

from napari_medimg.learn.infer import predict  # noqa: E402
from napari_medimg.learn.normalize import normalize  # noqa: E402

PATCH = (64, 64, 64)
UNET = {"name": "basic_unet", "spatial_dims": 3, "in_channels": 1, "out_channels": 5,
        "features": [8, 8, 16, 32, 64, 8]}
CT_WINDOW = {"kind": "ct", "window": [-1000, 1000]}


def case(shape, seed):
    """Normalised float32 phantom and its 5-class labels (both lungs one class)."""
    labels = ct_labels(shape)
    labels[labels == 3] = 2
    labels[labels >= 4] -= 1
    return normalize(ct_phantom(shape, seed=seed), CT_WINDOW).astype(np.float32), labels


def train_unet(net, shape, patch, batch, steps, lr):
    """``steps`` steps of :func:`~napari_medimg.learn.train.train` on PatchSampler patches; patches per second."""
    from napari_medimg.learn.losses import DiceCELoss
    from napari_medimg.learn.patches import PatchSampler
    from napari_medimg.learn.train import train

    sampler = PatchSampler([case(shape, seed=1)], (1.0, 1.0, 1.0), patch, batch_size=batch, batches_per_epoch=steps,
                           foreground_fraction=0.7, multiple=16, seed=0)
    result = train(net, DiceCELoss(), sampler, num_classes=5, max_epochs=1, lr=lr, warmup=5, seed=0)
    return result.iterations * batch / result.seconds, result.history["loss"][-1]


def fitted_unet(shape, steps, weights):
    """The BasicUNet, fitted on 32^3 patches (batch 4) or loaded from ``weights`` when that file exists."""
    import torch

    from napari_medimg.learn.networks import build_network

    net = build_network(UNET, seed=0)
    if weights and Path(weights).exists():
        net.load_state_dict(torch.load(weights, weights_only=True))
        print(f"weights from {weights}", flush=True)
    else:
        rate, loss = train_unet(net, shape, (32, 32, 32), 4, steps, 1e-2)
        print(f"fit: {steps} steps x 4 patches of 32^3: {rate:.2f} patches/s, final loss {loss:.3f}", flush=True)
        if weights:
            torch.save(net.state_dict(), weights)
    return net.eval()


def monai_labels(net, image, overlap):
    """MONAI's labels (argmax of the blended logits); the logits are kept in ``LOGITS`` for
    :func:`confident`, outside the timing."""
    import torch
    from monai.inferers import sliding_window_inference

    with torch.no_grad():
        LOGITS[overlap] = sliding_window_inference(torch.from_numpy(image)[None, None], PATCH, 1, net,
                                                   overlap=overlap, mode="gaussian")[0]
        return LOGITS[overlap].argmax(0).numpy().astype(np.uint8)


#: overlap -> MONAI's blended logits of the latest run
LOGITS: dict = {}


def confident(overlap) -> np.ndarray:
    """Voxels where MONAI's blended top-class probability is at least 0.9 (frees the logits)."""
    import torch

    return torch.softmax(LOGITS.pop(overlap), 0).amax(0).numpy() >= 0.9


def timed(function):
    with PeakRSS() as mem:
        t0 = time.perf_counter()
        out = function()
        seconds = time.perf_counter() - t0
    return seconds, mem.extra_mb, out


def dice_fg(pred, truth, k=5):
    return np.mean([2 * np.sum((pred == c) & (truth == c)) / max(1, np.sum(pred == c) + np.sum(truth == c))
                    for c in range(1, k)])


def main():
    from _common import base_parser

    parser = base_parser(__doc__)
    parser.set_defaults(size=[256, 256, 256])
    parser.add_argument("--overlap", nargs="+", type=float, default=[0.5, 0.25])
    parser.add_argument("--steps", type=int, default=120, help="fitting steps (32^3 patches, batch 4)")
    parser.add_argument("--throughput-steps", type=int, default=4, help="training steps timed at 64^3, batch 2")
    parser.add_argument("--weights", help="cache of the fitted weights (loaded when present, else written)")
    parser.add_argument("--exact", action="store_true", help="also ours with MONAI's windows (tile_voxels=0)")
    parser.add_argument("--tile-voxels", nargs="*", type=int, default=[], help="extra rows of ours with these tiles")
    args = parser.parse_args()
    import os

    import torch

    shape = tuple(args.size[::-1])
    print(f"load {os.getloadavg()[0]:.2f}, {torch.get_num_threads()} torch threads, "
          f"cpu {torch.backends.cpu.get_cpu_capability()}, volume {shape}", flush=True)
    if args.throughput_steps:
        from napari_medimg.learn.networks import build_network

        probe = build_network(UNET, seed=0)
        rate, _ = train_unet(probe, shape, PATCH, 2, args.throughput_steps, 1e-3)
        print(f"training throughput: {args.throughput_steps} steps x 2 patches of 64^3: {rate:.2f} patches/s",
              flush=True)
    net = fitted_unet(shape, args.steps, args.weights)
    image, truth = case(shape, seed=0)
    rows, monai_by_overlap = [], {}
    for overlap in args.overlap:
        variants = {"ours": None, **{f"ours, tile_voxels={n}": n for n in args.tile_voxels}}
        if args.exact:
            variants["ours, MONAI's windows*"] = 0
        runs = {name: [] for name in ("monai", *variants)}
        outs = {}
        for _ in range(args.repeat):
            calls = [("monai", lambda o=overlap: monai_labels(net, image, o))]
            calls += [(name, lambda n=n, o=overlap: predict(net, image, patch_size=PATCH, overlap=o, batch_size=1,
                                                            tile_voxels=n)) for name, n in variants.items()]
            for name, call in calls:
                seconds, mb, outs[name] = timed(call)
                runs[name].append((seconds, mb))
                print(f"  overlap {overlap}: {name} {seconds:.1f} s, peak extra RSS {mb:.0f} MB", flush=True)
        ref = monai_by_overlap[overlap] = outs["monai"]
        sure = confident(overlap)
        for name, times in runs.items():
            best = min(times)
            equal = outs[name] == ref
            agree = f"{np.mean(equal):.4%} ({np.mean(equal[sure]):.4%} of the {np.mean(sure):.1%} confident)"
            rows.append((overlap, name, best[0], best[0] / min(runs["monai"])[0], agree, best[1],
                         dice_fg(outs[name], truth)))
    print("\n| overlap | method | seconds | ratio to MONAI | labels equal to MONAI's (where MONAI's top "
          "probability >= 0.9) | peak extra RSS (MB) "
          "| mean foreground Dice vs truth |")
    print("|---|---|---|---|---|---|---|")
    for overlap, name, seconds, ratio, agree, mb, dice in rows:
        print(f"| {overlap} | {name} | {seconds:.1f} | {ratio:.2f} | {agree} | {mb:.0f} | {dice:.3f} |")
    if len(monai_by_overlap) > 1:  # how much MONAI's own result depends on the overlap, for scale
        (a, la), (b, lb) = list(monai_by_overlap.items())[:2]
        print(f"\nMONAI at overlap {a} vs MONAI at overlap {b}: {np.mean(la == lb):.4%} of labels equal")


if __name__ == "__main__":
    main()
