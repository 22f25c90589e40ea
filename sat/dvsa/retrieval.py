"""Ranking metrics for image annotation (image → sentence) and image search (sentence → image).

Karpathy & Fei-Fei (§4, Table 1) rank the 5000 sentences of the 1000 test images for every image, and the 1000 images
for every sentence, and report R@K — the percentage of queries whose first correct item is within the top K — and the
median rank of that first correct item. For image annotation an image's rank is the best rank among its 5 sentences.

Ties are counted against the model: an item with the same score as the correct one ranks before it, so a collapsed
model (every score equal) scores R@K = 0 instead of 100. :func:`retrieval_intervals` says how far each number would move
on another test sample: the bootstrap over test images (each drawn image brings its sentences along).
"""
from __future__ import annotations

import numpy as np
import torch

KEYS = ("i2t_R@1", "i2t_R@5", "i2t_R@10", "i2t_medr", "t2i_R@1", "t2i_R@5", "t2i_R@10", "t2i_medr")

# Karpathy & Fei-Fei (2015), supplementary Table 5: Flickr8k test, R@K in percent and median rank, in KEYS order. Every
# number there is marked "(r)", reported rather than re-run; quoted here, not independently verified.
PUBLISHED_RETRIEVAL: dict[str, dict[str, float]] = {
    "DeViSE": dict(zip(KEYS, (4.5, 18.1, 29.2, 26, 6.7, 21.9, 32.7, 25))),
    "DeFrag": dict(zip(KEYS, (12.6, 32.9, 44.0, 14, 9.7, 29.6, 42.5, 15))),
    "BRNN": dict(zip(KEYS, (16.5, 40.6, 54.2, 7.6, 11.8, 32.1, 44.7, 12.4))),
}


def require_finite(sim: torch.Tensor) -> None:
    """Refuse NaN or infinite scores: every comparison with NaN is false, so they would rank first and score 100%."""
    bad = int((~torch.isfinite(sim)).sum())
    if bad:
        raise ValueError(f"{bad} of the {sim.numel()} image–sentence scores are NaN or infinite (a diverged model?); "
                         "no recall can be computed")


def i2t_ranks(sim: torch.Tensor, sentence_image: torch.Tensor) -> torch.Tensor:
    """Image annotation: ``sim`` (N_img, N_sent), ``sentence_image`` (N_sent,) → 1-based ranks (N_img,).

    The rank of image k is 1 + the number of other images' sentences scoring at least its best own sentence.
    """
    require_finite(sim)
    n_img = sim.shape[0]
    own = sentence_image[None, :] == torch.arange(n_img, device=sim.device)[:, None]  # (N_img, N_sent)
    best_own = sim.masked_fill(~own, float("-inf")).amax(dim=1)  # (N_img,)
    return 1 + ((sim >= best_own[:, None]) & ~own).sum(dim=1)  # (N_img,)


def t2i_ranks(sim: torch.Tensor, sentence_image: torch.Tensor) -> torch.Tensor:
    """Image search: ``sim`` (N_img, N_sent), ``sentence_image`` (N_sent,) → 1-based ranks (N_sent,).

    The rank of sentence l is 1 + the number of other images scoring at least its own image.
    """
    require_finite(sim)
    n_sent = sim.shape[1]
    own_score = sim[sentence_image, torch.arange(n_sent, device=sim.device)]  # (N_sent,)
    own = sentence_image[None, :] == torch.arange(sim.shape[0], device=sim.device)[:, None]  # (N_img, N_sent)
    return 1 + ((sim >= own_score[None, :]) & ~own).sum(dim=0)  # (N_sent,)


def recall_at(ranks: torch.Tensor, k: int) -> float:
    """Percentage of ranks ≤ k."""
    return 100.0 * (ranks <= k).float().mean().item()


def retrieval_metrics(sim: torch.Tensor, sentence_image: torch.Tensor) -> dict[str, float]:
    """R@1, R@5, R@10 (percent) and median rank in both directions, with the keys of ``retrieval.json`` (:data:`KEYS`)."""
    out: dict[str, float] = {}
    for name, ranks in (("i2t", i2t_ranks(sim, sentence_image)), ("t2i", t2i_ranks(sim, sentence_image))):
        for k in (1, 5, 10):
            out[f"{name}_R@{k}"] = recall_at(ranks, k)
        out[f"{name}_medr"] = float(np.median(ranks.cpu().numpy()))
    return out


def weighted_median(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The median of ``values`` (N,) repeated ``weights[s]`` (S, N) times, for each row s → (S,); as ``np.median``,
    the mean of the two middle values when the total weight is even."""
    order = np.argsort(values, kind="stable")
    ordered = values[order]  # (N,)
    cumulative = np.cumsum(weights[:, order], axis=1)  # (S, N)
    total = cumulative[:, -1:]  # (S, 1)
    lower = ordered[(cumulative > (total - 1) // 2).argmax(axis=1)]  # the element at 0-based position ⌊(W−1)/2⌋
    upper = ordered[(cumulative > total // 2).argmax(axis=1)]  # and at ⌊W/2⌋
    return (lower + upper) / 2


def retrieval_intervals(sim: torch.Tensor, sentence_image: torch.Tensor, samples: int = 1000,
                        confidence: float = 0.95, seed: int = 0) -> dict[str, dict[str, float]]:
    """Bootstrap intervals of :func:`retrieval_metrics`: ``KEYS`` → ``{"score", "low", "high"}``.

    Each draw takes as many test images as there are, with replacement; an image brings its own annotation rank and
    the search ranks of its sentences. The ranks themselves stay those against the whole test gallery.
    """
    from ..evaluation.bootstrap import draw_counts, percentile_interval

    owner = sentence_image.cpu().numpy()  # (N_sent,)
    counts = draw_counts(sim.shape[0], samples, seed)  # (S, N_img) how often each image is drawn
    draws: dict[str, np.ndarray] = {}
    for name, ranks, weights in (("i2t", i2t_ranks(sim, sentence_image), counts),
                                 ("t2i", t2i_ranks(sim, sentence_image), counts[:, owner])):  # (S, N_sent)
        ranks = ranks.cpu().numpy()
        for k in (1, 5, 10):
            draws[f"{name}_R@{k}"] = 100.0 * (weights @ (ranks <= k)) / weights.sum(axis=1)
        draws[f"{name}_medr"] = weighted_median(ranks.astype(float), weights)
    full = retrieval_metrics(sim, sentence_image)
    return {key: dict(zip(("score", "low", "high"), (full[key], *percentile_interval(draws[key], confidence))))
            for key in KEYS}
