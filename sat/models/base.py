"""The interface every caption generator in ``sat`` implements, so that training and decoding are shared.

Shapes: B batch, T caption length (with ``<start>``/``<end>``), L annotation locations, D annotation size, V vocabulary.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn


@dataclass
class LossOutput:
    """What ``CaptionModel.loss`` returns."""

    loss: torch.Tensor  # scalar to call .backward() on (includes regularisers / REINFORCE surrogate)
    nll: torch.Tensor  # scalar: mean negative log-likelihood per real (non-pad) target word
    num_words: int  # number of real target words in the batch
    metrics: dict[str, float] = field(default_factory=dict)  # extra scalars to log (e.g. "doubly_stochastic")


class CaptionModel(nn.Module):
    """Base class: teacher-forced ``forward``/``loss`` for training, ``init_state``/``step`` for decoding.

    ``state`` is any structure of tensors whose first dimension is the batch; ``select_state`` picks rows of it (beam
    search reorders hypotheses with it). ``step`` returns log-probabilities, the new state and the attention weights
    ``alpha`` (B, L) used for that word, or ``None`` for models without attention.
    """

    vocab_size: int

    def loss(self, features: torch.Tensor, captions: torch.Tensor, lengths: torch.Tensor) -> LossOutput:
        """features (B, L, D); captions (B, T) ids ``<start> w1 .. wn <end> <pad>..``; lengths (B,) incl. both specials."""
        raise NotImplementedError

    def init_state(self, features: torch.Tensor) -> Any:
        raise NotImplementedError

    def step(self, tokens: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any, torch.Tensor | None]:
        """tokens (B,) previous words → log_probs (B, V), new state, alpha (B, L) or None."""
        raise NotImplementedError

    @staticmethod
    def select_state(state: Any, index: torch.Tensor) -> Any:
        """Rows ``index`` of every tensor in ``state`` (nested tuples/lists/dicts of tensors)."""
        if isinstance(state, torch.Tensor):
            return state.index_select(0, index)
        if isinstance(state, dict):
            return {k: CaptionModel.select_state(v, index) for k, v in state.items()}
        if isinstance(state, (tuple, list)):
            return type(state)(CaptionModel.select_state(v, index) for v in state)
        return state
