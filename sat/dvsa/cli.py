"""``sat train-alignment`` and ``sat evaluate-retrieval``: the alignment model from the command line.

``register_cli(subparsers)`` adds both subcommands to the ``sat`` parser (``sat.cli`` calls it); the handlers are
:func:`cli_train_alignment` and :func:`cli_evaluate_retrieval`. Torch is imported only when a command runs.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def evaluate_checkpoint_retrieval(checkpoint: str | Path, split: str = "test", out_dir: str | Path | None = None,
                                  data_dir: str | Path | None = None, cache_dir: str | Path | None = None,
                                  threads: int | None = None, bootstrap: int = 0, device: str = "auto"
                                  ) -> dict[str, float]:
    """Rank all images × all captions of ``split`` with a saved model; write ``OUT/retrieval.json`` when asked, and
    with ``bootstrap`` draws ``OUT/retrieval_intervals.json`` (95% intervals over the split's images, seed 0).

    Returns the metrics (:data:`sat.dvsa.retrieval.KEYS`, recalls in percent). ``device``: where the scores are
    computed ("auto": CUDA if available).
    """
    import torch

    from ..training.distributed import pick_device

    from .checkpoint import load_checkpoint, load_dataset
    from .data import make_pairs, open_features
    from .evaluate import similarity_matrix
    from .retrieval import retrieval_intervals, retrieval_metrics

    if bootstrap and out_dir is None:
        raise ValueError("bootstrap intervals need an output folder (--out)")
    if threads:
        torch.set_num_threads(threads)
    model, vocab, config, _ = load_checkpoint(checkpoint)
    model.to(pick_device(device))
    dataset = load_dataset(config, data_dir)
    records = dataset.split(split)
    cache_dir = cache_dir or config.cache_dir
    store = open_features(dataset, config.encoder, config.image_size, cache_dir, records)
    mirror_store = (open_features(dataset, config.encoder, config.image_size, cache_dir, records, hflip=True)
                    if config.average_views else None)
    pairs = make_pairs(records, store, vocab, mirror_store=mirror_store, average_views=config.average_views)
    sim = similarity_matrix(model, pairs)  # (N_img, N_sent)
    metrics = {k: round(v, 2) for k, v in retrieval_metrics(sim, pairs.sentence_image).items()}
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "retrieval.json").write_text(json.dumps(metrics, indent=2) + "\n")
        if bootstrap:
            intervals = {key: {end: round(value, 2) for end, value in interval.items()}
                         for key, interval in retrieval_intervals(sim, pairs.sentence_image, samples=bootstrap).items()}
            (out / "retrieval_intervals.json").write_text(json.dumps(
                {"samples": bootstrap, "confidence": 0.95, "seed": 0, "split": split, "num_images": len(records),
                 "scores": intervals}, indent=2) + "\n")
    return metrics


def format_metrics(metrics: dict[str, float]) -> str:
    """One line: annotation and search R@1/5/10 and median rank."""
    def side(name: str) -> str:
        return (f"R@1 {metrics[f'{name}_R@1']:.1f}  R@5 {metrics[f'{name}_R@5']:.1f}  "
                f"R@10 {metrics[f'{name}_R@10']:.1f}  med r {metrics[f'{name}_medr']:g}")
    return f"annotation (i2t): {side('i2t')} | search (t2i): {side('t2i')}"


def cli_evaluate_retrieval(args: argparse.Namespace) -> int:
    """Handler of ``sat evaluate-retrieval``."""
    metrics = evaluate_checkpoint_retrieval(args.checkpoint, args.split, args.out, args.data_dir, args.cache_dir,
                                            args.threads, args.bootstrap, args.device)
    print(f"{args.split}: {format_metrics(metrics)}")
    if args.out:
        print(f"wrote {Path(args.out) / 'retrieval.json'}"
              + (f" and {Path(args.out) / 'retrieval_intervals.json'}" if args.bootstrap else ""))
    return 0


def cli_train_alignment(args: argparse.Namespace) -> int:
    """Handler of ``sat train-alignment``."""
    from .config import AlignmentConfig
    from .train import train_alignment

    config = AlignmentConfig.from_yaml(args.config)
    for key in ("epochs", "max_minutes", "data_dir", "cache_dir", "threads", "checkpoint", "log", "seed", "device"):
        value = getattr(args, key)
        if value is not None:
            setattr(config, key, value)
    _, history = train_alignment(config)
    best = max(history, key=lambda r: r["dev_rsum"])
    print(f"best dev epoch {best['epoch']}: " + format_metrics({k[4:]: v for k, v in best.items()
                                                                 if k.startswith("dev_") and k != "dev_rsum"}))
    print(f"wrote {config.checkpoint} and {config.log}")
    return 0


def register_cli(subparsers: argparse._SubParsersAction) -> None:
    """Add ``train-alignment`` and ``evaluate-retrieval`` to the ``sat`` command."""
    from ..cli import HelpFormatter as fmt
    train = subparsers.add_parser(
        "train-alignment", formatter_class=fmt, help="train Karpathy & Fei-Fei's image–sentence alignment model",
        description="Train the alignment model (regions × BRNN words, Eq. 8 score, Eq. 9 ranking loss) on the "
                    "train split, choose the epoch by dev recall, and write the checkpoint (float16) and a JSONL log.")
    train.add_argument("--config", required=True, metavar="YAML", help="e.g. configs/dvsa_flickr8k.yaml")
    train.add_argument("--epochs", type=int, help="override the config's epochs")
    train.add_argument("--max-minutes", type=float, help="override the config's time budget")
    train.add_argument("--threads", type=int, help="torch CPU threads (config default: 1)")
    train.add_argument("--seed", type=int, help="override the config's seed")
    train.add_argument("--device", choices=("auto", "cpu", "cuda"), help="override the config's device")
    train.add_argument("--checkpoint", metavar="CKPT", help="where to write the model (overrides the config)")
    train.add_argument("--log", metavar="JSONL", help="where to write the per-epoch log (overrides the config)")
    train.add_argument("--data-dir", help="data folder (default: $SAT_DATA, else ~/.cache/sat/data)")
    train.add_argument("--cache-dir", help="feature cache folder (default: $SAT_CACHE, else ~/.cache/sat/cache)")
    train.set_defaults(func=cli_train_alignment)

    evaluate = subparsers.add_parser(
        "evaluate-retrieval", formatter_class=fmt, help="image annotation and image search recall of an alignment model",
        description="Score every image of a split against every caption of it (Flickr8k test: 1000 × 5000) and report "
                    "R@1, R@5, R@10 (percent) and the median rank for image annotation (i2t) and image search (t2i). "
                    "Ties count against the model.")
    evaluate.add_argument("--checkpoint", required=True, metavar="CKPT", help="written by `sat train-alignment`")
    evaluate.add_argument("--split", default="test", help="train | val (dev) | test")
    evaluate.add_argument("--out", metavar="DIR", help="write DIR/retrieval.json")
    evaluate.add_argument("--bootstrap", type=int, default=0, metavar="N",
                          help="also write DIR/retrieval_intervals.json: 95%% intervals over N redraws of the images")
    evaluate.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    evaluate.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                          help="where to compute the scores (auto: CUDA if available)")
    evaluate.add_argument("--data-dir", help="data folder (default: the checkpoint's, else $SAT_DATA)")
    evaluate.add_argument("--cache-dir", help="feature cache folder (default: the checkpoint's, else $SAT_CACHE)")
    evaluate.set_defaults(func=cli_evaluate_retrieval)
