"""Soft attention as an approximation of hard attention: the normalised weighted geometric mean (NWGM), §4.2.

With hard attention the word distribution at step t is a mixture over the attended location s_t ~ α_t::

    E_α[p(y_t = k | a)] = Σ_i α_ti softmax(n_t,·,i)_k          (the expected softmax)

where n_t,k,i are the logits when the context is a_i alone (Eq. 7 with ẑ_t = β_t a_i). Xu et al. replace this mixture
by its normalised weighted *geometric* mean, which is exactly the softmax of the expected logits::

    NWGM_k = Π_i softmax(n_·,i)_k^{α_i} / Σ_j Π_i softmax(n_·,i)_j^{α_i} = softmax(Σ_i α_i n_·,i)_k

and, for a layer that is linear in ẑ_t, Σ_i α_i n_i = n(Σ_i α_i a_i): the logits of the expected context, which is
what the soft model computes. This module measures both steps on a model: the NWGM gap (expected softmax vs softmax
of expected logits) and the linearisation gap (softmax of expected logits vs the soft model's own distribution, which
differ because of the tanh in the deep output layer and, when the LSTM step is recomputed for each location, the
LSTM's nonlinearities).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..models.captions import teacher_forcing
from ..models.show_attend_tell import ShowAttendTell


def nwgm(logits: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Normalised weighted geometric mean of the softmaxes of ``logits`` (..., L, K) with ``weights`` (..., L) that
    sum to one: Π_i p_i^{w_i} / Σ_j Π_i p_i(j)^{w_i}, computed in log space → (..., K)."""
    log_p = torch.log_softmax(logits, dim=-1)  # (..., L, K)
    return torch.softmax((weights.unsqueeze(-1) * log_p).sum(dim=-2), dim=-1)  # (..., K)


def expected_softmax(logits: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """The mixture Σ_i w_i softmax(logits_i): logits (..., L, K), weights (..., L) → (..., K)."""
    return (weights.unsqueeze(-1) * torch.softmax(logits, dim=-1)).sum(dim=-2)


def softmax_of_expected_logits(logits: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """softmax(Σ_i w_i logits_i): logits (..., L, K), weights (..., L) → (..., K). Equal to :func:`nwgm`."""
    return torch.softmax((weights.unsqueeze(-1) * logits).sum(dim=-2), dim=-1)


@dataclass
class AttentionSteps:
    """Every real (non-padding) step of a teacher-forced soft-attention pass, N steps in row-major (caption, t) order.

    ``location_logits`` (N, L, K): n_t,·,i, the logits had the context been β_t a_i alone; ``soft_logits`` (N, K): the
    soft model's own logits (context β_t Σ_i α_ti a_i); ``alpha`` (N, L); ``beta`` (N,) the gate (ones when the model
    has none); ``targets`` (N,) the reference words; ``caption`` and ``step`` (N,) where each step comes from.
    """

    location_logits: torch.Tensor
    soft_logits: torch.Tensor
    alpha: torch.Tensor
    beta: torch.Tensor
    targets: torch.Tensor
    caption: torch.Tensor
    step: torch.Tensor


@torch.no_grad()
def attention_steps(model: ShowAttendTell, features: torch.Tensor, captions: torch.Tensor, lengths: torch.Tensor,
                    recompute_state: bool = True) -> AttentionSteps:
    """Run the soft model teacher-forced over ``captions`` (B, T+1) of images ``features`` (B, L, D) and, at each real
    step, also the L one-location alternatives of hard attention (s_t = i, i = 1..L) from the same h_{t-1}, c_{t-1}.

    ``recompute_state=True``: the alternative for location i redoes the whole step with context β_t a_i (the LSTM
    update, Eqs. 1–3, and the output layer, Eq. 7) — hard attention's p(y_t | s_t = i, a, y_<t) given the soft model's
    history. ``False``: h_t stays the soft model's, and only the context term of Eq. 7 changes (the paper's
    n_t = L_o(E y_{t-1} + L_h h_t + L_z ẑ_t) with ẑ_t set to a_i). The trajectory always follows the soft model.
    The model should be in eval mode (no dropout).
    """
    inputs, targets, mask = teacher_forcing(captions, lengths)  # (B, T) each
    projected = model.attention.project_annotations(features)  # (B, L, A)
    words = model.embedding(inputs)  # (B, T, E)
    word_gates = model.word_to_gates(words)  # (B, T, 4H)
    hidden, cell = model.initial_state(features)  # (B, H) each
    batch, locations = features.shape[:2]
    out: dict[str, list[torch.Tensor]] = {key: [] for key in ("location", "soft", "alpha", "beta", "target", "caption",
                                                              "step")}
    for t in range(inputs.size(1)):
        real = mask[:, t]  # (B,)
        context, log_alpha, _ = model.attend(features, projected, hidden.unsqueeze(1), "expected")
        context, alpha = context.squeeze(1), log_alpha.squeeze(1).exp()  # (B, D), (B, L)
        beta = torch.sigmoid(model.gate(hidden)) if model.gate is not None else hidden.new_ones(batch, 1)  # (B, 1)
        new_hidden, new_cell = model.recur(word_gates[:, t], context, hidden, cell)
        if real.any():
            rows = real.nonzero().squeeze(1)  # (b,)
            n = len(rows)
            contexts = beta[rows].unsqueeze(-1) * features[rows]  # (b, L, D): β_t a_i for every i
            word = words[rows, t].unsqueeze(1).expand(-1, locations, -1).reshape(n * locations, -1)  # (b·L, E)
            if recompute_state:
                h_i, _ = model.recur(word_gates[rows, t].repeat_interleave(locations, dim=0),
                                     contexts.reshape(n * locations, -1),
                                     hidden[rows].repeat_interleave(locations, dim=0),
                                     cell[rows].repeat_interleave(locations, dim=0))  # (b·L, H)
            else:
                h_i = new_hidden[rows].repeat_interleave(locations, dim=0)  # (b·L, H)
            out["location"].append(model.logits(word, h_i, contexts.reshape(n * locations, -1)).view(n, locations, -1))
            out["soft"].append(model.logits(words[rows, t], new_hidden[rows], context[rows]))  # (b, K)
            out["alpha"].append(alpha[rows])
            out["beta"].append(beta[rows, 0])
            out["target"].append(targets[rows, t])
            out["caption"].append(rows)
            out["step"].append(torch.full_like(rows, t))
        hidden, cell = new_hidden, new_cell
    order = torch.cat(out["caption"]) * inputs.size(1) + torch.cat(out["step"])
    sort = order.argsort()  # row-major (caption, step) order
    cat = {key: torch.cat(values)[sort] for key, values in out.items()}
    return AttentionSteps(location_logits=cat["location"], soft_logits=cat["soft"], alpha=cat["alpha"],
                          beta=cat["beta"], targets=cat["target"], caption=cat["caption"], step=cat["step"])


def total_variation(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """½ Σ_k |p_k − q_k| over the last dimension."""
    return 0.5 * (p - q).abs().sum(dim=-1)


def kl_divergence(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """KL(p ‖ q) = Σ_k p_k log(p_k / q_k) over the last dimension (0 log 0 = 0)."""
    return torch.special.xlogy(p, p).sum(dim=-1) - (p * torch.log(q.clamp_min(torch.finfo(q.dtype).tiny))).sum(dim=-1)


def compare(p: torch.Tensor, q: torch.Tensor, targets: torch.Tensor | None = None) -> dict[str, float]:
    """How close the distributions q (N, K) are to p (N, K), averaged over the N rows: total variation, KL(p ‖ q),
    top-1 agreement and, with ``targets`` (N,), the mean |log p(y) − log q(y)| of the reference words."""
    p, q = p.double(), q.double()
    result = {"tv": float(total_variation(p, q).mean()), "kl": float(kl_divergence(p, q).mean()),
              "top1": float((p.argmax(dim=-1) == q.argmax(dim=-1)).float().mean())}
    if targets is not None:
        log_p = torch.log(p.gather(1, targets.unsqueeze(1)).squeeze(1))
        log_q = torch.log(q.gather(1, targets.unsqueeze(1)).squeeze(1))
        result["target_log_gap"] = float((log_p - log_q).abs().mean())
    return result
