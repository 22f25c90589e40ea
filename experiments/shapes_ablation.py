#!/usr/bin/env python
"""The doubly stochastic ablation of chapter 7 on the synthetic shapes scenes: soft attention trained with
λ ∈ {0, 0.1, 1, 10} in Eq. 14 (target τ = 1), everything else equal.

1. ``make_shapes(n_images, seed)``: 64×64 scenes, 80 % train / 10 % val / 10 % test, five captions each.
2. Pretrain a SmallCNN (16-32-64 channels, 8×8 grid) to label every grid cell with the kind of object on it (or none);
   freeze it and cache its features plus one-hot row/column positions as the annotation vectors (D = 64 + 16).
3. For each decoder seed and each λ, train the same soft-attention decoder (``shapes_attention.decoder_config``) with
   Adam — for one seed, every λ starts from the same initial weights and sees the same minibatches — then measure it
   on the test images.

Writes (all small; rerunning reproduces them bit for bit on the same machine)::

    checkpoints/shapes/encoder.pt              the pretrained SmallCNN and its cell classifier
    checkpoints/shapes/soft_lambda{λ}_seed{s}.pt   one decoder per λ and seed (config, vocabulary, weights)
    results/shapes/train_log.jsonl             one row per epoch of every stage
    results/shapes/ablation.json               settings, run times, and the test metrics of every model

Run: ``.venv/bin/python experiments/shapes_ablation.py`` (about 12 minutes on one CPU thread).
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sat.analysis import shapes_attention as sa  # noqa: E402
from sat.data import make_shapes  # noqa: E402


def lambda_name(value: float) -> str:
    return f"{value:g}".replace(".", "p")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lambdas", type=float, nargs="+", default=[0.0, 0.1, 1.0, 10.0])
    parser.add_argument("--n-images", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0, help="the scenes and the encoder")
    parser.add_argument("--decoder-seeds", type=int, nargs="+", default=[0, 1],
                        help="initial weights and minibatch order of the decoders: one model per λ and seed")
    parser.add_argument("--encoder-epochs", type=int, default=8)
    parser.add_argument("--decoder-epochs", type=int, default=10)
    parser.add_argument("--results", type=Path, default=ROOT / "results" / "shapes")
    parser.add_argument("--checkpoints", type=Path, default=ROOT / "checkpoints" / "shapes")
    args = parser.parse_args(argv)

    torch.set_num_threads(1)
    started = time.perf_counter()
    args.results.mkdir(parents=True, exist_ok=True)
    args.checkpoints.mkdir(parents=True, exist_ok=True)
    log_path = args.results / "train_log.jsonl"
    log_file = log_path.open("w")

    def log(row: dict) -> None:
        print(json.dumps(row), flush=True)
        log_file.write(json.dumps(row) + "\n")
        log_file.flush()

    shapes = make_shapes(args.n_images, seed=args.seed)
    train, test = sa.split_indices(shapes, "train"), sa.split_indices(shapes, "test")
    images = shapes.images_tensor()  # (N, 3, 64, 64) uint8
    labels = sa.cell_labels(shapes)  # (N, 64)

    stage = time.perf_counter()
    encoder = sa.pretrain_encoder(images[train], labels[train], epochs=args.encoder_epochs, seed=args.seed, log=log)
    encoder_seconds = time.perf_counter() - stage
    sa.save_encoder(encoder, args.checkpoints / "encoder.pt")
    encoder_accuracy = sa.cell_accuracy(encoder, images[test], labels[test])
    log({"stage": "encoder", "test": encoder_accuracy})

    features = sa.annotations(encoder, images)  # (N, L, D)
    vocab = sa.shapes_vocabulary(shapes)
    table = sa.caption_table(shapes, train, vocab)
    models = {}
    for decoder_seed in args.decoder_seeds:
        for value in args.lambdas:
            stage = time.perf_counter()
            config = sa.decoder_config(features.size(-1), value)
            model = sa.train_decoder(config, vocab, features, table, table.image, epochs=args.decoder_epochs,
                                     seed=decoder_seed, log=lambda row: log({**row, "seed": decoder_seed}))
            seconds = time.perf_counter() - stage
            name = f"soft_lambda{lambda_name(value)}_seed{decoder_seed}"
            sa.save_decoder(model, vocab, args.checkpoints / f"{name}.pt")
            metrics = sa.evaluate(model, vocab, shapes, features[test], test)
            log({"stage": "test", "lambda": value, "seed": decoder_seed, **metrics})
            models[name] = {"lambda": value, "seed": decoder_seed, "checkpoint": f"checkpoints/shapes/{name}.pt",
                            "train_seconds": seconds, "test": metrics}

    result = {
        "settings": {**{k: (str(v.relative_to(ROOT)) if isinstance(v, Path) else v) for k, v in vars(args).items()},
                     "grid": sa.grid_side(shapes.image_size), "feature_dim": int(features.size(-1)),
                     "train_images": len(train), "test_images": len(test), "train_pairs": len(table),
                     "torch": torch.__version__, "python": platform.python_version(), "threads": 1},
        "encoder": {"checkpoint": "checkpoints/shapes/encoder.pt", "train_seconds": encoder_seconds,
                    "test_cell_accuracy": encoder_accuracy},
        "models": models,
        "total_seconds": time.perf_counter() - started,
    }
    (args.results / "ablation.json").write_text(json.dumps(result, indent=2) + "\n")
    log_file.close()
    return result


if __name__ == "__main__":
    main()
