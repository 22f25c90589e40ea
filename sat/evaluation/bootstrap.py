"""How sure is a corpus score? The bootstrap over test images (Koehn, 2004, "Statistical significance tests for
machine translation evaluation").

A test split is a sample of images. Drawing the same number of images from it with replacement, many times, and
re-scoring each draw shows how much a score would move on another sample from the same distribution: the 2.5th and
97.5th percentiles of the redrawn scores make a 95% interval. Two systems scored on the *same* draws (a paired
bootstrap) show whether their difference is larger than that noise.

Each draw is re-scored from per-image statistics, so nothing is decoded or tokenised again:

* **BLEU** is a corpus score, not a mean over images: the clipped n-gram matches, the n-gram counts and the lengths
  (candidate; the reference closest in length) are summed over the images of a draw, then combined exactly as
  coco-caption's ``BleuScorer`` does (same smoothing constants), so the full split gives its number to the last digit;
* **ROUGE-L** and **CIDEr-D** are means of per-image scores. CIDEr's document frequencies stay those of the whole
  split's references, the usual approximation;
* **METEOR** is left out: its corpus score pools statistics inside the Java scorer and is not a mean of the
  per-caption scores it returns.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

BLEU_ORDER = 4
BOOTSTRAP_SCORES = ("Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4", "ROUGE_L", "CIDEr")
_SMALL, _TINY = 1e-9, 1e-15  # pycocoevalcap/bleu/bleu_scorer.py: BleuScorer.compute_score


@dataclass(frozen=True)
class ImageStatistics:
    """What each scored image contributes, in the order of ``keys``.

    ``bleu`` is (N, 2 + 2·4): candidate length, closest reference length, the n-gram counts of the candidate for
    n = 1..4 ("guesses"), then its clipped n-gram matches for n = 1..4. ``rouge`` and ``cider`` are (N,).
    """

    keys: tuple[str, ...]
    bleu: np.ndarray
    rouge: np.ndarray
    cider: np.ndarray

    def __len__(self) -> int:
        return len(self.keys)


def image_statistics(references: Mapping[str, Sequence[str]], candidates: Mapping[str, str],
                     fast: bool = False) -> ImageStatistics:
    """Per-image BLEU statistics, ROUGE-L and CIDEr-D of ``candidates`` (key → caption), tokenised as
    :func:`sat.evaluation.score_captions` does (PTB tokenizer, or the pure-Python one with ``fast=True``)."""
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge

    from .metrics import _check, require_java, tokenize_all

    _check(references, candidates, ("Bleu", "ROUGE_L", "CIDEr"))
    if not fast:
        require_java("the PTB tokenizer of the coco-caption scorer")
    gts, res = tokenize_all(references, candidates, fast=fast)
    _, rouge = Rouge().compute_score(gts, res)
    _, cider = Cider().compute_score(gts, res)
    return ImageStatistics(tuple(gts), bleu_statistics(gts, res), np.asarray(rouge, dtype=float),
                           np.asarray(cider, dtype=float))


def bleu_statistics(gts: Mapping[str, Sequence[str]], res: Mapping[str, Sequence[str]]) -> np.ndarray:
    """Per-image BLEU statistics (N, 10) of tokenised captions in pycocoevalcap's form (``gts``: key → references,
    ``res``: key → [candidate]), in the order of ``gts``: see :class:`ImageStatistics`."""
    from pycocoevalcap.bleu.bleu_scorer import cook_refs, cook_test

    bleu = np.zeros((len(gts), 2 + 2 * BLEU_ORDER))  # (N, 10)
    for row, key in enumerate(gts):
        cooked = cook_test(res[key][0], cook_refs(gts[key], n=BLEU_ORDER), eff="closest", n=BLEU_ORDER)
        bleu[row] = [cooked["testlen"], cooked["reflen"], *cooked["guess"], *cooked["correct"]]
    return bleu


def bleu_from_totals(totals: np.ndarray) -> np.ndarray:
    """Corpus BLEU-1..4 from summed statistics ``totals`` (..., 10) → (..., 4), with coco-caption's brevity penalty
    exp(1 − r/c) when the candidates are shorter (c < r) and its smoothing constants."""
    testlen, reflen = totals[..., 0], totals[..., 1]
    guess, correct = totals[..., 2:2 + BLEU_ORDER], totals[..., 2 + BLEU_ORDER:]
    log_precision = np.log((correct + _TINY) / (guess + _SMALL))  # (..., 4)
    orders = np.arange(1, BLEU_ORDER + 1)
    bleu = np.exp(np.cumsum(log_precision, axis=-1) / orders)  # geometric means of the first n precisions
    ratio = (testlen + _TINY) / (reflen + _SMALL)
    penalty = np.where(ratio < 1, np.exp(1 - 1 / np.minimum(ratio, 1)), 1.0)
    return bleu * penalty[..., None]


def scores_of_draws(stats: ImageStatistics, counts: np.ndarray) -> dict[str, np.ndarray]:
    """The corpus scores of draws given as ``counts`` (S, N): how often each image is in each draw → name → (S,)."""
    counts = np.asarray(counts, dtype=float)
    bleu = bleu_from_totals(counts @ stats.bleu)  # (S, N) @ (N, 10) → (S, 10) → (S, 4)
    sizes = counts.sum(axis=1)  # (S,)
    scores = {f"Bleu_{n}": bleu[:, n - 1] for n in range(1, BLEU_ORDER + 1)}
    scores["ROUGE_L"] = counts @ stats.rouge / sizes
    scores["CIDEr"] = counts @ stats.cider / sizes
    return scores


def corpus_scores(stats: ImageStatistics) -> dict[str, float]:
    """The scores of the whole split (every image once): coco-caption's Bleu_1..4, ROUGE_L and CIDEr."""
    every = np.ones((1, len(stats)))
    return {name: float(values[0]) for name, values in scores_of_draws(stats, every).items()}


def draw_counts(num_images: int, samples: int, seed: int = 0) -> np.ndarray:
    """``samples`` bootstrap draws of ``num_images`` images with replacement, as counts (samples, num_images)."""
    if num_images < 1 or samples < 1:
        raise ValueError(f"need at least one image and one draw, got {num_images} images and {samples} draws")
    rng = np.random.default_rng(seed)
    return rng.multinomial(num_images, np.full(num_images, 1 / num_images), size=samples)


def percentile_interval(values: np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
    """The central ``confidence`` interval of bootstrap ``values``: their (1 − c)/2 and (1 + c)/2 percentiles."""
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def bootstrap_intervals(stats: ImageStatistics, samples: int = 1000, confidence: float = 0.95, seed: int = 0
                        ) -> dict[str, dict[str, float]]:
    """Percentile bootstrap intervals: name → ``{"score", "low", "high"}`` (fractions), ``score`` on the full split."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    draws = scores_of_draws(stats, draw_counts(len(stats), samples, seed))
    full = corpus_scores(stats)
    return {name: dict(zip(("score", "low", "high"), (full[name], *percentile_interval(draws[name], confidence))))
            for name in BOOTSTRAP_SCORES}


def paired_bootstrap(first: ImageStatistics, second: ImageStatistics, samples: int = 1000,
                     confidence: float = 0.95, seed: int = 0) -> dict[str, dict[str, float]]:
    """Two systems on the same images and the same draws: name → ``{"difference", "low", "high", "first_better"}``.

    ``difference`` is first − second on the full split, ``low``/``high`` its percentile interval, and
    ``first_better`` the fraction of draws in which the first system scores higher.
    """
    if first.keys != second.keys:
        raise ValueError("a paired bootstrap needs both systems scored on the same images in the same order")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    counts = draw_counts(len(first), samples, seed)
    draws_first, draws_second = scores_of_draws(first, counts), scores_of_draws(second, counts)
    full_first, full_second = corpus_scores(first), corpus_scores(second)
    result = {}
    for name in BOOTSTRAP_SCORES:
        differences = draws_first[name] - draws_second[name]  # (S,)
        low, high = percentile_interval(differences, confidence)
        result[name] = {"difference": full_first[name] - full_second[name], "low": low, "high": high,
                        "first_better": float(np.mean(differences > 0))}
    return result


__all__ = ["BOOTSTRAP_SCORES", "ImageStatistics", "image_statistics", "bleu_statistics", "bleu_from_totals",
           "scores_of_draws", "corpus_scores", "draw_counts", "percentile_interval", "bootstrap_intervals",
           "paired_bootstrap"]
