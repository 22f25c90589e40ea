"""Beam search over many images at once: all B·K hypotheses live in one tensor, image-major (row = image·K + beam).

At each step every live hypothesis is extended by every word; per image the K best of the K·V candidates survive. A
hypothesis that emits ``<end>`` is frozen, not removed: it keeps its score and its slot, and can only be extended by
``<pad>`` at no cost, so it competes with the live ones until the end. An image is done when its K best are all frozen,
the search when every image is done or ``max_len`` steps have run. Hypotheses still unfinished then are returned too
(``finished=False``): no crash when no beam ever reaches ``<end>``.

With ``length_normalization`` α > 0 the final choice among the K ranks by log p / n^α (n tokens, ``<end>`` included);
the search itself ranks by log p, as arctic-captions and most ports do.
"""
from __future__ import annotations

import torch

from ..models.base import CaptionModel
from .core import END, PAD, START, Hypothesis, evaluation, forbid_specials, to_hypothesis


def beam_search(model: CaptionModel, features: torch.Tensor, beam_size: int = 3, max_len: int = 20,
                length_normalization: float = 0.0, n_best: int = 1) -> list[Hypothesis]:
    """The best caption for each image in features (B, L, D); each carries its ``n_best − 1`` runners-up in
    ``alternatives``. ``beam_size`` 1 is greedy decoding."""
    images, K = features.size(0), beam_size
    device = features.device
    with evaluation(model):
        state = model.init_state(features)
        state = model.select_state(state, torch.arange(images, device=device).repeat_interleave(K))  # B·K rows
        tokens = torch.full((images * K,), START, dtype=torch.long, device=device)  # (B·K,)
        scores = features.new_zeros(images, K)  # (B, K) log p of each hypothesis so far
        scores[:, 1:] = float("-inf")  # all K start identical: let only the first one expand
        finished = torch.zeros(images, K, dtype=torch.bool, device=device)  # (B, K)
        generated = torch.empty(images * K, 0, dtype=torch.long, device=device)  # (B·K, steps)
        maps: torch.Tensor | None = None  # (B·K, steps, L)
        image_offset = (torch.arange(images, device=device) * K).unsqueeze(1)  # (B, 1) first row of each image

        for _ in range(max_len):
            log_probs, state, alpha = model.step(tokens, state)  # (B·K, V), ..., (B·K, L) or None
            vocab = log_probs.size(-1)
            log_probs = forbid_specials(log_probs).view(images, K, vocab)  # (B, K, V)
            frozen = torch.full_like(log_probs[0, 0], float("-inf"))  # (V,) a finished hypothesis ...
            frozen[PAD] = 0.0  # ... can only grow by <pad>, at no cost
            log_probs = torch.where(finished.unsqueeze(-1), frozen, log_probs)  # (B, K, V)
            candidates = (scores.unsqueeze(-1) + log_probs).view(images, K * vocab)  # (B, K·V)
            scores, best = candidates.topk(K, dim=-1)  # (B, K) each
            parent, word = best // vocab, best % vocab  # (B, K): which hypothesis each survivor extends, with what
            rows = (image_offset + parent).view(-1)  # (B·K,) the parents' rows
            tokens = word.view(-1)  # (B·K,)
            generated = torch.cat([generated.index_select(0, rows), tokens.unsqueeze(1)], dim=1)  # (B·K, steps + 1)
            if alpha is not None:
                step_maps = alpha.index_select(0, rows).unsqueeze(1)  # (B·K, 1, L)
                maps = step_maps if maps is None else torch.cat([maps.index_select(0, rows), step_maps], dim=1)
            finished = finished.gather(1, parent) | (word == END)  # (B, K)
            if finished.all():
                break
            state = model.select_state(state, rows)

        lengths = (generated != PAD).sum(dim=1).view(images, K).to(scores.dtype)  # (B, K) tokens incl. <end>
        ranking = scores / lengths.clamp(min=1.0) ** length_normalization if length_normalization else scores
    hypotheses = []
    for image in range(images):
        order = [k for k in ranking[image].argsort(descending=True).tolist() if scores[image, k] > float("-inf")]
        found = [to_hypothesis(generated[image * K + k], float(scores[image, k]),
                               maps[image * K + k] if maps is not None else None, float(ranking[image, k]))
                 for k in order[:max(n_best, 1)]]
        found[0].alternatives = found[1:]
        hypotheses.append(found[0])
    return hypotheses
