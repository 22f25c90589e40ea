"""Publish a finished Flickr8k training run: the half-precision checkpoint, its log and config, and its test scores.

    python tools/publish_run.py runs/flickr8k_soft soft [--beams 1 3 5]

1. ``RUN/best.pt`` (best validation BLEU-4) → ``checkpoints/flickr8k/NAME.pt`` in float16, inference only (≤ 25 MB).
2. ``RUN/train_log.jsonl`` and ``RUN/config.yaml`` → ``results/flickr8k/NAME/``.
3. The beam size is chosen on the dev split only: each of ``--beams`` decodes the 1000 dev images and the one with the
   best dev BLEU-4 wins (``results/flickr8k/NAME/dev_beam_selection.json`` keeps every dev score).
4. ``sat evaluate`` with that beam on the 1000 test images → ``results/flickr8k/NAME/{captions,metrics}.json``.
"""
from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

from sat.evaluation import evaluate_checkpoint
from sat.training.checkpoint import export_half

REPO = Path(__file__).resolve().parent.parent


def publish(run_dir: Path, name: str, beams: list[int]) -> dict:
    checkpoint = Path("checkpoints/flickr8k") / f"{name}.pt"  # relative: metrics.json names it the same everywhere
    results = REPO / "results/flickr8k" / name
    results.mkdir(parents=True, exist_ok=True)
    export_half(run_dir / "best.pt", REPO / checkpoint)
    for file in ("train_log.jsonl", "config.yaml"):
        shutil.copyfile(run_dir / file, results / file)

    dev = {}
    with tempfile.TemporaryDirectory() as scratch:
        for beam in beams:
            scores = evaluate_checkpoint(REPO / checkpoint, split="val", beam_size=beam, out_dir=Path(scratch) / str(beam))
            dev[beam] = {key: scores[key] for key in ("Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4", "METEOR", "ROUGE_L", "CIDEr")}
            print(f"{name}: dev beam {beam}: BLEU-4 {100 * dev[beam]['Bleu_4']:.2f} METEOR {100 * dev[beam]['METEOR']:.2f}"
                  f" CIDEr {100 * dev[beam]['CIDEr']:.1f}", flush=True)
    best_beam = max(dev, key=lambda beam: dev[beam]["Bleu_4"])
    (results / "dev_beam_selection.json").write_text(json.dumps(
        {"criterion": "dev Bleu_4", "chosen_beam": best_beam, "dev": {str(k): v for k, v in dev.items()}}, indent=2) + "\n")
    metrics = evaluate_checkpoint(checkpoint, split="test", beam_size=best_beam, out_dir=results)
    print(f"{name}: test beam {best_beam}: " + ", ".join(
        f"{key} {100 * metrics[key]:.2f}" for key in ("Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4", "METEOR", "CIDEr")))
    return metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("name")
    parser.add_argument("--beams", type=int, nargs="+", default=[1, 3, 5])
    args = parser.parse_args()
    import os
    os.chdir(REPO)
    publish(args.run_dir.resolve(), args.name, args.beams)


if __name__ == "__main__":
    main()
