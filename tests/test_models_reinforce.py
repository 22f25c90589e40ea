"""Hard attention's REINFORCE estimator (§4.1) is unbiased for the gradient of the lower bound (Eqs. 10–12).

On a tiny model (L = 3 locations, 3 steps: 27 attention paths) the exact ∂L_s/∂W of
L_s = Σ_s p(s|a) log p(y|s,a) is computed by enumerating every path and differentiating the sum. The estimator runs
with λ_r = 1, the reward log p(y|s̃,a), no entropy term, no expected-α minibatches and a fixed (non-zero)
baseline — the setting in which the rule is unbiased. K = 16 minibatches of N samples give independent estimates;
for each parameter coordinate the error of their mean over its standard error is a t-statistic with K − 1 degrees of
freedom. Unbiased, the largest |t| over the ~460 coordinates stays below 6 (P(|t_15| > 6) ≈ 2·10⁻⁵ for one
coordinate); a REINFORCE term at half its weight, a biased estimator, already gives |t| > 10, and without it |t| is
infinite.
"""
from __future__ import annotations

import itertools

import torch

from sat.models import ModelConfig, ShowAttendTell

torch.set_num_threads(1)
L, STEPS, K, N = 3, 3, 16, 4000


def flat_grad(value: torch.Tensor, model: torch.nn.Module) -> torch.Tensor:
    grads = torch.autograd.grad(value, list(model.parameters()), allow_unused=True)
    return torch.cat([(grad if grad is not None else torch.zeros_like(p)).flatten()
                      for grad, p in zip(grads, model.parameters())])


def make_problem():
    torch.manual_seed(0)
    config = ModelConfig(attention="hard", feature_dim=4, embed_dim=4, hidden_dim=5, attention_dim=4, dropout=0.0,
                         doubly_stochastic=0.0, entropy_weight=0.0, reinforce_scale=1.0, baseline_decay=1.0,
                         expected_prob=0.0, reward="caption")
    model = ShowAttendTell(config, vocab_size=6).train()
    model.baseline.fill_(-3.0)  # decay 1: b stays fixed
    features = 2 * torch.randn(1, L, 4)
    captions, lengths = torch.tensor([[1, 4, 5, 2]]), torch.tensor([STEPS + 1])
    return model, features, captions, lengths


def exact_lower_bound_gradient(model, features, captions, lengths) -> torch.Tensor:
    paths = torch.tensor(list(itertools.product(range(L), repeat=STEPS)))  # (27, T) every location sequence
    n = len(paths)
    out = model(features.expand(n, -1, -1), captions.expand(n, -1), lengths.expand(n), locations=paths)
    log_p_path = out.log_alpha.gather(-1, paths.unsqueeze(-1)).squeeze(-1).sum(1)  # (27,) log p(s | a)
    torch.testing.assert_close(log_p_path.exp().sum(), torch.tensor(1.0))
    lower_bound = (log_p_path.exp() * -out.caption_nll).sum()  # Σ_s p(s|a) log p(y|s,a), Eq. 10
    return flat_grad(lower_bound, model)


def largest_t(model, features, captions, lengths, exact) -> float:
    """max |t| over coordinates of K estimates of ∂L_s/∂W (−∂loss/∂W) against the exact gradient."""
    estimates = torch.stack([
        -flat_grad(model.loss(features.expand(N, -1, -1), captions.expand(N, -1), lengths.expand(N)).loss, model)
        for _ in range(K)])  # (K, P)
    standard_error = estimates.std(dim=0) / K ** 0.5  # (P,)
    varies = standard_error > 1e-7  # e.g. embeddings of absent words: always exactly zero
    if (exact[~varies].abs() > 1e-6).any():
        return float("inf")  # a coordinate the estimator never moves, though the true gradient does
    return ((estimates.mean(0) - exact) / standard_error)[varies].abs().max().item()


def test_reinforce_is_unbiased_for_the_lower_bound_gradient():
    model, features, captions, lengths = make_problem()
    exact = exact_lower_bound_gradient(model, features, captions, lengths)
    torch.manual_seed(1)
    assert largest_t(model, features, captions, lengths, exact) < 6.0
    model.config.reinforce_scale = 0.5  # a down-weighted REINFORCE term (arctic uses 1/10) is biased ...
    assert largest_t(model, features, captions, lengths, exact) > 10.0
    model.config.reinforce_scale = 0.0  # ... and without it the attention gets no gradient at all
    assert largest_t(model, features, captions, lengths, exact) == float("inf")
