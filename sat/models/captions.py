"""The output side shared by every caption model: teacher-forcing targets, the masked likelihood, the softmax bias.

A caption ``<start> w_1 .. w_n <end> <pad> ..`` of length n + 2 gives n + 1 prediction steps: the input at step t is
token t, the target token t + 1. Steps past a caption's end are padding and must never reach the loss.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def teacher_forcing(captions: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Split captions (B, T+1) with lengths (B,) (both specials counted) into inputs, targets and mask, each (B, T).

    The batch is first cut to its longest caption, so trailing all-padding columns cost nothing.
    """
    longest = int(lengths.max())
    captions = captions[:, :longest]  # (B, T+1)
    inputs, targets = captions[:, :-1], captions[:, 1:]  # (B, T) each
    steps = torch.arange(longest - 1, device=captions.device)  # (T,)
    mask = steps.unsqueeze(0) < (lengths.to(captions.device) - 1).unsqueeze(1)  # (B, T) True at real targets
    return inputs, targets, mask


def caption_nll(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor,
                label_smoothing: float = 0.0) -> torch.Tensor:
    """−log p(y | a) of each caption, summed over its real words: logits (N, V) at the N real steps ``mask`` selects
    (in row-major order), targets and mask (B, T) → (B,).

    With ``label_smoothing`` ε > 0 each word's target is (1 − ε) one-hot + ε uniform over the V ids (Szegedy
    et al., 2016): a word costs (1 − ε)(−log p(y_t)) + ε · mean_v(−log p(v)), a training loss, not a likelihood."""
    word_loss = F.cross_entropy(logits, targets[mask], reduction="none",
                                label_smoothing=label_smoothing)  # (N,)
    per_step = word_loss.new_zeros(mask.shape).masked_scatter(mask, word_loss)  # (B, T), zero at padding
    return per_step.sum(dim=1)  # (B,)


def caption_losses(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor,
                   label_smoothing: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """``(nll, loss)`` per caption, each (B,): −log p(y | a) for the log, the perplexity and hard attention's reward,
    and the training loss, its label-smoothed form (``caption_nll``), which is the same tensor when ε = 0."""
    nll = caption_nll(logits, targets, mask)
    return nll, (caption_nll(logits, targets, mask, label_smoothing) if label_smoothing else nll)


def log_frequency_bias(word_counts: torch.Tensor) -> torch.Tensor:
    """Softmax bias initialised to log word frequency (Karpathy & Fei-Fei §3.2): counts (V,) → bias (V,).

    Ids that never occur as targets (``<pad>``, ``<start>``) are counted once so the logarithm stays finite; the bias is
    shifted so the most frequent word gets 0, as in neuraltalk.
    """
    frequency = word_counts.float().clamp(min=1.0)
    frequency = frequency / frequency.sum()
    log_frequency = frequency.log()
    return log_frequency - log_frequency.max()
