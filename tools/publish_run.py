"""Publish a finished Flickr8k training run: the half-precision checkpoint, its log and config, and its test scores.

    python tools/publish_run.py runs/flickr8k_soft soft [--beams 3 5 7] [--length-norms 0 0.5 1] [--views plain mirror]
    python tools/publish_run.py soft   # the committed checkpoint: choose its decoding again, re-score the test split

1. ``RUN/best.pt`` (best validation BLEU-4) → ``checkpoints/flickr8k/NAME.pt`` in float16, inference only (≤ 25 MB).
2. ``RUN/train_log.jsonl`` and ``RUN/config.yaml`` → ``results/flickr8k/NAME/``.
3. The decoding is chosen on the dev split only: every beam size of ``--beams`` × length normalisation of
   ``--length-norms`` × view of ``--views`` (the image alone, or the image together with its mirror image,
   :mod:`sat.decoding.views`) decodes the 1000 dev images, and the one with the best dev BLEU-4 + METEOR wins — the
   two scores of the paper's headline comparison, equally weighted (``--criterion Bleu_4`` for BLEU-4 alone).
   ``results/flickr8k/NAME/dev_beam_selection.json`` keeps every dev score.
4. ``sat evaluate`` with that choice on the 1000 test images → ``results/flickr8k/NAME/{captions,metrics}.json``,
   and ``intervals.json``: 95% bootstrap intervals of the test scores (1000 draws of the test images).

Without ``RUN`` steps 1 and 2 are skipped: the committed checkpoint, log and config stay as they are.
"""
from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

from sat.evaluation import SCORE_NAMES, evaluate_checkpoint
from sat.training.checkpoint import export_half

REPO = Path(__file__).resolve().parent.parent


def dev_criterion(scores: dict[str, float], criterion: str) -> float:
    """The dev score a decoding choice is ranked by: the sum of the named coco-caption scores (``"Bleu_4+METEOR"``)."""
    return sum(scores[name] for name in criterion.split("+"))


def decoding_grid(beams: list[int], length_norms: list[float]) -> list[tuple[int, float]]:
    """The (beam size, length normalisation) pairs decoded on dev: beam 1 keeps one caption, so it has no P to choose."""
    return [(beam, norm) for beam in beams for norm in (length_norms if beam > 1 else [0.0])]


def dev_selection(checkpoint: Path, beams: list[int], length_norms: list[float], criterion: str, label: str,
                  mirror: bool = False
                  ) -> tuple[tuple[int, float], dict[tuple[int, float], dict[str, float]]]:
    """Decode the dev split with every beam size × length normalisation → (the best pair by ``criterion``, all
    scores). ``mirror`` decodes every image together with its mirror image."""
    dev = {}
    view = " with its mirror" if mirror else ""
    with tempfile.TemporaryDirectory() as scratch:
        for beam, norm in decoding_grid(beams, length_norms):
            scores = evaluate_checkpoint(checkpoint, split="val", beam_size=beam, length_normalization=norm,
                                         mirror=mirror, out_dir=Path(scratch) / f"{beam}_{norm}")
            dev[(beam, norm)] = {key: scores[key] for key in SCORE_NAMES}
            print(f"{label}: dev beam {beam}, length normalisation {norm}{view}: BLEU-4 {100 * scores['Bleu_4']:.2f} "
                  f"METEOR {100 * scores['METEOR']:.2f} CIDEr {100 * scores['CIDEr']:.1f}", flush=True)
    best = max(dev, key=lambda choice: dev_criterion(dev[choice], criterion))
    return best, dev


VIEWS = {"plain": False, "mirror": True}  # --views: the image alone, or the image with its mirror image


def publish(run_dir: Path | None, name: str, beams: list[int], length_norms: list[float], criterion: str,
            views: list[str]) -> dict:
    checkpoint = Path("checkpoints/flickr8k") / f"{name}.pt"  # relative: metrics.json names it the same everywhere
    results = REPO / "results/flickr8k" / name
    results.mkdir(parents=True, exist_ok=True)
    if run_dir is not None:
        export_half(run_dir / "best.pt", REPO / checkpoint)
        for file in ("train_log.jsonl", "config.yaml"):
            shutil.copyfile(run_dir / file, results / file)

    dev = {}  # (beam, P, mirror) → dev scores
    for view in views:
        _, scores = dev_selection(REPO / checkpoint, beams, length_norms, criterion, name, mirror=VIEWS[view])
        dev.update({(beam, norm, VIEWS[view]): value for (beam, norm), value in scores.items()})
    best_beam, best_norm, best_mirror = max(dev, key=lambda choice: dev_criterion(dev[choice], criterion))
    (results / "dev_beam_selection.json").write_text(json.dumps(
        {"criterion": f"dev {criterion}", "chosen_beam": best_beam, "chosen_length_normalization": best_norm,
         "chosen_mirror": best_mirror,
         "dev": [{"beam": beam, "length_normalization": norm, "mirror": mirror, **scores}
                 for (beam, norm, mirror), scores in dev.items()]},
        indent=2) + "\n")
    metrics = evaluate_checkpoint(checkpoint, split="test", beam_size=best_beam, length_normalization=best_norm,
                                  mirror=best_mirror, out_dir=results, bootstrap=1000)
    print(f"{name}: test beam {best_beam}, length normalisation {best_norm}, mirror {best_mirror}: " + ", ".join(
        f"{key} {100 * metrics[key]:.2f}" for key in ("Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4", "METEOR", "CIDEr")))
    return metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run_dir", type=Path, nargs="?",
                        help="the finished run (omit it to keep the committed checkpoint and re-choose its decoding)")
    parser.add_argument("name")
    parser.add_argument("--beams", type=int, nargs="+", default=[3, 5, 7])
    parser.add_argument("--length-norms", type=float, nargs="+", default=[0.0, 0.5, 1.0],
                        help="exponents P of the final ranking by log p / length^P")
    parser.add_argument("--views", nargs="+", choices=list(VIEWS), default=list(VIEWS),
                        help="decode each image alone (plain) and/or together with its mirror image (mirror)")
    parser.add_argument("--criterion", default="Bleu_4+METEOR", help="dev scores to maximise, joined by +")
    args = parser.parse_args()
    import os
    os.chdir(REPO)
    publish(args.run_dir.resolve() if args.run_dir is not None else None, args.name, args.beams, args.length_norms,
            args.criterion, args.views)


if __name__ == "__main__":
    main()
