"""Hard attention's gradient, exactly and by Monte Carlo, on a model small enough to enumerate (chapter 6).

The variational lower bound of §4.1 (Eq. 10) sums over every attention path s = (s_1 .. s_T), s_t ∈ {1 .. L}::

    L_s = Σ_s p(s|a) log p(y|s,a)  ≤  log Σ_s p(s|a) p(y|s,a) = log p(y|a)          (Jensen)

With L locations and T steps there are L^T paths, so for L = 4, T = 3 (64 paths) everything is exact: the bound, the
marginal likelihood, the gradient ∂L_s/∂W (Eq. 11), and the whole distribution of the single-sample estimator of
Eq. 12 — it takes value g(s) with probability p(s|a), so its mean and variance are finite sums:

    g(s) = ∂log p(y|s,a)/∂W + λ_r (R(s) − b) ∂log p(s|a)/∂W + λ_e ∂H[s]/∂W

``enumerate_paths`` computes, for every path, the three per-path gradients from the model's own forward pass with the
path forced (``ShowAttendTell.forward(..., locations=)``); ``estimator_moments`` turns them into the exact mean and
total variance (trace of the covariance) of any variant of the estimator (reward, baseline, λ_r, λ_e);
``monte_carlo_gradient`` runs the real training loss (``ShowAttendTell.loss``, which samples paths itself) on N copies
of the example and returns the N-sample estimate. Shapes: P paths, T steps, L locations, W parameters (flattened).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import torch

from ..models import ModelConfig, ShowAttendTell


@dataclass
class TinyProblem:
    """One image and one caption for a tiny hard-attention model."""

    model: ShowAttendTell
    features: torch.Tensor  # (1, L, D)
    captions: torch.Tensor  # (1, T+1): <start> w_1 .. w_{T-1} <end>
    lengths: torch.Tensor  # (1,)

    @property
    def locations(self) -> int:
        return int(self.features.size(1))

    @property
    def steps(self) -> int:
        return int(self.lengths[0]) - 1

    def batch(self, n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The example repeated n times: features (n, L, D), captions (n, T+1), lengths (n,)."""
        return self.features.expand(n, -1, -1), self.captions.expand(n, -1), self.lengths.expand(n)


def unbiased_config(**overrides) -> ModelConfig:
    """A tiny hard-attention model whose training loss gives the unbiased rule of Eq. 12: reward log p(y|s̃,a),
    λ_r = 1, no entropy term, never the expected context, and a baseline that stays where it is put (decay 1)."""
    values = dict(attention="hard", feature_dim=4, embed_dim=4, hidden_dim=5, attention_dim=4, dropout=0.0,
                  doubly_stochastic=0.0, entropy_weight=0.0, reinforce_scale=1.0, baseline_decay=1.0,
                  expected_prob=0.0, reward="caption")
    values.update(overrides)
    return ModelConfig(**values)


def tiny_problem(locations: int = 4, words: int = 2, seed: int = 0, feature_scale: float = 2.0,
                 **overrides) -> TinyProblem:
    """A randomly initialised tiny model (``unbiased_config`` with ``overrides``) in training mode, one image of
    ``locations`` random annotation vectors and one caption of ``words`` words (``words + 1`` prediction steps)."""
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    config = unbiased_config(**overrides)
    vocab_size = 4 + max(words, 2)
    model = ShowAttendTell(config, vocab_size=vocab_size).train()
    features = feature_scale * torch.randn(1, locations, config.feature_dim, generator=generator)
    word_ids = 4 + torch.arange(words) % (vocab_size - 4)
    captions = torch.cat([torch.tensor([1]), word_ids, torch.tensor([2])]).unsqueeze(0)  # <start> .. <end>
    return TinyProblem(model, features, captions, torch.tensor([words + 2]))


def flat_grad(value: torch.Tensor, model: torch.nn.Module, retain_graph: bool = False) -> torch.Tensor:
    """∂value/∂W for all of ``model``'s parameters, flattened into one vector (W,); unused parameters give zeros."""
    params = list(model.parameters())
    grads = torch.autograd.grad(value, params, allow_unused=True, retain_graph=retain_graph)
    return torch.cat([(g if g is not None else torch.zeros_like(p)).flatten() for g, p in zip(grads, params)])


def all_paths(locations: int, steps: int) -> torch.Tensor:
    """Every attention path, (L^T, T) long, in lexicographic order."""
    return torch.tensor(list(itertools.product(range(locations), repeat=steps)), dtype=torch.long)


@dataclass
class PathTable:
    """Everything about every path s of a ``TinyProblem``, exact."""

    paths: torch.Tensor  # (P, T)
    log_p_path: torch.Tensor  # (P,) log p(s|a) = Σ_t log α_{t,s_t}
    log_likelihood: torch.Tensor  # (P,) log p(y|s,a)
    entropy: torch.Tensor  # (P,) H[s] = Σ_t H(α_t) along the path (as arctic computes it)
    words: int  # real prediction steps of the caption (its words plus <end>)
    grad_log_likelihood: torch.Tensor  # (P, W) ∂log p(y|s,a)/∂W
    grad_log_p_path: torch.Tensor  # (P, W) ∂log p(s|a)/∂W
    grad_entropy: torch.Tensor  # (P, W) ∂H[s]/∂W

    @property
    def p_path(self) -> torch.Tensor:
        return self.log_p_path.exp()  # (P,)

    @property
    def lower_bound(self) -> float:
        """L_s = Σ_s p(s|a) log p(y|s,a) (Eq. 10)."""
        return float((self.p_path * self.log_likelihood).sum())

    @property
    def log_marginal(self) -> float:
        """log p(y|a) = log Σ_s p(s|a) p(y|s,a)."""
        return float(torch.logsumexp(self.log_p_path + self.log_likelihood, dim=0))

    @property
    def posterior(self) -> torch.Tensor:
        """p(s|y,a) ∝ p(s|a) p(y|s,a), (P,)."""
        return torch.softmax(self.log_p_path + self.log_likelihood, dim=0)

    @property
    def kl_to_posterior(self) -> float:
        """KL(p(s|a) ‖ p(s|y,a)) = log p(y|a) − L_s: the gap that Jensen's inequality leaves."""
        return float((self.p_path * (self.log_p_path - self.posterior.log())).sum())

    def reward(self, kind: str = "caption") -> torch.Tensor:
        """R(s), (P,): log p(y|s,a) (``"caption"``, Eq. 12) or its mean per word (``"word_mean"``, arctic)."""
        if kind == "caption":
            return self.log_likelihood
        if kind == "word_mean":
            return self.log_likelihood / self.words
        raise ValueError(f"unknown reward {kind!r}: 'caption' or 'word_mean'")

    def expected_reward(self, kind: str = "caption") -> float:
        """E_s[R(s)]: where a moving-average baseline settles for a fixed model (for ``"caption"`` it is L_s)."""
        return float((self.p_path * self.reward(kind)).sum())

    def estimates(self, reward: str = "caption", baseline: float = 0.0, reinforce_scale: float = 1.0,
                  entropy_weight: float = 0.0) -> torch.Tensor:
        """g(s) for every path, (P, W): the single-sample estimate of ∂L_s/∂W that path s gives."""
        advantage = reinforce_scale * (self.reward(reward) - baseline)  # (P,)
        return (self.grad_log_likelihood + advantage.unsqueeze(1) * self.grad_log_p_path
                + entropy_weight * self.grad_entropy)

    def exact_gradient(self) -> torch.Tensor:
        """∂L_s/∂W (Eq. 11) = Σ_s p(s|a) [∂log p(y|s,a)/∂W + log p(y|s,a) ∂log p(s|a)/∂W], (W,)."""
        return self.p_path @ self.estimates()


@dataclass
class Moments:
    """Mean and spread of a single-sample gradient estimator, exact (a finite sum over paths)."""

    mean: torch.Tensor  # (W,) E[g]
    variance: float  # E‖g − E[g]‖², the trace of its covariance
    bias: float  # ‖E[g] − ∂L_s/∂W‖
    cosine: float  # cos(E[g], ∂L_s/∂W)


def estimator_moments(table: PathTable, **estimator) -> Moments:
    """Exact moments of ``table.estimates(**estimator)`` under s ~ p(s|a)."""
    values = table.estimates(**estimator)  # (P, W)
    p = table.p_path  # (P,)
    mean = p @ values  # (W,)
    variance = float(p @ ((values - mean) ** 2).sum(dim=1))
    exact = table.exact_gradient()
    cosine = float(torch.nn.functional.cosine_similarity(mean, exact, dim=0))
    return Moments(mean, variance, float((mean - exact).norm()), cosine)


def variance_by_baseline(table: PathTable, baselines: torch.Tensor, reward: str = "caption",
                         reinforce_scale: float = 1.0) -> torch.Tensor:
    """Total variance of the estimator for each constant baseline b in ``baselines`` (B,) → (B,): a parabola in b."""
    return torch.tensor([estimator_moments(table, reward=reward, baseline=float(b),
                                           reinforce_scale=reinforce_scale).variance for b in baselines])


def optimal_baseline(table: PathTable, reward: str = "caption") -> float:
    """The constant b that minimises the total variance: E[R ‖∂log p(s|a)‖²] / E[‖∂log p(s|a)‖²] (the vertex of the
    parabola, found by setting its derivative in b to zero)."""
    weight = table.p_path * (table.grad_log_p_path ** 2).sum(dim=1)  # (P,)
    return float((weight * table.reward(reward)).sum() / weight.sum())


def enumerate_paths(problem: TinyProblem) -> PathTable:
    """Run the model once on every path (forced with ``locations=``) and differentiate each path's three terms."""
    model = problem.model
    paths = all_paths(problem.locations, problem.steps)  # (P, T)
    out = model(*problem.batch(len(paths)), locations=paths)
    mask = out.mask.to(out.log_alpha.dtype)  # (P, T)
    log_p_path = (out.log_alpha.gather(-1, paths.unsqueeze(-1)).squeeze(-1) * mask).sum(dim=1)  # (P,)
    entropy = (-(out.log_alpha.exp() * out.log_alpha).sum(dim=-1) * mask).sum(dim=1)  # (P,)
    log_likelihood = -out.caption_nll  # (P,)
    rows = {"ll": [], "lp": [], "h": []}
    for k in range(len(paths)):
        rows["ll"].append(flat_grad(log_likelihood[k], model, retain_graph=True))
        rows["lp"].append(flat_grad(log_p_path[k], model, retain_graph=True))
        rows["h"].append(flat_grad(entropy[k], model, retain_graph=True))
    return PathTable(paths, log_p_path.detach(), log_likelihood.detach(), entropy.detach(), int(out.mask[0].sum()),
                     torch.stack(rows["ll"]), torch.stack(rows["lp"]), torch.stack(rows["h"]))


def autograd_lower_bound_gradient(problem: TinyProblem) -> tuple[float, torch.Tensor]:
    """L_s and ∂L_s/∂W by differentiating the enumerated sum Σ_s p(s|a) log p(y|s,a) directly (no log-derivative
    trick): an independent check of ``PathTable.exact_gradient``."""
    paths = all_paths(problem.locations, problem.steps)
    out = problem.model(*problem.batch(len(paths)), locations=paths)
    log_p_path = out.log_alpha.gather(-1, paths.unsqueeze(-1)).squeeze(-1).sum(dim=1)  # (P,)
    lower_bound = (log_p_path.exp() * -out.caption_nll).sum()
    return float(lower_bound.detach()), flat_grad(lower_bound, problem.model)


def surrogate_gradient(problem: TinyProblem, path: torch.Tensor) -> torch.Tensor:
    """−∂/∂W of the training loss's per-caption terms, −log p(y|s,a) + ``reinforce_surrogate``, with the path forced:
    what one sample contributes to a training step, (W,). The model's baseline is read, and left unchanged when its
    decay is 1."""
    model = problem.model
    out = model(*problem.batch(1), locations=path.view(1, -1))
    per_caption = out.caption_nll + model.reinforce_surrogate(out, out.mask.sum(dim=1), {})
    return -flat_grad(per_caption.sum(), model)


def monte_carlo_gradient(problem: TinyProblem, n_samples: int) -> torch.Tensor:
    """The N-sample estimate of ∂L_s/∂W that training uses: −∂/∂W of ``model.loss`` on N copies of the example, each
    copy drawing its own path s̃ ~ p(s|a) inside the model. Uses torch's global generator. (W,)"""
    return -flat_grad(problem.model.loss(*problem.batch(n_samples)).loss, problem.model)


def monte_carlo_errors(problem: TinyProblem, exact: torch.Tensor, sample_sizes: list[int],
                       repeats: int) -> torch.Tensor:
    """‖mean of N estimates − exact‖ for each N in ``sample_sizes`` and each of ``repeats`` independent runs,
    (len(sample_sizes), repeats)."""
    return torch.tensor([[float((monte_carlo_gradient(problem, n) - exact).norm()) for _ in range(repeats)]
                         for n in sample_sizes])


def empirical_variance(problem: TinyProblem, n_samples: int, batches: int) -> float:
    """Total variance of a single sample, measured: N × the spread of ``batches`` independent N-sample estimates."""
    estimates = torch.stack([monte_carlo_gradient(problem, n_samples) for _ in range(batches)])  # (K, W)
    return float(n_samples * estimates.var(dim=0).sum())


def baseline_trace(problem: TinyProblem, batch_size: int, updates: int) -> list[float]:
    """The moving-average baseline b_k = d·b_{k-1} + (1 − d)·mean R after each of ``updates`` training-loss
    evaluations on ``batch_size`` samples (weights fixed), with d the model's ``baseline_decay``."""
    trace = []
    with torch.no_grad():
        for _ in range(updates):
            problem.model.loss(*problem.batch(batch_size))
            trace.append(float(problem.model.baseline))
    return trace


def parameter_mask(model: torch.nn.Module, prefix: str) -> torch.Tensor:
    """Which coordinates of the flattened parameter vector (W,) belong to parameters named ``prefix…``."""
    return torch.cat([torch.full((p.numel(),), name.startswith(prefix), dtype=torch.bool)
                      for name, p in model.named_parameters()])
