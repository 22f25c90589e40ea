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


def test_perfect_model():
    owner = torch.arange(10).repeat_interleave(5)
    sim = (owner[None, :] == torch.arange(10)[:, None]).float()
    m = retrieval_metrics(sim, owner)
    assert all(m[f"{d}_R@{k}"] == 100.0 for d in ("i2t", "t2i") for k in (1, 5, 10))
    assert m["i2t_medr"] == 1.0 and m["t2i_medr"] == 1.0
