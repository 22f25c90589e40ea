"""The attention model of Show, Attend and Tell (§3.1.2, §4).

An MLP scores every annotation vector a_i against the previous LSTM state (Eq. 4)::

    e_ti = w^T tanh(W_a a_i + W_h h_{t-1} + b)        α_t = softmax_i(e_t)        (Eq. 5)

``W_a a_i + b`` does not depend on t: ``project_annotations`` computes it once per image. The context
ẑ_t = φ({a_i}, α_t) (Eq. 6) is then either the expectation Σ_i α_ti a_i (soft attention, Eq. 13) or the one
annotation at a location s_t drawn from Multinoulli(α_t) (hard attention, Eqs. 8–9).

Shapes: B images, R rows (LSTM states) per image — 1 in training, the beam size in beam search —, L locations,
D annotation size, H hidden size, A attention size. Keeping R separate lets every beam of an image share one copy of
the image's annotations instead of repeating them R times.
"""
from __future__ import annotations

import torch
from torch import nn


def _tanh(x: torch.Tensor) -> torch.Tensor:
    """tanh of a temporary tensor, computed on CPU as 2σ(2x) − 1, in place when autograd does not need x.

    PyTorch's CPU sigmoid is vectorised and its tanh several times slower; this is the model's largest elementwise
    tensor (B·R·L·A values per step).
    """
    if x.device.type != "cpu":
        return torch.tanh(x)
    if not (torch.is_grad_enabled() and x.requires_grad):
        return x.mul_(2.0).sigmoid_().mul_(2.0).sub_(1.0)
    return torch.sigmoid(2.0 * x).mul(2.0).sub_(1.0)


class MLPAttention(nn.Module):
    """``e_ti = w^T tanh(W_a a_i + W_h h_{t-1} + b)`` (Eq. 4), returned as log α (Eq. 5)."""

    def __init__(self, feature_dim: int, hidden_dim: int, attention_dim: int) -> None:
        super().__init__()
        self.annotation_proj = nn.Linear(feature_dim, attention_dim)  # W_a and b
        self.hidden_proj = nn.Linear(hidden_dim, attention_dim, bias=False)  # W_h
        self.score = nn.Linear(attention_dim, 1)  # w (its bias cancels in the softmax but is harmless)

    def project_annotations(self, annotations: torch.Tensor) -> torch.Tensor:
        """``W_a a_i + b`` for every location, once per image: (B, L, D) → (B, L, A)."""
        return self.annotation_proj(annotations)

    def forward(self, projected: torch.Tensor, hidden: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """log α_ti for each row's previous state.

        projected (B, L, A) from ``project_annotations``; hidden (B, R, H) holds h_{t-1}; mask (B, L), True at real
        locations (None: all are real). Returns log α (B, R, L); α = log α .exp() sums to one over L.
        """
        query = self.hidden_proj(hidden)  # (B, R, A)
        energy = self.score(_tanh(projected.unsqueeze(1) + query.unsqueeze(2))).squeeze(-1)  # (B, R, L)
        if mask is not None:
            energy = energy.masked_fill(~mask.unsqueeze(1), float("-inf"))
        return torch.log_softmax(energy, dim=-1)  # (B, R, L)


def soft_context(annotations: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """The expected annotation Σ_i α_ti a_i (Eq. 13): annotations (B, L, D), alpha (B, R, L) → (B, R, D)."""
    return torch.bmm(alpha, annotations)


def sample_locations(alpha: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """One location per row, s_t ~ Multinoulli_L(α_t) (Eq. 8): alpha (..., L) → indices (...) (long).

    Inverse-CDF sampling: the first location whose cumulative probability exceeds a uniform draw. It uses exactly one
    random number per row whatever α is, so runs with the same seed draw the same numbers.
    """
    uniform = torch.rand(alpha.shape[:-1] + (1,), generator=generator, device=alpha.device, dtype=alpha.dtype)
    below = (alpha.cumsum(dim=-1) < uniform).sum(dim=-1)  # (...) locations whose CDF is still below the draw
    return below.clamp(max=alpha.size(-1) - 1)  # rounding can leave the CDF's last value a hair under 1


def hard_context(annotations: torch.Tensor, locations: torch.Tensor) -> torch.Tensor:
    """ẑ_t = Σ_i s_t,i a_i for one-hot s_t (Eq. 9), i.e. the annotation at each chosen location.

    annotations (B, L, D), locations (B, R) → (B, R, D).
    """
    index = locations.unsqueeze(-1).expand(-1, -1, annotations.size(-1))  # (B, R, D)
    return annotations.gather(1, index)  # (B, R, D)
