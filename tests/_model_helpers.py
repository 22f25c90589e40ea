"""Tiny models and batches for the model, decoding and training-loop tests (random features, a handful of words)."""
from __future__ import annotations

import torch

from sat.models.config import ModelConfig

L, D, V = 5, 6, 12  # locations, annotation size, vocabulary (4 specials + 8 words)


def tiny_config(**overrides) -> ModelConfig:
    values = dict(feature_dim=D, embed_dim=8, hidden_dim=10, attention_dim=7, dropout=0.0)
    values.update(overrides)
    return ModelConfig(**values)


def random_batch(batch: int = 4, generator: torch.Generator | None = None
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """features (B, L, D), captions (B, T+1) with random words and padding, lengths (B,) — all different."""
    features = torch.randn(batch, L, D, generator=generator)
    lengths = torch.arange(batch) % 4 + 3  # 3, 4, 5, 6, 3, ...: one to four words
    captions = torch.zeros(batch, int(lengths.max()), dtype=torch.long)
    for row, length in enumerate(lengths.tolist()):
        captions[row, 0] = 1
        captions[row, 1: length - 1] = torch.randint(4, V, (length - 2,), generator=generator)
        captions[row, length - 1] = 2
    return features, captions, lengths


def all_model_configs() -> dict[str, ModelConfig]:
    return {"sat-soft": tiny_config(), "sat-hard": tiny_config(attention="hard"), "nic": tiny_config(kind="nic"),
            "mrnn": tiny_config(kind="mrnn"), "mrnn-lstm": tiny_config(kind="mrnn", rnn_cell="lstm")}


def decoding_model(name: str, vocab: int = V, seed: int = 0) -> torch.nn.Module:
    """The model ``all_model_configs()[name]`` in eval mode for the decoding tests, seeded, its output layer scaled
    ×8: peaked, varied word distributions, like a trained model's."""
    from sat.models import build_model

    torch.manual_seed(seed)
    model = build_model(all_model_configs()[name], vocab).eval()
    with torch.no_grad():
        model.out_vocab.weight.mul_(8.0)
    return model
