"""tools/trial_runs.py reads a committed model's run from what tools/publish_run.py wrote, and gets the entry that
judging the run itself recorded (the committed hard-attention run in results/flickr8k/seed_trials.json)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tools"))
import trial_runs  # noqa: E402


def seed_trials() -> dict:
    return json.loads((REPO / "results/flickr8k/seed_trials.json").read_text())["models"]["hard"]


def test_published_model_matches_its_judged_run():
    trials = seed_trials()
    recorded = next(run for run in trials["runs"] if run["run"] == trials["best_on_dev"])  # the committed run
    entry = trial_runs.judge_published(REPO / "results/flickr8k/hard", trials["beams"], trials["length_norms"],
                                       "Bleu_4+METEOR", test=True)
    assert entry.pop("doubly_stochastic") == 1.0  # the fields seed_trials.json predates
    assert entry.pop("max_minutes") == 100
    assert entry.pop("last_epoch_penalty") > 0
    assert entry == recorded


def test_published_model_on_another_grid_is_refused():
    with pytest.raises(SystemExit, match="dev_beam_selection.json"):
        trial_runs.judge_published(REPO / "results/flickr8k/hard", [3, 5], [0.0, 0.5, 1.0], "Bleu_4+METEOR",
                                   test=False)
