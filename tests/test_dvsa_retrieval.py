"""Retrieval metrics on hand-made similarity matrices with known ranks."""
import pytest
import torch

from sat.dvsa.retrieval import KEYS, i2t_ranks, retrieval_metrics, t2i_ranks


def test_ranks_by_hand():
    # 3 images × 6 sentences, sentences 2i and 2i+1 belong to image i
    owner = torch.tensor([0, 0, 1, 1, 2, 2])
    sim = torch.tensor([
        [0.9, 0.1, 0.5, 0.2, 0.3, 0.0],  # image 0: own best 0.9 is first → rank 1
        [0.8, 0.7, 0.6, 0.1, 0.2, 0.3],  # image 1: own best 0.6, beaten by 0.8, 0.7 → rank 3
        [0.1, 0.2, 0.3, 0.4, 0.35, 0.5],  # image 2: own best 0.5 is first → rank 1
    ])
    assert i2t_ranks(sim, owner).tolist() == [1, 3, 1]
    # sentence columns: s0 own img0 0.9 best → 1; s1 img0 0.1 < 0.7, 0.2 → 3; s2 img1 0.6 > 0.5,0.3 → 1;
    # s3 img1 0.1 < 0.2, 0.4 → 3; s4 img2 0.35 > 0.3, 0.2 → 1; s5 img2 0.5 best → 1
    assert t2i_ranks(sim, owner).tolist() == [1, 3, 1, 3, 1, 1]
    m = retrieval_metrics(sim, owner)
    assert list(m) == list(KEYS)
    assert m["i2t_R@1"] == pytest.approx(200 / 3) and m["i2t_R@5"] == 100.0 and m["i2t_medr"] == 1.0
    assert m["t2i_R@1"] == pytest.approx(400 / 6) and m["t2i_medr"] == 1.0


def test_ties_count_against_the_model():
    owner = torch.arange(4).repeat_interleave(5)  # 4 images × 5 sentences
    m = retrieval_metrics(torch.zeros(4, 20), owner)  # a collapsed model
    assert m["i2t_R@1"] == 0.0 and m["t2i_R@1"] == 0.0
    assert m["i2t_medr"] == 16.0 and m["t2i_medr"] == 4.0


def test_scores_that_are_not_finite_are_refused_not_ranked_first():
    owner = torch.arange(4).repeat_interleave(5)
    sim = torch.rand(4, 20)
    sim[2, 7] = float("nan")  # NaN >= x is false: unchecked, a diverged model would score R@1 = 100
    with pytest.raises(ValueError, match="1 of the 80 image–sentence scores are NaN or infinite"):
        retrieval_metrics(sim, owner)
    with pytest.raises(ValueError, match="NaN or infinite"):
        t2i_ranks(sim.fill_(float("inf")), owner)


def test_perfect_model():
    owner = torch.arange(10).repeat_interleave(5)
    sim = (owner[None, :] == torch.arange(10)[:, None]).float()
    m = retrieval_metrics(sim, owner)
    assert all(m[f"{d}_R@{k}"] == 100.0 for d in ("i2t", "t2i") for k in (1, 5, 10))
    assert m["i2t_medr"] == 1.0 and m["t2i_medr"] == 1.0


def test_weighted_median_is_the_median_of_the_repeated_values():
    import numpy as np

    from sat.dvsa.retrieval import weighted_median

    rng = np.random.default_rng(0)
    values = rng.integers(1, 50, size=30).astype(float)
    weights = rng.integers(0, 4, size=(200, 30))
    weights[:, 0] += 1  # no empty draw
    expected = [np.median(np.repeat(values, row)) for row in weights]
    assert np.array_equal(weighted_median(values, weights), expected)


def test_retrieval_intervals_hold_the_scores_and_follow_the_images():
    from sat.dvsa.retrieval import retrieval_intervals

    torch.manual_seed(0)
    n_img = 60
    owner = torch.arange(n_img).repeat_interleave(5)  # (300,) five sentences per image
    sim = torch.randn(n_img, 5 * n_img)
    sim[owner[:100], torch.arange(100)] += 3.0  # the first 20 images are easy to match
    intervals = retrieval_intervals(sim, owner, samples=300, seed=1)
    full = retrieval_metrics(sim, owner)
    assert set(intervals) == set(KEYS)
    for key, interval in intervals.items():
        assert interval["score"] == full[key]
        assert interval["low"] <= interval["score"] <= interval["high"], key
    assert intervals["i2t_R@1"]["high"] - intervals["i2t_R@1"]["low"] > 5  # 60 images: wide
    assert intervals == retrieval_intervals(sim, owner, samples=300, seed=1)  # seeded
    perfect = torch.zeros(n_img, 5 * n_img)
    perfect[owner, torch.arange(5 * n_img)] = 1.0
    certain = retrieval_intervals(perfect, owner, samples=50)
    assert all(certain[k]["low"] == certain[k]["high"] == 100.0 for k in ("i2t_R@1", "t2i_R@1"))
    assert certain["i2t_medr"]["high"] == certain["t2i_medr"]["low"] == 1.0
