"""The ``sat`` command: one entry point, one subcommand per task, ``--help`` on each.

    sat data download flickr8k        fetch and unpack a dataset
    sat features --dataset flickr8k   encode every image once and cache the annotation vectors
    sat train --config CONFIG.yaml    train a caption model (sat.training.cli)
    sat evaluate --checkpoint CKPT    caption a split with beam search, write captions.json and metrics.json
    sat caption IMAGE...              caption image files, optionally plotting the attention
    sat evaluate-retrieval, sat train-alignment   Karpathy & Fei-Fei's alignment model (sat.dvsa.cli)

Bad input (a missing or unreadable file, a wrong option value, an incompatible checkpoint) ends with one line
``sat: error: …`` and exit status 2; ``sat --debug …`` shows the traceback instead. Heavy modules (torch) are
imported only when a command runs, so ``--help`` stays quick.
"""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from collections.abc import Callable, Sequence

from . import __version__

USER_ERROR_TYPES: tuple[str, ...] = (  # "module:Class" of the exceptions that mean bad input, not a bug
    "sat.data.errors:DataError", "sat.data.download:DownloadError", "sat.training.checkpoint:CheckpointError",
    "sat.evaluation.tokenizer:JavaNotFoundError",
)
TRAINING_CLI, ALIGNMENT_CLI = "sat.training.cli", "sat.dvsa.cli"  # modules whose register_cli(subparsers) add commands


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Each option's default at the end of its help, unless it has none or its help already tells it."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or "(default:" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def _formatter(prog: str) -> argparse.HelpFormatter:
    return HelpFormatter(prog, max_help_position=32)


def _debug_parent() -> argparse.ArgumentParser:
    """``--debug`` also after the subcommand (SUPPRESS: the top-level value is kept when it is not repeated)."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show the full traceback of an error")
    return parent


# ------------------------------------------------------------------------------------------------------- handlers

def run_download(args: argparse.Namespace) -> int:
    from .data.download import download_flickr8k

    root = download_flickr8k(args.data_dir, progress=not args.quiet)
    print(f"{args.dataset}: {root}")
    return 0


def run_features(args: argparse.Namespace) -> int:
    from .data import load_dataset
    from .features import DONE, FAILED, extract_features

    dataset = load_dataset(args.dataset, args.data_dir)
    splits = [s for s in args.splits] if args.splits else None
    store = extract_features(dataset, args.encoder, args.image_size, args.cache_dir, batch_size=args.batch_size,
                             splits=splits, progress=not args.quiet, hflip=args.hflip, device=args.device)
    wanted = [r.filename for r in dataset.images if splits is None or r.split in set(splits)]
    status = [int(store.status[store.index[name]]) for name in wanted]
    print(f"{store.root}: {store.array.shape[0]} images, L={store.array.shape[1]} (grid {store.grid}), "
          f"D={store.feature_dim}; {status.count(DONE)} of the {len(wanted)} requested extracted, "
          f"{status.count(FAILED)} unreadable")
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from .evaluation import SCORE_NAMES, evaluate_checkpoint

    metrics = evaluate_checkpoint(args.checkpoint, split=args.split, beam_size=args.beam, out_dir=args.out,
                                  data_dir=args.data_dir, cache_dir=args.cache_dir, max_len=args.max_len,
                                  batch_size=args.batch_size, length_normalization=args.length_normalization,
                                  fast=args.fast, bf16=args.bf16, bootstrap=args.bootstrap, mirror=args.mirror,
                                  device=args.device)
    scores = "  ".join(f"{name} {100 * metrics[name]:.2f}" for name in SCORE_NAMES if name in metrics)
    view = ", each with its mirror image" if metrics["mirror"] else ""
    print(f"{metrics['dataset']} {metrics['split']} ({metrics['num_images']} images, beam {metrics['beam_size']}"
          f"{view}): {scores}  (×100)")
    written = "captions.json and metrics.json"
    if args.bootstrap:
        intervals = json.loads((Path(args.out) / "intervals.json").read_text())["scores"]
        print("95% intervals (bootstrap over images): " + "  ".join(
            f"{name} {100 * i['low']:.2f}–{100 * i['high']:.2f}" for name, i in intervals.items()))
        written = "captions.json, metrics.json and intervals.json"
    print(f"wrote {written} to {args.out}")
    return 0


def run_caption(args: argparse.Namespace) -> int:
    from .caption import DECODING, caption_images, default_decoding

    decoding = dict(DECODING) if args.checkpoint is not None else default_decoding()
    given = {"beam_size": args.beam, "length_normalization": args.length_normalization, "mirror": args.mirror}
    decoding.update({key: value for key, value in given.items() if value is not None})
    from .training.distributed import pick_device

    results = caption_images(args.images, checkpoint=args.checkpoint, plot_dir=args.plot, max_len=args.max_len,
                             device=pick_device(args.device), **decoding)
    failed = 0
    for path, caption, error in results:
        if error is None:
            print(f"{path}\t{caption}", flush=True)
        else:
            failed += 1
            print(f"sat caption: error: {_one_line(error)}", file=sys.stderr, flush=True)
    if args.plot and failed < len(results):
        print(f"attention figures in {args.plot}", file=sys.stderr)
    if failed:
        print(f"sat caption: {failed} of {len(results)} image(s) could not be captioned", file=sys.stderr)
    return 1 if failed else 0


# -------------------------------------------------------------------------------------------------------- parsers

def _add_data(subparsers: argparse._SubParsersAction, debug: argparse.ArgumentParser) -> None:
    data = subparsers.add_parser("data", help="get datasets", description="Get datasets.", parents=[debug],
                                 formatter_class=_formatter)
    commands = data.add_subparsers(dest="data_command", metavar="COMMAND", required=True)
    download = commands.add_parser(
        "download", help="download and unpack a dataset", parents=[debug], formatter_class=_formatter,
        description="Download a dataset into DATA_DIR/NAME (resumable, skipped when already complete).")
    download.add_argument("dataset", choices=["flickr8k"], help="which dataset")
    download.add_argument("--data-dir", help="data folder (default: $SAT_DATA, else ~/.cache/sat/data)")
    download.add_argument("--quiet", action="store_true", help="no progress bar")
    download.set_defaults(func=run_download)


def _add_features(subparsers: argparse._SubParsersAction, debug: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "features", help="encode the images once and cache the annotation vectors", parents=[debug],
        formatter_class=_formatter,
        description="Run the CNN encoder over a dataset's images and cache the annotation vectors (float16) under "
                    "CACHE_DIR/features/DATASET/ENCODER-SIZE/. Resumable; unreadable images are skipped and listed.")
    parser.add_argument("--dataset", default="flickr8k",
                        help="flickr8k | flickr8k-karpathy | flickr30k | coco | shapes")
    parser.add_argument("--encoder", default="efficientnet-lite0", help="CNN encoder name (sat.encoders)")
    parser.add_argument("--image-size", type=int, default=224, help="images are squashed to SIZE×SIZE")
    parser.add_argument("--splits", nargs="+", metavar="SPLIT", choices=["train", "val", "test"],
                        help="extract only these splits (default: all)")
    parser.add_argument("--batch-size", type=int, default=32, help="images per encoder batch")
    parser.add_argument("--hflip", action="store_true",
                        help="encode the left-right mirrored images, into ENCODER-SIZE-hflip/ (data.hflip trains on them)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                        help="where the encoder runs (auto: CUDA if available)")
    parser.add_argument("--data-dir", help="data folder (default: $SAT_DATA, else ~/.cache/sat/data)")
    parser.add_argument("--cache-dir", help="cache folder (default: $SAT_CACHE, else ~/.cache/sat/cache)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run_features)


def _add_evaluate(subparsers: argparse._SubParsersAction, debug: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "evaluate", help="caption a split and score it (BLEU, METEOR, ROUGE-L, CIDEr)", parents=[debug],
        formatter_class=_formatter,
        description="Caption every image of a split of the checkpoint's dataset with beam search and score the "
                    "captions with the coco-caption scorer (PTB tokenizer and METEOR run on Java). Writes "
                    "OUT/captions.json (COCO results format) and OUT/metrics.json (scores as fractions).")
    parser.add_argument("--checkpoint", required=True, metavar="CKPT", help="a checkpoint written by `sat train`")
    parser.add_argument("--split", default="test", help="train | val (dev) | test")
    parser.add_argument("--beam", type=int, default=3, metavar="K", help="beam size (1 = greedy)")
    parser.add_argument("--out", required=True, metavar="DIR", help="folder for captions.json and metrics.json")
    parser.add_argument("--max-len", type=int, default=20, help="longest caption, in words")
    parser.add_argument("--batch-size", type=int, default=50, help="images decoded at once")
    parser.add_argument("--length-normalization", type=float, default=0.0, metavar="P",
                        help="rank finished beams by log p / length^P (0 = plain log-probability)")
    parser.add_argument("--mirror", action="store_true",
                        help="decode each image together with its mirror image: the mean of the two word "
                             "distributions at every step (features from `sat features --hflip`)")
    parser.add_argument("--fast", action="store_true",
                        help="no Java: pure-Python tokenisation and no METEOR (not the official protocol)")
    parser.add_argument("--bf16", action="store_true",
                        help="decode with bfloat16 matrix products on the CPU (≈2× faster with AVX512-BF16/AMX; "
                             "a few captions change, so the committed scores use float32)")
    parser.add_argument("--bootstrap", type=int, default=0, metavar="N",
                        help="also write OUT/intervals.json: 95%% intervals of BLEU, ROUGE-L and CIDEr over N "
                             "redraws of the split's images (0 = none; 1000 takes about a second)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                        help="where the decoder runs (auto: CUDA if available)")
    parser.add_argument("--data-dir", help="data folder (default: the checkpoint's, else $SAT_DATA)")
    parser.add_argument("--cache-dir", help="feature cache folder (default: the checkpoint's, else $SAT_CACHE)")
    parser.set_defaults(func=run_evaluate)


def _add_caption(subparsers: argparse._SubParsersAction, debug: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "caption", help="caption image files", parents=[debug], formatter_class=_formatter,
        description="Print IMAGE<TAB>caption for each image (any size or mode). An unreadable file is reported on "
                    "stderr and skipped; the exit status is 1 if any image failed.")
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="image files")
    parser.add_argument("--checkpoint", metavar="CKPT",
                        help="model to use (default: the project's Flickr8k soft-attention model, "
                             "checkpoints/flickr8k/soft.pt)")
    published = "; the default model: as in its published scores, results/flickr8k/soft/metrics.json"
    parser.add_argument("--beam", type=int, metavar="K", help=f"beam size, 1 = greedy (default: 3{published})")
    parser.add_argument("--max-len", type=int, default=20, help="longest caption, in words")
    parser.add_argument("--length-normalization", type=float, metavar="P",
                        help=f"rank finished beams by log p / length^P, 0 = plain log-probability (default: 0{published})")
    parser.add_argument("--mirror", action=argparse.BooleanOptionalAction,
                        help="decode each image together with its mirror image: the mean of the two word "
                             f"distributions at every step, twice the encoding and decoding (default: off{published})")
    parser.add_argument("--plot", metavar="DIR",
                        help="also save each image's attention figure (one panel per word) as DIR/IMAGE.png")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                        help="where the encoder and decoder run (auto: CUDA if available)")
    parser.set_defaults(func=run_caption)


def _add_plugin(subparsers: argparse._SubParsersAction, module: str) -> None:
    """Commands that another part of the package registers with its ``register_cli(subparsers)``, if it is there."""
    if importlib.util.find_spec(module) is not None:
        importlib.import_module(module).register_cli(subparsers)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sat", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Show, Attend and Tell (Xu et al., 2015) and Deep Visual-Semantic Alignments\n"
                    "(Karpathy & Fei-Fei, 2015) in PyTorch.",
        epilog="`sat COMMAND --help` explains each command. Bad input ends with one line `sat: error: ...` and\n"
               "exit status 2; `sat --debug COMMAND ...` shows the traceback instead.")
    parser.add_argument("--version", action="version", version=f"sat {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    debug = _debug_parent()
    _add_data(subparsers, debug)
    _add_features(subparsers, debug)
    _add_plugin(subparsers, TRAINING_CLI)
    _add_evaluate(subparsers, debug)
    _add_caption(subparsers, debug)
    _add_plugin(subparsers, ALIGNMENT_CLI)
    return parser


# ----------------------------------------------------------------------------------------------------------- main

def _one_line(message: object) -> str:
    return " ".join(str(message).split())


def is_user_error(err: BaseException) -> bool:
    """Whether ``err`` is bad input (reported in one line) rather than a bug (reported with its traceback)."""
    if isinstance(err, (ValueError, FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError)):
        return True
    for spec in USER_ERROR_TYPES:
        module_name, class_name = spec.split(":")
        module = sys.modules.get(module_name)  # only a module already imported can have raised it
        if module is not None and isinstance(err, getattr(module, class_name)):
            return True
    return False


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``sat`` with ``argv`` (default: the process's arguments) and return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int | None] | None = getattr(args, "func", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        status = handler(args)
    except KeyboardInterrupt:
        print("sat: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # noqa: BLE001 — bad input becomes one line; anything else keeps its traceback
        if args.debug or not is_user_error(err):
            raise
        print(f"sat: error: {_one_line(err)}", file=sys.stderr)
        return 2
    return int(status or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
