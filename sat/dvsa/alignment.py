"""Aligning text snippets to image regions with a chain MRF (Karpathy & Fei-Fei, §3.1.4, Eqs. 10–12).

Every word j gets a region ``a_j``. The energy to maximise is

    E(a) = Σ_j ψ^U_j(a_j) + Σ_j ψ^B_j(a_j, a_{j+1}),   ψ^U_j(a_j = t) = v_t^T s_j,   ψ^B_j = β · 1[a_j = a_{j+1}]

(Eqs. 10–12). β = 0 aligns every word to its own best region (the argmax of Eq. 8); a large β pushes neighbouring words
into one region, so that runs of words — snippets — share a region. The chain is solved exactly by Viterbi in O(N·R).
"""
from __future__ import annotations

import torch


def viterbi(unary: torch.Tensor, beta: float) -> tuple[list[int], float]:
    """Maximise ``Σ_j unary[j, a_j] + β Σ_j 1[a_j = a_{j+1}]``.

    ``unary``: (N, R) word × region scores ``v_r^T s_j``. Returns the best assignment (N region indices) and its energy.
    """
    unary = unary.detach().double().cpu()
    N, R = unary.shape
    best = unary[0].clone()  # (R,) best energy of a chain ending in region r at word 0
    back = torch.zeros(N, R, dtype=torch.long)  # (N, R) argmax predecessor
    bonus = beta * torch.eye(R, dtype=torch.float64)  # (R, R) pairwise term, [prev, next]
    for j in range(1, N):
        cand = best[:, None] + bonus  # (R_prev, R_next)
        best, back[j] = cand.max(dim=0)  # (R,), (R,)
        best = best + unary[j]  # (R,)
    energy, last = best.max(dim=0)
    path = [int(last)]
    for j in range(N - 1, 0, -1):
        path.append(int(back[j, path[-1]]))
    return path[::-1], float(energy)


def energy(unary: torch.Tensor, assignment: list[int], beta: float) -> float:
    """``E(a)`` of Eq. 10 for one assignment: ``unary`` (N, R), ``assignment`` N region indices."""
    u = sum(float(unary[j, a]) for j, a in enumerate(assignment))
    return u + beta * sum(a == b for a, b in zip(assignment, assignment[1:]))


def snippets(words: list[str], assignment: list[int]) -> list[tuple[int, str]]:
    """Group consecutive words that share a region: ``[(region, "words of the snippet"), …]``."""
    out: list[tuple[int, list[str]]] = []
    for word, region in zip(words, assignment):
        if out and out[-1][0] == region:
            out[-1][1].append(word)
        else:
            out.append((region, [word]))
    return [(region, " ".join(ws)) for region, ws in out]
