"""sat.analysis.reinforce: the exact quantities of chapter 6 (hard attention's lower bound and its REINFORCE gradient,
by enumerating every attention path of a tiny model) agree with autograd and with the real training loss."""
from __future__ import annotations

import pytest
import torch

from sat.analysis import reinforce

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def problem_and_table():
    problem = reinforce.tiny_problem(locations=3, words=2, seed=0)
    return problem, reinforce.enumerate_paths(problem)


def test_all_paths_enumerates_every_sequence():
    paths = reinforce.all_paths(3, 2)
    assert paths.shape == (9, 2)
    assert len({tuple(p) for p in paths.tolist()}) == 9


def test_lower_bound_and_its_gap(problem_and_table):
    problem, table = problem_and_table
    assert len(table.paths) == 27 and table.words == problem.steps == 3
    torch.testing.assert_close(table.p_path.sum(), torch.tensor(1.0))
    assert table.lower_bound < table.log_marginal  # Jensen
    assert abs(table.log_marginal - table.lower_bound - table.kl_to_posterior) < 1e-5
    torch.testing.assert_close(table.posterior.sum(), torch.tensor(1.0))


def test_log_derivative_gradient_equals_autograd_of_the_enumerated_bound(problem_and_table):
    problem, table = problem_and_table
    lower_bound, autograd = reinforce.autograd_lower_bound_gradient(problem)
    assert abs(lower_bound - table.lower_bound) < 1e-5
    torch.testing.assert_close(table.exact_gradient(), autograd, atol=1e-6, rtol=1e-5)


def test_score_function_has_mean_zero_and_attention_learns_only_through_it(problem_and_table):
    problem, table = problem_and_table
    assert (table.p_path @ table.grad_log_p_path).abs().max() < 1e-6
    attention = reinforce.parameter_mask(problem.model, "attention.")
    assert attention.sum() > 0
    assert table.grad_log_likelihood[:, attention].abs().max() == 0
    assert table.grad_log_p_path[:, attention].abs().max() > 0


@pytest.mark.parametrize("settings", [
    dict(),  # the unbiased rule
    dict(reward="word_mean", reinforce_scale=0.1, entropy_weight=0.002),  # arctic's constants
])
def test_training_surrogate_gives_the_rules_summand_for_every_path(settings):
    problem = reinforce.tiny_problem(locations=3, words=2, seed=1, **settings)
    table = reinforce.enumerate_paths(problem)
    baseline = -1.75  # exact in float32
    problem.model.baseline.fill_(baseline)
    summands = table.estimates(baseline=baseline, **settings)
    for path, summand in zip(table.paths, summands):
        torch.testing.assert_close(reinforce.surrogate_gradient(problem, path), summand, atol=1e-6, rtol=1e-5)
    assert float(problem.model.baseline) == baseline  # decay 1: untouched


def test_baseline_keeps_the_mean_and_cuts_the_variance(problem_and_table):
    _, table = problem_and_table
    plain = reinforce.estimator_moments(table, baseline=0.0)
    best_b = reinforce.optimal_baseline(table)
    with_mean = reinforce.estimator_moments(table, baseline=table.expected_reward())
    best = reinforce.estimator_moments(table, baseline=best_b)
    exact_norm = float(table.exact_gradient().norm())
    for moments in (plain, with_mean, best):
        assert moments.bias < 1e-5 * exact_norm
    assert with_mean.variance < plain.variance / 10
    assert best.variance <= with_mean.variance + 1e-6
    grid = torch.linspace(best_b - 1, best_b + 1, 41)
    curve = reinforce.variance_by_baseline(table, grid)
    assert curve.argmin() == 20  # the optimal baseline is the vertex of the parabola
    assert (curve >= best.variance - 1e-5).all()


def test_arctic_rule_scales_the_attention_gradient_by_lambda_r_over_c(problem_and_table):
    problem, table = problem_and_table
    attention = reinforce.parameter_mask(problem.model, "attention.")
    exact = table.exact_gradient()
    arctic = reinforce.estimator_moments(table, reward="word_mean", baseline=0.3, reinforce_scale=0.1)
    torch.testing.assert_close(arctic.mean[attention], exact[attention] * 0.1 / table.words, atol=1e-7, rtol=1e-4)
    assert arctic.bias > 0


def test_measured_variance_and_convergence_match_the_exact_values(problem_and_table):
    problem, table = problem_and_table
    baseline = table.expected_reward()
    problem.model.baseline.fill_(baseline)
    exact_variance = reinforce.estimator_moments(table, baseline=baseline).variance
    torch.manual_seed(0)
    measured = reinforce.empirical_variance(problem, n_samples=128, batches=60)
    assert abs(measured / exact_variance - 1) < 0.3
    errors = reinforce.monte_carlo_errors(problem, table.exact_gradient(), [16, 1024], repeats=8)
    rms = errors.pow(2).mean(dim=1).sqrt()
    assert 5 < float(rms[0] / rms[1]) < 13  # √64 = 8: the error shrinks like 1/√N


def test_moving_average_baseline_settles_at_the_expected_reward(problem_and_table):
    _, table = problem_and_table
    decaying = reinforce.tiny_problem(locations=3, words=2, seed=0, baseline_decay=0.9)
    torch.manual_seed(0)
    trace = reinforce.baseline_trace(decaying, batch_size=64, updates=60)
    assert trace[0] == pytest.approx(0.1 * table.expected_reward(), rel=0.3)
    assert trace[-1] == pytest.approx(table.expected_reward(), rel=0.05)
