"""What every decoder shares: the ``Hypothesis`` it returns and the rules of generation.

A decoder calls ``model.init_state`` once and ``model.step`` once per generated token (``sat/models/base.py``). It never
generates ``<pad>`` or ``<start>``; it stops a caption at ``<end>`` or after ``max_len`` steps (``<end>`` included), and
a caption that never ended is still returned, marked ``finished=False``.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch

from ..data.vocab import Vocabulary
from ..models.base import CaptionModel

PAD, START, END = Vocabulary.pad_id, Vocabulary.start_id, Vocabulary.end_id


@dataclass
class Hypothesis:
    """One generated caption."""

    tokens: list[int]  # word ids, without <start> and <end>
    log_prob: float  # log p(caption | image): the words, plus <end> when the caption finished
    attention: torch.Tensor | None  # (len(tokens), L): α for each word, None for models without attention
    finished: bool = True  # False when max_len ran out before <end>
    score: float = 0.0  # what beam search ranked by: log_prob, divided by length^α under length normalisation
    alternatives: list["Hypothesis"] = field(default_factory=list)  # the beam's next best, best first (beam search)


@contextlib.contextmanager
def evaluation(model: CaptionModel) -> Iterator[None]:
    """Decode in eval mode (no dropout, test-time attention) without gradients, then restore the model's mode."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        model.train(was_training)


def forbid_specials(log_probs: torch.Tensor) -> torch.Tensor:
    """``<pad>`` and ``<start>`` are never targets, so never generated: log_probs (N, V) with both set to −∞."""
    log_probs = log_probs.clone()
    log_probs[:, [PAD, START]] = float("-inf")
    return log_probs


def to_hypothesis(tokens: torch.Tensor, log_prob: float, attention: torch.Tensor | None,
                  score: float | None = None) -> Hypothesis:
    """A ``Hypothesis`` from one row of generated ids (n_steps,), ``<pad>`` after ``<end>``, and maps (n_steps, L)
    (copied to the CPU, whatever device decoded)."""
    ids = tokens.tolist()
    finished = END in ids
    words = ids[: ids.index(END)] if finished else ids
    maps = attention[: len(words)].to("cpu", copy=True) if attention is not None else None
    return Hypothesis(words, log_prob, maps, finished, log_prob if score is None else score)
