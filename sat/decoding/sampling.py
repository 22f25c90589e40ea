"""Greedy decoding and ancestral sampling: one token per image per step, the whole batch at once."""
from __future__ import annotations

from collections.abc import Callable

import torch

from ..models.base import CaptionModel
from .core import END, PAD, START, Hypothesis, evaluation, forbid_specials, to_hypothesis


def greedy(model: CaptionModel, features: torch.Tensor, max_len: int = 20) -> list[Hypothesis]:
    """The likeliest next word at every step: features (B, L, D) → one hypothesis per image."""
    return _decode(model, features, max_len, lambda log_probs: log_probs.argmax(dim=-1))


def sample(model: CaptionModel, features: torch.Tensor, temperature: float = 1.0, max_len: int = 20,
           generator: torch.Generator | None = None) -> list[Hypothesis]:
    """Each word drawn from softmax(log p / temperature); ``log_prob`` stays the model's own (temperature 1)."""
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")

    def draw(log_probs: torch.Tensor) -> torch.Tensor:
        probs = torch.softmax(log_probs / temperature, dim=-1)  # (B, V), zero at the forbidden ids
        return torch.multinomial(probs, 1, generator=generator).squeeze(1)  # (B,)

    return _decode(model, features, max_len, draw)


def _decode(model: CaptionModel, features: torch.Tensor, max_len: int,
            choose: Callable[[torch.Tensor], torch.Tensor]) -> list[Hypothesis]:
    """Run ``model.step`` until every caption has emitted ``<end>`` or ``max_len`` steps are done."""
    if max_len < 1:
        raise ValueError(f"max_len must be at least 1, got {max_len}")
    batch = features.size(0)
    with evaluation(model):
        state = model.init_state(features)
        tokens = torch.full((batch,), START, dtype=torch.long, device=features.device)  # (B,)
        finished = torch.zeros(batch, dtype=torch.bool, device=features.device)  # (B,)
        log_prob = features.new_zeros(batch)  # (B,)
        generated, maps = [], []
        for _ in range(max_len):
            log_probs, state, alpha = model.step(tokens, state)  # (B, V), ..., (B, L) or None
            log_probs = forbid_specials(log_probs)
            tokens = choose(log_probs)  # (B,)
            log_prob += log_probs.gather(1, tokens.unsqueeze(1)).squeeze(1).masked_fill(finished, 0.0)
            generated.append(tokens.masked_fill(finished, PAD))
            maps.append(alpha)
            finished |= tokens == END
            if finished.all():
                break
        generated = torch.stack(generated, dim=1)  # (B, steps)
        attention = torch.stack(maps, dim=1) if maps[0] is not None else None  # (B, steps, L)
    return [to_hypothesis(generated[b], float(log_prob[b]), attention[b] if attention is not None else None)
            for b in range(batch)]
