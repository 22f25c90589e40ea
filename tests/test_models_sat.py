"""Show, Attend and Tell specifics: the scalar gate, the regulariser in the loss, hard attention's training modes and
baseline, and the decoding state shared by the beams of one image."""
from __future__ import annotations

import pytest
import torch

from _model_helpers import V, random_batch, tiny_config
from sat.models import ShowAttendTell
from sat.models.show_attend_tell import doubly_stochastic_penalty

torch.set_num_threads(1)


def test_gate_is_a_scalar_per_step():
    model = ShowAttendTell(tiny_config(), V)
    assert model.gate.out_features == 1  # β_t multiplies the whole context, not each of its D channels
    assert ShowAttendTell(tiny_config(gate=False), V).gate is None


def test_loss_adds_lambda_times_the_doubly_stochastic_penalty():
    torch.manual_seed(0)
    features, captions, lengths = random_batch(4)
    plain = ShowAttendTell(tiny_config(doubly_stochastic=0.0), V).eval()
    weighted = ShowAttendTell(tiny_config(doubly_stochastic=2.5), V).eval()
    weighted.load_state_dict(plain.state_dict())
    out = weighted(features, captions, lengths)
    penalty = doubly_stochastic_penalty(out.log_alpha.exp(), out.mask)  # (B,)
    a, b = plain.loss(features, captions, lengths), weighted.loss(features, captions, lengths)
    torch.testing.assert_close(b.loss - a.loss, 2.5 * penalty.mean())
    assert b.metrics["doubly_stochastic"] == a.metrics["doubly_stochastic"] == penalty.mean().item()
    assert a.loss.item() == (a.nll * a.num_words / 4).item()  # λ = 0: mean over captions of −log p(y|a)


def test_hard_attention_modes():
    torch.manual_seed(0)
    features, captions, lengths = random_batch(4)
    model = ShowAttendTell(tiny_config(attention="hard", expected_prob=0.0), V).train()
    sampled = model(features, captions, lengths)
    assert sampled.locations.shape == sampled.mask.shape  # one location per step
    assert ((sampled.locations >= 0) & (sampled.locations < features.size(1))).all()
    assert model.loss(features, captions, lengths).metrics["expected_attention"] == 0.0
    model.config.expected_prob = 1.0
    assert model(features, captions, lengths).locations is None
    assert model.loss(features, captions, lengths).metrics["expected_attention"] == 1.0
    model.eval()  # test time: expected context, or argmax
    assert model(features, captions, lengths).locations is None
    model.config.test_attention = "argmax"
    out = model(features, captions, lengths)
    torch.testing.assert_close(out.locations, out.log_alpha.argmax(-1))


def test_hard_attention_gets_gradients_only_through_reinforce_when_sampling():
    torch.manual_seed(0)
    features, captions, lengths = random_batch(4)
    model = ShowAttendTell(tiny_config(attention="hard", expected_prob=0.0, doubly_stochastic=0.0,
                                       entropy_weight=0.0, reinforce_scale=0.0), V).train()
    model.loss(features, captions, lengths).loss.backward()
    assert model.attention.score.weight.grad.abs().max() == 0  # the sample is not differentiable
    model.zero_grad()
    model.config.reinforce_scale = 0.1
    model.loss(features, captions, lengths).loss.backward()
    assert model.attention.score.weight.grad.abs().max() > 0


def test_baseline_is_a_saved_moving_average_of_the_reward():
    torch.manual_seed(0)
    features, captions, lengths = random_batch(4)
    model = ShowAttendTell(tiny_config(attention="hard"), V).train()
    assert "baseline" in model.state_dict() and model.baseline.item() == 0.0
    first = model.loss(features, captions, lengths).metrics
    assert first["baseline"] == 0.0 and first["reward"] < 0  # a mean per-word log-likelihood
    assert model.baseline.item() == pytest.approx(0.1 * first["reward"])  # b ← 0.9·0 + 0.1·mean reward
    second = model.loss(features, captions, lengths).metrics
    assert second["baseline"] == pytest.approx(0.1 * first["reward"])  # the advantage used the previous b
    assert model.baseline.item() == pytest.approx(0.9 * 0.1 * first["reward"] + 0.1 * second["reward"])
    saved = model.baseline.item()
    model.eval().loss(features, captions, lengths)  # evaluation leaves the baseline alone
    assert model.baseline.item() == saved
    restored = ShowAttendTell(tiny_config(attention="hard"), V)
    restored.load_state_dict(model.state_dict())
    assert restored.baseline.item() == saved


def test_label_smoothing_leaves_the_reinforce_reward_a_log_likelihood():
    features, captions, lengths = random_batch(4)
    plain = ShowAttendTell(tiny_config(attention="hard", expected_prob=0.0), V).train()
    smoothed = ShowAttendTell(tiny_config(attention="hard", expected_prob=0.0, label_smoothing=0.1), V).train()
    smoothed.load_state_dict(plain.state_dict())
    torch.manual_seed(0)
    a = plain.loss(features, captions, lengths)
    torch.manual_seed(0)  # the same dropout masks and attention samples
    b = smoothed.loss(features, captions, lengths)
    assert b.metrics["reward"] == a.metrics["reward"]  # R = log p(y|s̃,a) / words, unsmoothed (§4.1)
    assert b.nll.item() == a.nll.item() and b.loss.item() != a.loss.item()


def test_beams_share_annotations_until_rows_change_image():
    torch.manual_seed(0)
    model = ShowAttendTell(tiny_config(), V).eval()
    features = torch.randn(2, 5, 6)
    state = model.init_state(features)
    beams = model.select_state(state, torch.tensor([0, 0, 0, 1, 1, 1]))  # 3 rows per image, grouped
    assert beams["annotations"] is state["annotations"] and beams["h"].shape == (6, 10)
    reordered = model.select_state(beams, torch.tensor([2, 0, 0, 5, 3, 4]))  # beams move within their image
    assert reordered["annotations"] is state["annotations"]
    crossed = model.select_state(beams, torch.tensor([3, 0]))  # image 1 first: one annotation row per state row
    assert crossed["annotations"].shape == (2, 5, 6)
    torch.testing.assert_close(crossed["annotations"][0], features[1])
    tokens = torch.tensor([4, 5])
    with torch.no_grad():
        log_probs, _, alpha = model.step(tokens, crossed)
        alone = [model.step(tokens[i: i + 1], model.init_state(features[j: j + 1])) for i, j in ((0, 1), (1, 0))]
    torch.testing.assert_close(log_probs, torch.cat([a[0] for a in alone]))
    torch.testing.assert_close(alpha, torch.cat([a[2] for a in alone]))


def test_dropping_whole_images_keeps_sharing():
    torch.manual_seed(0)
    model = ShowAttendTell(tiny_config(), V).eval()
    features = torch.randn(3, 5, 6)
    beams = model.select_state(model.init_state(features), torch.arange(3).repeat_interleave(2))  # 2 rows per image
    kept = model.select_state(beams, torch.tensor([5, 4, 1, 0]))  # image 2 then image 0, beams swapped
    assert kept["annotations"].shape == (2, 5, 6) and kept["h"].shape == (4, 10)
    torch.testing.assert_close(kept["annotations"], features[[2, 0]])
    torch.testing.assert_close(kept["h"], beams["h"][[5, 4, 1, 0]])
