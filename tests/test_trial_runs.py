"""tools/trial_runs.py reads a published model back from what tools/publish_run.py wrote, and gets the very entry that
was recorded for its run (test scores of a model published with its mirror image come from decoding it again): each
committed attention model is the dev winner of its λ trial (results/flickr8k/lambda_trials.json), and the λ = 1 run of
each is the best of its seed trial (results/flickr8k/seed_trials.json)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tools"))
import trial_runs  # noqa: E402
from sat.config import load_config  # noqa: E402

RESULTS = REPO / "results/flickr8k"


def trials(name: str) -> dict:
    return json.loads((RESULTS / name).read_text())["models"]


@pytest.mark.parametrize("model", ["soft", "hard"])
def test_committed_model_is_its_lambda_trial_winner(model, monkeypatch):
    trial = trials("lambda_trials.json")[model]
    recorded = next(run for run in trial["runs"] if run["run"] == trial["best_on_dev"])
    assert recorded["dev_criterion"] == max(run["dev_criterion"] for run in trial["runs"])
    entry = trial_runs.judge_published(RESULTS / model, trial["beams"], trial["length_norms"], "Bleu_4+METEOR",
                                       test=False)
    width = load_config(RESULTS / model / "config.yaml").model.hidden_dim
    assert entry.pop("hidden_dim") == width  # recorded since the width trial; the λ trial predates it
    assert entry == {key: value for key, value in recorded.items() if key != "test"}
    metrics = json.loads((RESULTS / model / "metrics.json").read_text())
    if not metrics["mirror"]:  # the test split was decoded as the trial decoded it: the same test scores
        entry = trial_runs.judge_published(RESULTS / model, trial["beams"], trial["length_norms"], "Bleu_4+METEOR",
                                           test=True)
        assert entry.pop("hidden_dim") == width and entry == recorded
    else:  # the published model also reads the mirror image, a choice made after the trial: the committed checkpoint
        asked = []  # is decoded again on the test split, from the image alone with the trial's choice

        def evaluate(checkpoint, **settings):
            asked.append((checkpoint, settings.pop("out_dir") is not None, settings))
            return {key: 0.5 for key in recorded["test"]}

        monkeypatch.setattr(trial_runs, "evaluate_checkpoint", evaluate)
        entry = trial_runs.judge_published(RESULTS / model, trial["beams"], trial["length_norms"], "Bleu_4+METEOR",
                                           test=True)
        assert asked == [(REPO / metrics["checkpoint"], True, {
            "split": "test", "beam_size": recorded["chosen_beam"],
            "length_normalization": recorded["chosen_length_normalization"]})]
        assert entry.pop("hidden_dim") == width
        assert entry == {**recorded, "test": {key: 0.5 for key in recorded["test"]}}


@pytest.mark.parametrize("model", ["soft", "hard"])
def test_best_seed_is_the_lambda_one_run(model):
    seeds, lambdas = trials("seed_trials.json")[model], trials("lambda_trials.json")[model]
    best_seed = next(run for run in seeds["runs"] if run["run"] == seeds["best_on_dev"])
    lambda_one = next(run for run in lambdas["runs"] if run["doubly_stochastic"] == 1)
    assert lambda_one["run"] == best_seed["run"]
    assert {key: lambda_one[key] for key in best_seed} == best_seed  # the seed trial predates the extra fields


def test_committed_soft_attention_is_its_width_trial_winner():
    trial = trials("width_trials.json")["soft"]
    winner = max(trial["runs"], key=lambda run: run["dev_criterion"])
    assert trial["best_on_dev"] == winner["run"] == load_config(RESULTS / "soft" / "config.yaml").name
    entry = trial_runs.judge_published(RESULTS / "soft", trial["beams"], trial["length_norms"], "Bleu_4+METEOR",
                                       test=False)
    assert entry == {key: value for key, value in winner.items() if key != "test"}  # hidden_dim included
    assert sorted(run["hidden_dim"] for run in trial["runs"]) == [512, 1000]


def test_published_model_on_another_grid_is_refused():
    with pytest.raises(SystemExit, match="dev_beam_selection.json"):
        trial_runs.judge_published(RESULTS / "hard", [3, 5], [0.0, 0.5, 1.0], "Bleu_4+METEOR", test=False)
