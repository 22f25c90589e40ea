"""Beam search over many images at once: all B·K hypotheses live in one tensor, image-major (row = image·K + beam).

At each step every live hypothesis is extended by every word; per image the K best of the K·V candidates survive. A
hypothesis that emits ``<end>`` is frozen, not removed: it keeps its score and its slot, and can only be extended by
``<pad>`` at no cost, so it competes with the live ones until the end. An image is done when its K best are all
frozen; it then leaves the batch, so the remaining images are searched without it. After ``max_len`` steps the
hypotheses still unfinished are returned too (``finished=False``): no crash when no beam ever reaches ``<end>``.

With ``length_normalization`` α > 0 the final choice among the K ranks by log p / n^α (n tokens, ``<end>`` included);
the search itself ranks by log p, as arctic-captions and most ports do.
"""
from __future__ import annotations

import torch

from ..models.base import CaptionModel
from .core import END, PAD, START, Hypothesis, evaluation, forbid_specials, to_hypothesis


def beam_search(model: CaptionModel, features: torch.Tensor, beam_size: int = 3, max_len: int = 20,
                length_normalization: float = 0.0, n_best: int = 1) -> list[Hypothesis]:
    """The best caption for each image in features (B, L, D), at most ``max_len`` words; each carries its
    ``n_best − 1`` runners-up in ``alternatives``. ``beam_size`` 1 is greedy decoding."""
    if beam_size < 1 or max_len < 1:
        raise ValueError(f"beam_size and max_len must be at least 1, got {beam_size} and {max_len}")
    images, K = features.size(0), beam_size
    device = features.device
    results: list[Hypothesis | None] = [None] * images
    with evaluation(model):
        state = model.init_state(features)
        state = model.select_state(state, torch.arange(images, device=device).repeat_interleave(K))  # B·K rows
        searching = torch.arange(images, device=device)  # (B',) the images still in the batch
        tokens = torch.full((images * K,), START, dtype=torch.long, device=device)  # (B'·K,)
        scores = features.new_zeros(images, K)  # (B', K) log p of each hypothesis so far
        scores[:, 1:] = float("-inf")  # all K start identical: let only the first one expand
        finished = torch.zeros(images, K, dtype=torch.bool, device=device)  # (B', K)
        generated = torch.empty(images * K, 0, dtype=torch.long, device=device)  # (B'·K, steps)
        maps: torch.Tensor | None = None  # (B'·K, steps, L)
        beams = torch.arange(K, device=device)  # (K,)

        for step in range(max_len):
            log_probs, state, alpha = model.step(tokens, state)  # (B'·K, V), ..., (B'·K, L) or None
            vocab = log_probs.size(-1)
            log_probs = forbid_specials(log_probs).view(-1, K, vocab)  # (B', K, V)
            frozen = torch.full_like(log_probs[0, 0], float("-inf"))  # (V,) a finished hypothesis ...
            frozen[PAD] = 0.0  # ... can only grow by <pad>, at no cost
            log_probs = torch.where(finished.unsqueeze(-1), frozen, log_probs)  # (B', K, V)
            candidates = (scores.unsqueeze(-1) + log_probs).flatten(1)  # (B', K·V)
            scores, best = candidates.topk(K, dim=-1)  # (B', K) each
            parent, word = best // vocab, best % vocab  # (B', K): which hypothesis each survivor extends, with what
            rows = (parent + K * torch.arange(len(searching), device=device).unsqueeze(1)).view(-1)  # (B'·K,) parents
            generated = torch.cat([generated.index_select(0, rows), word.view(-1, 1)], dim=1)  # (B'·K, steps + 1)
            if alpha is not None:
                step_maps = alpha.index_select(0, rows).unsqueeze(1)  # (B'·K, 1, L)
                maps = step_maps if maps is None else torch.cat([maps.index_select(0, rows), step_maps], dim=1)
            finished = finished.gather(1, parent) | (word == END)  # (B', K)

            done = finished.all(dim=1) if step < max_len - 1 else torch.ones_like(finished[:, 0])  # (B',)
            for image in done.nonzero().flatten().tolist():
                own = slice(image * K, (image + 1) * K)
                results[int(searching[image])] = best_hypothesis(
                    generated[own], scores[image], maps[own] if maps is not None else None, length_normalization,
                    n_best)
            keep = (~done).nonzero().flatten()  # (B'',)
            if len(keep) == 0:
                break
            kept_rows = (K * keep.unsqueeze(1) + beams).view(-1)  # (B''·K,)
            searching, scores, finished = searching[keep], scores[keep], finished[keep]
            generated = generated.index_select(0, kept_rows)
            maps = maps.index_select(0, kept_rows) if maps is not None else None
            tokens = word.view(-1).index_select(0, kept_rows)  # (B''·K,)
            state = model.select_state(state, rows.index_select(0, kept_rows))
    return results  # type: ignore[return-value] — every image was filled in at the latest after max_len steps


def best_hypothesis(generated: torch.Tensor, scores: torch.Tensor, maps: torch.Tensor | None,
                    length_normalization: float, n_best: int) -> Hypothesis:
    """The best of one image's K hypotheses, generated (K, steps), scores (K,), maps (K, steps, L), with its runners-up.

    Slots still at −∞ (fewer than K words were allowed at the first steps) are never returned.
    """
    lengths = (generated != PAD).sum(dim=1).to(scores.dtype)  # (K,) tokens, <end> included
    ranking = scores / lengths.clamp(min=1.0) ** length_normalization if length_normalization else scores  # (K,)
    order = [k for k in ranking.argsort(descending=True).tolist() if scores[k] > float("-inf")]
    found = [to_hypothesis(generated[k], float(scores[k]), maps[k] if maps is not None else None, float(ranking[k]))
             for k in order[:max(n_best, 1)]]
    found[0].alternatives = found[1:]
    return found[0]
