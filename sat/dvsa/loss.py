"""The bidirectional max-margin ranking objective (Karpathy & Fei-Fei, §3.1.3, Eq. 9).

``C(θ) = Σ_k [ Σ_l max(0, S_kl − S_kk + Δ) + Σ_l max(0, S_lk − S_kk + Δ) ]`` with Δ = 1 in the paper: the first sum ranks
sentences for image k (image annotation), the second ranks images for sentence k (image search). The whole batch is
one (B × B) matrix whose diagonal holds the matching pairs.
"""
from __future__ import annotations

import torch


def ranking_loss(S: torch.Tensor, margin: float = 1.0, image_ids: torch.Tensor | None = None,
                 reduction: str = "sum", hardest: bool = False) -> torch.Tensor:
    """Eq. 9 for a batch: ``S`` (B, B) scores of image k (row) with sentence l (column), matches on the diagonal.

    ``image_ids`` (B,), when given, excludes off-diagonal pairs that show the same image (two captions of one image in a
    batch are not negatives of each other). ``reduction``: ``"sum"`` (Eq. 9 as written) or ``"mean"`` (divided by B).
    A batch where every score is equal gives 2·(B−1)·margin per image — the collapsed value to watch for.
    ``hardest=True`` keeps only the largest violation of each row and column (VSE++, Faghri et al. 2018) instead of
    the sum over l — a deviation from Eq. 9, off by default.
    """
    B = S.shape[0]
    diag = S.diagonal()  # (B,)
    cost_s = (S - diag[:, None] + margin).clamp_min(0)  # (B, B) row k: sentences l ranked for image k
    cost_i = (S - diag[None, :] + margin).clamp_min(0)  # (B, B) column k: images l ranked for sentence k
    negative = ~torch.eye(B, dtype=torch.bool, device=S.device)  # (B, B)
    if image_ids is not None:
        negative &= image_ids[:, None] != image_ids[None, :]
    cost_s, cost_i = cost_s * negative, cost_i * negative  # (B, B), (B, B)
    if hardest:
        total = cost_s.amax(dim=1).sum() + cost_i.amax(dim=0).sum()
    else:
        total = cost_s.sum() + cost_i.sum()
    return total / B if reduction == "mean" else total
