"""Image–sentence scores from region–word dot products (Karpathy & Fei-Fei, §3.1.3, Eqs. 7–8).

For image k with regions ``g_k`` and sentence l with words ``g_l``:

* Eq. 7 (DeFrag, Karpathy et al. 2014): ``S_kl = Σ_{t∈g_l} Σ_{i∈g_k} max(0, v_i^T s_t)``.
* Eq. 8 (this paper):                   ``S_kl = Σ_{t∈g_l} max_{i∈g_k} v_i^T s_t`` — every word aligns to its best region.

``length_norm=True`` divides by the number of words |g_l|, so long sentences do not score higher just for being long
(a deviation that keeps the score's scale fixed; off reproduces the paper's sums).
Both functions take a batch of images and a batch of padded sentences and return the whole (images × sentences) matrix.
"""
from __future__ import annotations

from typing import Literal

import torch

ScoreKind = Literal["eq8", "eq7"]


def word_region_dots(v: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """All ``v_i^T s_t``: ``v`` (Bi, R, h), ``s`` (Bs, T, h) → (Bi, Bs, R, T)."""
    return torch.einsum("ird,jtd->ijrt", v, s)  # (Bi, Bs, R, T)


def word_mask(lengths: torch.Tensor, T: int) -> torch.Tensor:
    """(Bs,) sentence lengths → (Bs, T) float mask, 1 on real words."""
    return (torch.arange(T, device=lengths.device)[None, :] < lengths[:, None]).float()  # (Bs, T)


def score_matrix(v: torch.Tensor, s: torch.Tensor, lengths: torch.Tensor, kind: ScoreKind = "eq8",
                 length_norm: bool = False) -> torch.Tensor:
    """``S`` (Bi, Bs): Eq. 8 (``kind="eq8"``) or Eq. 7 (``kind="eq7"``) for every image × sentence pair.

    ``v``: (Bi, R, h) regions; ``s``: (Bs, T, h) word vectors padded on the right; ``lengths``: (Bs,) words per sentence.
    """
    dots = word_region_dots(v, s)  # (Bi, Bs, R, T)
    if kind == "eq8":
        per_word = dots.amax(dim=2)  # (Bi, Bs, T)
    elif kind == "eq7":
        per_word = dots.clamp_min(0).sum(dim=2)  # (Bi, Bs, T)
    else:
        raise ValueError(f"unknown score kind {kind!r}: expected 'eq8' or 'eq7'")
    mask = word_mask(lengths.to(s.device), s.shape[1]).to(dots.dtype)  # (Bs, T)
    S = (per_word * mask).sum(dim=-1)  # (Bi, Bs)
    if length_norm:
        S = S / mask.sum(dim=1).clamp_min(1)[None, :]  # (Bi, Bs)
    return S


@torch.no_grad()
def chunked_score_matrix(v: torch.Tensor, s: torch.Tensor, lengths: torch.Tensor, kind: ScoreKind = "eq8",
                         length_norm: bool = False, chunk: int = 25) -> torch.Tensor:
    """:func:`score_matrix` computed ``chunk`` images at a time, for evaluation (1000 × 5000 pairs): (Bi, Bs)."""
    rows = [score_matrix(v[i:i + chunk], s, lengths, kind, length_norm) for i in range(0, v.shape[0], chunk)]
    return torch.cat(rows, dim=0)  # (Bi, Bs)


def pair_score(v: torch.Tensor, s: torch.Tensor, kind: ScoreKind = "eq8", length_norm: bool = False) -> torch.Tensor:
    """The score of one image and one unpadded sentence: ``v`` (R, h), ``s`` (n, h) → scalar. Reference for tests."""
    dots = v @ s.T  # (R, n)
    per_word = dots.amax(dim=0) if kind == "eq8" else dots.clamp_min(0).sum(dim=0)  # (n,)
    total = per_word.sum()
    return total / s.shape[0] if length_norm else total
