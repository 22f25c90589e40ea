"""Eqs. 7–9 of Karpathy & Fei-Fei: the batched score matrix and the ranking loss."""
import pytest
import torch

from sat.dvsa.loss import ranking_loss
from sat.dvsa.score import pair_score, score_matrix


@pytest.mark.parametrize("kind", ["eq8", "eq7"])
@pytest.mark.parametrize("length_norm", [False, True])
def test_batched_scores_equal_loop_over_pairs(kind, length_norm):
    torch.manual_seed(0)
    v = torch.randn(3, 5, 4)  # 3 images, 5 regions, h = 4
    lengths = torch.tensor([2, 6, 4, 1])
    s = torch.randn(4, 6, 4)  # 4 sentences padded to 6 words
    s[torch.arange(6)[None, :] >= lengths[:, None]] = 7.0  # garbage in the padding must not count
    S = score_matrix(v, s, lengths, kind, length_norm)
    assert S.shape == (3, 4)
    for k in range(3):
        for l in range(4):
            expected = pair_score(v[k], s[l, : lengths[l]], kind, length_norm)
            assert torch.allclose(S[k, l], expected, atol=1e-5)


def test_eq8_by_hand():
    v = torch.tensor([[[1.0, 0.0], [0.0, 2.0]]])  # one image, two regions
    s = torch.tensor([[[3.0, 1.0], [-1.0, -1.0]]])  # two words
    # word 1: max(3, 2) = 3; word 2: max(-1, -2) = -1  → Eq. 8 = 2; Eq. 7 = (3 + 2) + 0 = 5
    assert score_matrix(v, s, torch.tensor([2]), "eq8").item() == pytest.approx(2.0)
    assert score_matrix(v, s, torch.tensor([2]), "eq7").item() == pytest.approx(5.0)


def test_loss_zero_when_matches_win_by_margin():
    S = torch.full((4, 4), -0.5) + torch.eye(4) * 1.5  # diagonal 1.0, others -0.5: wins by exactly 1.5 ≥ margin 1
    assert ranking_loss(S, margin=1.0).item() == 0.0
    S[0, 2] = 0.2  # now sentence 2 is within the margin for image 0 and image 0 for sentence 2
    # row 0: 0.2 − 1 + 1 = 0.2; column 2: 0.2 − 1 + 1 = 0.2
    assert ranking_loss(S, margin=1.0).item() == pytest.approx(0.4)


def test_loss_of_collapsed_batch_and_same_image_mask():
    B = 5
    S = torch.zeros(B, B)
    assert ranking_loss(S, margin=1.0).item() == pytest.approx(2 * B * (B - 1))  # 2·(B−1)·margin per image
    ids = torch.tensor([0, 0, 1, 2, 3])  # pairs 0 and 1 show the same image: not negatives of each other
    assert ranking_loss(S, margin=1.0, image_ids=ids).item() == pytest.approx(2 * (B * (B - 1) - 2))


def test_loss_gradient_matches_autograd_on_matrix():
    torch.manual_seed(1)
    S = torch.randn(6, 6, requires_grad=True)
    loop = sum(torch.clamp(S[k, l] - S[k, k] + 1, min=0) + torch.clamp(S[l, k] - S[k, k] + 1, min=0)
               for k in range(6) for l in range(6) if l != k)
    assert torch.allclose(ranking_loss(S), loop)


def test_hardest_negative_keeps_the_largest_violation():
    S = torch.tensor([[1.0, 0.5, 0.9], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    # row 0: violations 0.5 − 1 + 1 = 0.5 and 0.9; column 0: none (0 − 1 + 1 = 0); others none
    assert ranking_loss(S, 1.0, hardest=True).item() == pytest.approx(0.9 + 0.5 + 0.9)  # row 0; columns 1 and 2
    assert ranking_loss(S, 1.0).item() == pytest.approx((0.5 + 0.9) + 0.5 + 0.9)
