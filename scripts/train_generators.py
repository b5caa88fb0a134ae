"""Train, judge and ship the PneumoniaMNIST image generators (VAE, GAN, diffusion model).

Usage::

    python scripts/train_generators.py train vae [--iterations N] [--work DIR]
    python scripts/train_generators.py train gan
    python scripts/train_generators.py train diffusion
    python scripts/train_generators.py evaluate [--work DIR]      # quality of the three against baselines
    python scripts/train_generators.py ship [--work DIR]          # the best one as pneumoniamnist-generator
    python scripts/train_generators.py all                        # the four steps above, in order

Training uses the PneumoniaMNIST train split only (../shared/data/classification); the val
split is held apart as the reference every quality figure is measured against. ``evaluate``
writes ``<work>/quality.json`` and ``scripts/results/generation_quality.json`` (see
:mod:`napari_medimg.learn.generative.quality` for the measures); ``ship`` copies the model with
the lowest Fréchet distance to ``learn/models/pneumoniamnist-generator`` with its card (figures
included) and Markdown card. ``--work`` defaults to ``scripts/results/generators``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("NAPARI_MEDIMG_SHARED", ROOT.parent / "shared")) / "data"
NPZ = DATA / "classification" / "pneumoniamnist_train_val.npz"
CLASSES = ["normal", "pneumonia"]
sys.path.insert(0, str(ROOT / "src"))

TRAINING = {"data": "PneumoniaMNIST (MedMNIST v2) train split of ../shared/data/classification (388 normal, 3494 "
                    "pneumonia, 28x28); the val split (135 normal, 389 pneumonia) is held apart for the quality figures",
            "licence": "CC BY 4.0 (MedMNIST v2, Yang et al. 2023; images from Kermany et al. 2018)",
            "machine": "2-core CPU, one thread"}


def cmd_train(method: str, iterations: int | None, work: Path, seed: int) -> Path:
    import torch

    from napari_medimg.learn.checkpoint import save_checkpoint
    from napari_medimg.learn.generative.data import load_npz
    from napari_medimg.learn.generative.fit import fit_generator

    torch.set_num_threads(int(os.environ.get("TRAIN_THREADS", "2")))
    data = load_npz(NPZ, "train", CLASSES)
    config = {"training": {"iterations": iterations}} if iterations else None
    last = [0.0]

    def progress(fraction, history):
        if time.perf_counter() - last[0] > 30 and history["iterations"]:
            last[0] = time.perf_counter()
            print(f"{method}: {history['iterations'][-1]} steps, loss {history['loss'][-1]:.4f}, "
                  f"{history['seconds'][-1]:.0f} s", flush=True)

    run = fit_generator(data, method, config, seed=seed, progress=progress, name=f"pneumoniamnist-{method}",
                        training=TRAINING)
    run.card["modality"] = "chest radiograph (frontal, paediatric; MedMNIST 28x28 thumbnails)"
    run.card["command"] = f"python scripts/train_generators.py all"
    run.card["training"]["history"] = {k: run.history[k] for k in ("iterations", "loss")}
    path = save_checkpoint(work / f"pneumoniamnist-{method}.safetensors", run.model, run.card)
    print(f"{method}: {run.iterations} steps in {run.seconds:.0f} s -> {path}", flush=True)
    return path


def cmd_evaluate(work: Path, n: int, seed: int) -> dict:
    from napari_medimg.learn.generative.quality import evaluate_generators

    report = evaluate_generators(NPZ, {m: work / f"pneumoniamnist-{m}.safetensors" for m in ("vae", "gan", "diffusion")},
                                 n=n, seed=seed, work=work, log=lambda text: print(text, flush=True))
    text = json.dumps(report, indent=2)
    (work / "quality.json").write_text(text + "\n")
    (ROOT / "scripts" / "results" / "generation_quality.json").write_text(text + "\n")
    return report


def _ship(work: Path, report: dict, method: str, name: str, task: str) -> Path:
    from napari_medimg.learn.checkpoint import read_card, save_checkpoint
    from napari_medimg.learn.generative.sample import load_generator
    from napari_medimg.learn.registry import MODELS_DIR, card_markdown

    model, card = load_generator(work / f"pneumoniamnist-{method}.safetensors")
    card = {k: v for k, v in card.items() if k not in ("format", "format_version", "weights", "versions")}
    card["name"], card["task"] = name, task
    card["training"]["machine"] = ("2-core CPU, one thread, beside the other generators' training (alone it takes "
                                   "about half the time)")
    card["validation"] = {"method": report["method"], "figures": report["models"], "baselines": report["baselines"],
                          "reference": report["reference"], "real_floor": report["real_floor"], "chosen": method,
                          "notes": report["notes"]}
    path = save_checkpoint(MODELS_DIR / f"{name}.safetensors", model, card)
    (MODELS_DIR / f"{name}.md").write_text(card_markdown(read_card(path)))
    print(f"shipped {method} as {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return path


def cmd_ship(work: Path) -> list[Path]:
    """The best model (lowest Fréchet distance on classifier features) as pneumoniamnist-generator, and the VAE
    (which alone encodes images: latent walks, reconstructions) as pneumoniamnist-vae."""
    report = json.loads((work / "quality.json").read_text())
    best = min(report["models"], key=lambda m: report["models"][m]["fid_classifier"])
    what = "synthetic paediatric chest radiographs (28x28), normal or pneumonia"
    return [_ship(work, report, best, "pneumoniamnist-generator", f"{what}: the {best} model, the best of three"),
            _ship(work, report, "vae", "pneumoniamnist-vae",
                  f"{what}, latent walks between radiographs and reconstructions: a VAE")]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("step", choices=["train", "evaluate", "ship", "all"])
    parser.add_argument("method", nargs="?", choices=["vae", "gan", "diffusion"])
    parser.add_argument("--iterations", type=int)
    parser.add_argument("--n", type=int, default=1000, help="generated images per quality figure")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path, default=ROOT / "scripts" / "results" / "generators")
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    if args.step in ("train", "all"):
        for method in ([args.method] if args.method else ["vae", "gan", "diffusion"]):
            cmd_train(method, args.iterations, args.work, args.seed)
    if args.step in ("evaluate", "all"):
        cmd_evaluate(args.work, args.n, args.seed)
    if args.step in ("ship", "all"):
        cmd_ship(args.work)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
