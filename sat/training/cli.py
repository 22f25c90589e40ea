"""``sat train --config configs/NAME.yaml [--resume] [SECTION.KEY=VALUE ...]`` (registered by ``sat.cli``)."""
from __future__ import annotations

import argparse
import sys

EPILOG = """\
overrides (any field of the config file, parsed by its type):
  train.lr=1e-3 train.epochs=10 train.optimizer=rmsprop train.max_minutes=60 train.val_images=0
  model.attention=hard model.doubly_stochastic=0.5 data.image_size=448 name=my_run out_dir=runs

The run folder OUT_DIR/NAME (default runs/NAME) receives config.yaml, train_log.jsonl, last.pt, best.pt (best val
BLEU-4) and best_fp16.pt. Several processes: torchrun --nproc_per_node=N -m sat train --config ... (DDP; gloo on the
CPU, NCCL on GPUs). Ctrl-C or SIGTERM stops after the current step with last.pt saved; --resume continues exactly.
"""


def register_cli(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``train`` command to ``sat``'s subcommands; its handler is ``args.func(args) -> exit status``."""
    parser = subparsers.add_parser(
        "train", help="train a caption model from a YAML config",
        description="Train a caption generator on cached CNN features: length-bucketed minibatches, RMSProp/Adam, "
                    "early stopping on validation BLEU-4 from beam search.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", "-c", metavar="YAML", help="experiment file, e.g. configs/flickr8k_soft.yaml "
                        "(default: all defaults)")
    parser.add_argument("--resume", action="store_true", help="continue the run from OUT_DIR/NAME/last.pt")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides, e.g. train.lr=1e-3")
    parser.set_defaults(func=run_train)
    return parser


def run_train(args: argparse.Namespace) -> int:
    """Load the config and train. Bad input (config, checkpoint) propagates to ``sat``'s one-line error report; a
    diverged run (NaN/inf loss) is reported in one line with exit status 1."""
    from ..config import load_config
    from .trainer import NonFiniteLossError, train

    config = load_config(args.config, args.overrides)
    try:
        train(config, resume=args.resume)
    except NonFiniteLossError as err:
        if getattr(args, "debug", False):
            raise
        print(f"sat train: {err}", file=sys.stderr)
        return 1
    return 0
