"""tools/trial_runs.py reads a published model back from what tools/publish_run.py wrote, and gets the very entry that
was recorded for its run (test scores of a model published with its mirror image come from decoding it again). The
trials ran in the order of ``TRIALS``. Each committed attention model is the dev winner of its last trial: the
label-smoothing trial (results/flickr8k/smoothing_trials.json) where one was run, whose plain run is the winner of the
grid trial (results/flickr8k/grid_trials.json), whose other run is, among the widths whose checkpoint may be committed,
the winner of the width trial (results/flickr8k/width_trials.json); all have the λ of the λ trial's winner
(results/flickr8k/lambda_trials.json), and the λ = 1 run of each model is the best of its seed trial
(results/flickr8k/seed_trials.json). ``--add`` extends a model's entry."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tools"))
import trial_runs  # noqa: E402
from sat.config import load_config  # noqa: E402
from sat.training.checkpoint import EXPORT_LIMIT_MB, export_size_mb  # noqa: E402

RESULTS = REPO / "results/flickr8k"


TRIALS = ["seed_trials.json", "lambda_trials.json", "width_trials.json", "grid_trials.json", "smoothing_trials.json"]


def trials(name: str) -> dict:
    path = RESULTS / name
    return json.loads(path.read_text())["models"] if path.is_file() else {}


def last_trial(model: str) -> str:
    """The last of ``TRIALS`` (in the order they were run) that has an entry for ``model``."""
    return [name for name in TRIALS if model in trials(name)][-1]


def committed_record(model: str) -> tuple[dict, dict]:
    """The last trial's entry for ``model`` and its record of the committed run: that trial judged the committed run
    and the run the trials before it had kept."""
    trial = trials(last_trial(model))[model]
    name = load_config(RESULTS / model / "config.yaml").name
    return trial, next(run for run in trial["runs"] if run["run"] == name)


def as_recorded(entry: dict, recorded: dict, model: str) -> dict:
    """``entry`` without the settings that trials record only since ``recorded`` was written (the encoder, first in
    the grid trial, and label smoothing), which must be the published model's own."""
    config = load_config(RESULTS / model / "config.yaml")
    own = {"encoder": config.data.encoder, "label_smoothing": config.model.label_smoothing}
    newer = {key: entry.pop(key) for key in set(entry) - set(recorded)}
    assert newer == {key: own[key] for key in newer}
    return entry


@pytest.mark.parametrize("model", ["soft", "hard"])
def test_published_model_reads_back_as_its_record(model, monkeypatch):
    trial, recorded = committed_record(model)
    entry = trial_runs.judge_published(RESULTS / model, trial["beams"], trial["length_norms"], "Bleu_4+METEOR",
                                       test=False)
    assert as_recorded(entry, recorded, model) == {key: value for key, value in recorded.items() if key != "test"}
    metrics = json.loads((RESULTS / model / "metrics.json").read_text())
    if not metrics["mirror"]:  # the test split was decoded as the trial decoded it: the same test scores
        entry = trial_runs.judge_published(RESULTS / model, trial["beams"], trial["length_norms"], "Bleu_4+METEOR",
                                           test=True)
        assert as_recorded(entry, recorded, model) == recorded
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
        assert as_recorded(entry, recorded, model) == {**recorded, "test": {key: 0.5 for key in recorded["test"]}}


@pytest.mark.parametrize("model", ["soft", "hard"])
def test_committed_model_has_the_lambda_of_its_lambda_trial_winner(model):
    trial = trials("lambda_trials.json")[model]
    winner = max(trial["runs"], key=lambda run: run["dev_criterion"])
    assert trial["best_on_dev"] == winner["run"]
    _, recorded = committed_record(model)
    assert recorded["doubly_stochastic"] == winner["doubly_stochastic"]
    if recorded["run"] == winner["run"]:  # still the committed run: both trials recorded it alike
        assert {key: recorded[key] for key in winner} == winner  # (the λ trial predates the width field)


@pytest.mark.parametrize("model", ["soft", "hard"])
def test_best_seed_is_the_lambda_one_run(model):
    seeds, lambdas = trials("seed_trials.json")[model], trials("lambda_trials.json")[model]
    best_seed = next(run for run in seeds["runs"] if run["run"] == seeds["best_on_dev"])
    lambda_one = next(run for run in lambdas["runs"] if run["doubly_stochastic"] == 1)
    assert lambda_one["run"] == best_seed["run"]
    assert {key: lambda_one[key] for key in best_seed} == best_seed  # the seed trial predates the extra fields


@pytest.mark.parametrize("model, widths", [("soft", [512, 640, 1000]), ("hard", [512, 640])])
def test_grid_trial_started_from_the_width_trial_winner_that_fits(model, widths):
    trial = trials("width_trials.json")[model]
    assert sorted(run["hidden_dim"] for run in trial["runs"]) == widths
    assert trial["best_on_dev"] == max(trial["runs"], key=lambda run: run["dev_criterion"])["run"]
    checkpoint = REPO / "checkpoints/flickr8k" / f"{model}.pt"
    fitting = [run for run in trial["runs"]
               if export_size_mb(checkpoint, hidden_dim=run["hidden_dim"]) <= EXPORT_LIMIT_MB]
    winner = max(fitting, key=lambda run: run["dev_criterion"])
    (carried,) = [run for run in trials("grid_trials.json")[model]["runs"] if run["run"] == winner["run"]]  # on 7×7
    assert carried["encoder"] == "efficientnet-lite0"
    assert {key: carried[key] for key in winner if key != "test"} == {k: v for k, v in winner.items() if k != "test"}
    _, committed = committed_record(model)
    assert committed["hidden_dim"] == winner["hidden_dim"]


def test_add_keeps_the_recorded_runs_and_replaces_a_run_judged_again():
    def arguments(**settings) -> argparse.Namespace:
        return argparse.Namespace(**{"model": "soft", "beams": [3, 5], "length_norms": [0.0, 1.0],
                                     "criterion": "Bleu_4+METEOR", "note": "", "add": True, **settings})

    def run(name: str, score: float) -> dict:
        return {"run": name, "dev_criterion": score}

    first = trial_runs.record(None, [run("a", 0.40), run("b", 0.41)], arguments(note="widths"), Path("t.json"))
    assert first["decodings"] == [(3, 0.0), (3, 1.0), (5, 0.0), (5, 1.0)] and first["best_on_dev"] == "b"
    recorded = json.loads(json.dumps(first))  # as read back from the file: pairs become lists
    added = trial_runs.record(recorded, [run("c", 0.42), run("a", 0.39)], arguments(), Path("t.json"))
    assert added["runs"] == [run("b", 0.41), run("c", 0.42), run("a", 0.39)]
    assert added["best_on_dev"] == "c" and added["note"] == "widths"
    replaced = trial_runs.record(recorded, [run("c", 0.38)], arguments(add=False), Path("t.json"))
    assert replaced["runs"] == [run("c", 0.38)] and replaced["note"] == ""
    with pytest.raises(SystemExit, match="t.json: the soft runs recorded there were judged by dev Bleu_4\\+METEOR"):
        trial_runs.record(recorded, [run("c", 0.42)], arguments(beams=[3, 5, 7]), Path("t.json"))


def test_published_model_on_another_grid_is_refused():
    with pytest.raises(SystemExit, match="dev_beam_selection.json"):
        trial_runs.judge_published(RESULTS / "hard", [3, 5], [0.0, 0.5, 1.0], "Bleu_4+METEOR", test=False)


def test_main_writes_a_new_file_and_keeps_the_other_models_entry(tmp_path, monkeypatch):
    scores = {"a": 0.40, "b": 0.41, "c": 0.39}
    monkeypatch.setattr(trial_runs, "judge", lambda run, *args: {"run": run.name, "dev_criterion": scores[run.name]})
    out = tmp_path / "new_trials.json"

    def main(model: str, *runs: str) -> dict:
        monkeypatch.setattr(sys, "argv", ["trial_runs.py", str(out), model, *(str(tmp_path / run) for run in runs),
                                          "--beams", "3", "--length-norms", "0"])
        trial_runs.main()
        return json.loads(out.read_text())["models"]

    assert not out.exists()
    first = main("soft", "a", "b")  # the file does not exist yet
    assert [run["run"] for run in first["soft"]["runs"]] == ["a", "b"] and first["soft"]["best_on_dev"] == "b"
    both = main("hard", "c")
    assert both["soft"] == first["soft"] and both["hard"]["best_on_dev"] == "c"


@pytest.mark.parametrize("model", ["soft", "hard"])
def test_committed_model_is_the_last_trials_winner_and_has_the_grid_trials_grid(model):
    trial, recorded = committed_record(model)
    assert trial["best_on_dev"] == recorded["run"] == max(trial["runs"], key=lambda run: run["dev_criterion"])["run"]
    grid = trials("grid_trials.json")[model]
    assert {run["encoder"] for run in grid["runs"]} == {"efficientnet-lite0", "efficientnet-lite0-os16"}
    (grid_winner,) = [run for run in grid["runs"] if run["run"] == grid["best_on_dev"]]
    assert recorded["encoder"] == grid_winner["encoder"] == load_config(RESULTS / model / "config.yaml").data.encoder


@pytest.mark.parametrize("model", ["soft", "hard"])
def test_smoothing_trial_adds_label_smoothing_to_the_grid_trial_winner(model):
    trial = trials("smoothing_trials.json")[model]
    grid = trials("grid_trials.json")[model]
    (plain,) = [run for run in trial["runs"] if run["label_smoothing"] == 0]
    (grid_winner,) = [run for run in grid["runs"] if run["run"] == grid["best_on_dev"]]
    assert plain["run"] == grid_winner["run"]
    assert {key: plain[key] for key in grid_winner} == grid_winner  # read back as the grid trial recorded it
    settings = ("seed", "encoder", "image_size", "hflip", "doubly_stochastic", "hidden_dim")
    for smoothed in (run for run in trial["runs"] if run is not plain):
        assert smoothed["label_smoothing"] > 0
        assert {key: smoothed[key] for key in settings} == {key: plain[key] for key in settings}
