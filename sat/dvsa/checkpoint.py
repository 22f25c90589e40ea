"""Saving and loading the alignment model: weights in half precision, with its config and vocabulary."""
from __future__ import annotations

from pathlib import Path

import torch

from ..data.records import CaptionDataset
from ..data.vocab import Vocabulary
from .config import AlignmentConfig
from .model import AlignmentModel


def save_checkpoint(path: str | Path, model: AlignmentModel, vocab: Vocabulary, config: AlignmentConfig,
                    feature_dim: int, extra: dict | None = None) -> Path:
    """Write ``{config, vocab, feature_dim, state_dict (float16), **extra}`` to ``path``; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().half() if v.is_floating_point() else v for k, v in model.state_dict().items()}
    torch.save({"kind": "dvsa", "config": config.to_dict(), "vocab": vocab.to_dict(), "feature_dim": feature_dim,
                "state_dict": state, **(extra or {})}, path)
    return path


def load_checkpoint(path: str | Path) -> tuple[AlignmentModel, Vocabulary, AlignmentConfig, dict]:
    """The model (float32, eval mode), its vocabulary and config, and the whole checkpoint dict."""
    ckpt = torch.load(Path(path), map_location="cpu", weights_only=False)
    if ckpt.get("kind") != "dvsa":
        raise ValueError(f"{path}: not an alignment-model checkpoint (kind={ckpt.get('kind')!r})")
    config = AlignmentConfig.from_dict(ckpt["config"])
    vocab = Vocabulary.from_dict(ckpt["vocab"])
    model = AlignmentModel.from_config(config, len(vocab), ckpt["feature_dim"])
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in ckpt["state_dict"].items()})
    return model.eval(), vocab, config, ckpt


def load_dataset(config: AlignmentConfig, data_root: str | Path | None = None) -> CaptionDataset:
    """The dataset named by ``config.dataset`` (:func:`sat.data.load_dataset`) from ``data_root`` or the config's."""
    from ..data import load_dataset as load_named

    return load_named(config.dataset, data_root or config.data_dir)
