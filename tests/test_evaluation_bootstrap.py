"""The bootstrap over test images: per-image statistics that add up to coco-caption's corpus scores."""
from __future__ import annotations

import math

import numpy as np
import pytest

from sat.evaluation import score_captions
from sat.evaluation.bootstrap import (BOOTSTRAP_SCORES, bleu_from_totals, bootstrap_intervals, corpus_scores,
                                      draw_counts, image_statistics, paired_bootstrap, scores_of_draws)

WORDS = "a dog runs on the grass while a man in a red shirt throws a ball near the lake".split()


def _corpus(seed: int, size: int = 40) -> tuple[dict[str, list[str]], dict[str, str], dict[str, str]]:
    """References and two candidate sets of varied lengths: some shorter than every reference, some longer."""
    rng = np.random.default_rng(seed)
    references, good, bad = {}, {}, {}
    for i in range(size):
        refs = [" ".join(rng.choice(WORDS, size=rng.integers(5, 12))) for _ in range(3)]
        references[f"{i}.jpg"] = refs
        good[f"{i}.jpg"] = " ".join(refs[0].split()[: rng.integers(3, 12)])  # a prefix of a reference
        bad[f"{i}.jpg"] = " ".join(rng.choice(WORDS, size=rng.integers(3, 15)))
    return references, good, bad


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_full_split_reproduces_the_coco_caption_scores(seed):
    references, good, bad = _corpus(seed)
    for candidates in (good, bad):
        expected = score_captions(references, candidates, metrics=("Bleu", "ROUGE_L", "CIDEr"), fast=True)
        got = corpus_scores(image_statistics(references, candidates, fast=True))
        assert set(got) == set(BOOTSTRAP_SCORES)
        for name in BOOTSTRAP_SCORES:
            assert got[name] == pytest.approx(expected[name], rel=1e-12, abs=1e-15), name


def test_bleu_from_totals_by_hand():
    # candidate 4 words, closest reference 5: matches 3/4, 2/3, 1/2, 0/1 → BLEU-4 is ~0 (the tiny smoothing),
    # BLEU-2 = sqrt(3/4 · 2/3) · BP with BP = exp(1 − 5/4)
    totals = np.array([4, 5, 4, 3, 2, 1, 3, 2, 1, 0], dtype=float)
    bleu = bleu_from_totals(totals)
    penalty = math.exp(1 - 5 / 4)
    assert bleu[0] == pytest.approx(0.75 * penalty, rel=1e-9)
    assert bleu[1] == pytest.approx(math.sqrt(0.75 * 2 / 3) * penalty, rel=1e-9)
    assert bleu[3] < 1e-3
    longer = totals.copy()
    longer[1] = 3  # the closest reference is shorter than the candidate: no penalty
    assert bleu_from_totals(longer)[0] == pytest.approx(0.75, rel=1e-9)


def test_draws_are_reproducible_and_keep_the_split_size():
    counts = draw_counts(50, 200, seed=3)
    assert counts.shape == (200, 50) and (counts.sum(axis=1) == 50).all()
    assert (counts == draw_counts(50, 200, seed=3)).all() and not (counts == draw_counts(50, 200, seed=4)).all()
    assert counts.max() > 1 and (counts == 0).any()  # with replacement: repeats and omissions
    with pytest.raises(ValueError, match="at least one image"):
        draw_counts(0, 10)


def test_a_draw_of_every_image_twice_scores_like_the_split():
    references, good, _ = _corpus(0)
    stats = image_statistics(references, good, fast=True)
    twice = scores_of_draws(stats, np.full((1, len(stats)), 2.0))
    for name, value in corpus_scores(stats).items():
        assert twice[name][0] == pytest.approx(value, rel=1e-9)


def test_intervals_hold_the_score_and_narrow_with_more_images():
    references, good, _ = _corpus(0, size=30)
    small = bootstrap_intervals(image_statistics(references, good, fast=True), samples=400, seed=0)
    references, good, _ = _corpus(0, size=300)
    large = bootstrap_intervals(image_statistics(references, good, fast=True), samples=400, seed=0)
    for name in BOOTSTRAP_SCORES:
        for result in (small, large):
            assert result[name]["low"] <= result[name]["score"] <= result[name]["high"], name
        assert large[name]["high"] - large[name]["low"] < small[name]["high"] - small[name]["low"], name
    with pytest.raises(ValueError, match="confidence"):
        bootstrap_intervals(image_statistics(references, good, fast=True), confidence=95)


def test_paired_bootstrap_tells_a_better_system_from_noise():
    references, good, bad = _corpus(1, size=120)
    better, worse = image_statistics(references, good, fast=True), image_statistics(references, bad, fast=True)
    result = paired_bootstrap(better, worse, samples=300, seed=0)
    for name in ("Bleu_1", "ROUGE_L", "CIDEr"):
        assert result[name]["difference"] > 0 and result[name]["low"] > 0, name
        assert result[name]["first_better"] == 1.0, name
    same = paired_bootstrap(better, better, samples=50)
    assert all(r["difference"] == 0 and r["low"] == r["high"] == 0 and r["first_better"] == 0
               for r in same.values())
    fewer = image_statistics({k: references[k] for k in list(references)[:10]},
                             {k: good[k] for k in list(good)[:10]}, fast=True)
    with pytest.raises(ValueError, match="same images"):
        paired_bootstrap(better, fewer)
