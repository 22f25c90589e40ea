"""The attention model (Eqs. 4–9) and the doubly stochastic regulariser (Eq. 14)."""
from __future__ import annotations

import pytest
import torch

from sat.models.attention import MLPAttention, hard_context, sample_locations, soft_context
from sat.models.show_attend_tell import doubly_stochastic_penalty

torch.set_num_threads(1)


@pytest.fixture
def attention() -> MLPAttention:
    torch.manual_seed(0)
    return MLPAttention(feature_dim=6, hidden_dim=5, attention_dim=4)


def test_attention_weights_are_distributions(attention):
    annotations, hidden = torch.randn(2, 7, 6), torch.randn(2, 3, 5)
    alpha = attention(attention.project_annotations(annotations), hidden).exp()  # (B, R, L)
    assert alpha.shape == (2, 3, 7)
    assert (alpha >= 0).all()
    torch.testing.assert_close(alpha.sum(-1), torch.ones(2, 3))


def test_masked_locations_get_no_attention(attention):
    annotations, hidden = torch.randn(2, 7, 6), torch.randn(2, 1, 5)
    mask = torch.ones(2, 7, dtype=torch.bool)
    mask[0, 4:] = False
    alpha = attention(attention.project_annotations(annotations), hidden, mask).exp()
    assert (alpha[0, 0, 4:] == 0).all()
    torch.testing.assert_close(alpha.sum(-1), torch.ones(2, 1))
    # the masked locations' contents cannot matter
    changed = annotations.clone()
    changed[0, 4:] = 100.0
    torch.testing.assert_close(attention(attention.project_annotations(changed), hidden, mask).exp(), alpha)


def test_rows_of_one_image_share_its_annotations(attention):
    """R rows per image (beam search) give the same weights as R separate copies of the image."""
    annotations, hidden = torch.randn(2, 7, 6), torch.randn(2, 3, 5)
    grouped = attention(attention.project_annotations(annotations), hidden)  # (2, 3, 7)
    copies = annotations.repeat_interleave(3, dim=0)  # (6, 7, 6)
    separate = attention(attention.project_annotations(copies), hidden.reshape(6, 1, 5))  # (6, 1, 7)
    torch.testing.assert_close(grouped.reshape(6, 7), separate.reshape(6, 7))


def test_soft_context_is_the_expected_annotation():
    annotations = torch.randn(2, 4, 3)
    alpha = torch.softmax(torch.randn(2, 1, 4), dim=-1)
    expected = (alpha[:, 0, :, None] * annotations).sum(1)  # Σ_i α_i a_i
    torch.testing.assert_close(soft_context(annotations, alpha)[:, 0], expected)


def test_hard_context_picks_the_sampled_annotation():
    annotations = torch.randn(2, 4, 3)
    locations = torch.tensor([[3, 0], [1, 1]])
    context = hard_context(annotations, locations)  # (2, 2, 3)
    torch.testing.assert_close(context[0, 0], annotations[0, 3])
    torch.testing.assert_close(context[0, 1], annotations[0, 0])
    torch.testing.assert_close(context[1, 1], annotations[1, 1])


def test_sampled_locations_follow_alpha():
    alpha = torch.tensor([0.1, 0.6, 0.0, 0.3]).expand(200_000, 4)
    generator = torch.Generator().manual_seed(0)
    locations = sample_locations(alpha, generator)
    frequency = torch.bincount(locations, minlength=4).float() / len(locations)
    torch.testing.assert_close(frequency, alpha[0], atol=0.005, rtol=0)  # 4 standard errors ≈ 0.0044
    one_hot = torch.eye(4)  # a one-hot α always gives its location, even the last one
    assert sample_locations(one_hot, generator).tolist() == [0, 1, 2, 3]


def test_doubly_stochastic_penalty_by_hand():
    alpha = torch.tensor([[[0.1, 0.2, 0.3, 0.4],
                           [0.4, 0.3, 0.2, 0.1],
                           [1.0, 0.0, 0.0, 0.0]]])  # (B=1, T=3, L=4); the third step is padding
    mask = torch.tensor([[True, True, False]])
    # coverage Σ_t α_ti over the two real steps = 0.5 everywhere
    assert doubly_stochastic_penalty(alpha, mask, "one").item() == pytest.approx(4 * (1 - 0.5) ** 2)
    assert doubly_stochastic_penalty(alpha, mask, "C/L").item() == pytest.approx(0.0, abs=1e-12)  # C/L = 2/4
    with_padding = doubly_stochastic_penalty(alpha, torch.ones(1, 3, dtype=torch.bool), "one")
    assert with_padding.item() == pytest.approx(0.5 ** 2 + 3 * 0.5 ** 2)  # coverage [1.5, .5, .5, .5]


def test_attention_is_eq_4_with_and_without_autograd(attention):
    """The fast CPU tanh (in place when nothing needs gradients) computes exactly w^T tanh(W_a a + W_h h + b)."""
    annotations, hidden = torch.randn(2, 7, 6), torch.randn(2, 3, 5)
    reference = attention.score(torch.tanh(attention.annotation_proj(annotations).unsqueeze(1)
                                           + attention.hidden_proj(hidden).unsqueeze(2))).squeeze(-1)
    reference = torch.log_softmax(reference, dim=-1)  # (2, 3, 7)
    projected = attention.project_annotations(annotations)
    torch.testing.assert_close(attention(projected, hidden), reference)
    with torch.no_grad():
        torch.testing.assert_close(attention(projected, hidden), reference)
        torch.testing.assert_close(projected, attention.annotation_proj(annotations))  # left untouched
