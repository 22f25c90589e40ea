"""Compare training runs of one model on the dev split, as ``tools/publish_run.py`` would judge each of them.

    python tools/trial_runs.py results/flickr8k/seed_trials.json hard runs/flickr8k_hard_ema runs/flickr8k_hard_seed1 \
        --note "two seeds, otherwise equal settings" [--test] [--beams 3 5 7] [--length-norms 0 0.5 1]

Each run's ``best.pt`` is exported to half precision (as published) in a scratch folder, its beam size and length
normalisation are chosen on the dev split by dev BLEU-4 + METEOR over the grid the published model was chosen on, and
the run is recorded with that dev score, the settings that tell runs apart (seed, encoder, image size, mirror images, λ
of Eq. 14, LSTM width, label smoothing, time limit) and the mean penalty of Eq. 14 over its last epoch; the model's
entry keeps the (beam, P) pairs decoded (``decodings``). A run given as ``published:DIR`` is a published model whose run
folder is gone, such as ``published:results/flickr8k/hard``: it is read, not decoded again, from what
``tools/publish_run.py`` wrote by the same rule into DIR (config, log, ``dev_beam_selection.json`` and, with ``--test``,
``metrics.json``). Trials compare runs decoded from the image alone: whether the published model also reads the mirror
image is a decoding choice made afterwards, for the run kept (with ``--test``, a published model decoded with its mirror
image is scored again on the test split from its committed checkpoint, decoded as the trial chose). The committed run of
a model must be the one with the best dev score among the runs whose checkpoint may be committed (25 MB); ``--test``
also scores every run on the test split with its own dev choice (reported to show the spread between runs, never used to
choose). The JSON file keeps one entry per model, so one file can hold the trials of several models; ``--add`` adds runs
to a model's entry without judging the runs recorded there again.
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

from publish_run import REPO, decoding_grid, dev_criterion, dev_selection
from sat.config import load_config
from sat.evaluation import SCORE_NAMES, evaluate_checkpoint
from sat.training.checkpoint import export_half


PUBLISHED = "published:"


def describe(run_dir: Path) -> dict:
    """The settings that tell runs apart and the course of training, from a run's ``config.yaml`` and log."""
    config = load_config(run_dir / "config.yaml")
    log = [json.loads(line) for line in (run_dir / "train_log.jsonl").read_text().splitlines() if line.strip()]
    evals = [row for row in log if row.get("type") == "eval"]
    best_eval = max(evals, key=lambda row: row["Bleu_4"])
    last_epoch_start = evals[-2]["step"] if len(evals) > 1 else 0
    last_epoch = [row["doubly_stochastic"] for row in log
                  if row.get("type") == "train" and last_epoch_start < row["step"] <= evals[-1]["step"]]
    return {"run": config.name, "seed": config.train.seed, "encoder": config.data.encoder,
            "image_size": config.data.image_size,
            "hflip": config.data.hflip, "doubly_stochastic": config.model.doubly_stochastic,
            "hidden_dim": config.model.hidden_dim, "label_smoothing": config.model.label_smoothing,
            "max_minutes": config.train.max_minutes, "epochs_run": evals[-1]["epoch"],
            "best_epoch": best_eval["epoch"], "best_val_Bleu_4": best_eval["Bleu_4"],
            "last_epoch_penalty": sum(last_epoch) / len(last_epoch)}  # Σ_i (1 − Σ_t α_ti)², the log rows' mean


def judge_published(results: Path, beams: list[int], length_norms: list[float], criterion: str, test: bool) -> dict:
    """A published model as ``judge`` would record its run, read from the folder ``results`` that ``publish_run``
    wrote (``results/flickr8k/NAME``)."""
    entry = describe(results)
    selection = json.loads((results / "dev_beam_selection.json").read_text())
    dev = {(row["beam"], row["length_normalization"]): row for row in selection["dev"] if not row.get("mirror")}
    if selection["criterion"] != f"dev {criterion}" or sorted(dev) != sorted(decoding_grid(beams, length_norms)):
        raise SystemExit(f"{results / 'dev_beam_selection.json'}: not chosen by dev {criterion} over this grid")
    choice = max(dev, key=lambda pair: dev_criterion(dev[pair], criterion))  # as dev_selection, in the same order
    entry.update({"chosen_beam": choice[0], "chosen_length_normalization": choice[1],
                  "dev_criterion": dev_criterion(dev[choice], criterion),
                  "dev": {key: dev[choice][key] for key in SCORE_NAMES}})
    if test:
        metrics = json.loads((results / "metrics.json").read_text())
        if (metrics["beam_size"], metrics["length_normalization"], metrics.get("mirror", False)) != (*choice, False):
            # published with another decoding (the mirror image too): score the committed checkpoint as trials are
            with tempfile.TemporaryDirectory() as scratch:
                metrics = evaluate_checkpoint(REPO / metrics["checkpoint"], split="test", beam_size=choice[0],
                                              length_normalization=choice[1], out_dir=scratch)
        entry["test"] = {key: metrics[key] for key in SCORE_NAMES}
    return entry


def judge(run_dir: Path, beams: list[int], length_norms: list[float], criterion: str, test: bool) -> dict:
    """One run's dev choice and score (and test scores with ``test``) → a JSON-ready dict."""
    entry = describe(run_dir)
    with tempfile.TemporaryDirectory() as scratch:
        checkpoint = Path(scratch) / "model.pt"
        export_half(run_dir / "best.pt", checkpoint)
        (beam, norm), dev = dev_selection(checkpoint, beams, length_norms, criterion, run_dir.name)
        entry.update({"chosen_beam": beam, "chosen_length_normalization": norm,
                      "dev_criterion": dev_criterion(dev[beam, norm], criterion), "dev": dev[beam, norm]})
        if test:
            scores = evaluate_checkpoint(checkpoint, split="test", beam_size=beam, length_normalization=norm,
                                         out_dir=Path(scratch) / "test")
            entry["test"] = {key: scores[key] for key in SCORE_NAMES}
    return entry


def require_same_judging(recorded: dict, args: argparse.Namespace, out: Path) -> None:
    """Stop unless the runs ``recorded`` for the model were judged by ``args.criterion`` over ``args``' grid."""
    grid = decoding_grid(args.beams, args.length_norms)
    if recorded["criterion"] != f"dev {args.criterion}" or recorded["decodings"] != [list(pair) for pair in grid]:
        raise SystemExit(f"{out}: the {args.model} runs recorded there were judged by {recorded['criterion']} over "
                         f"{recorded['decodings']}, not by dev {args.criterion} over {grid}")


def record(recorded: dict | None, entries: list[dict], args: argparse.Namespace, out: Path) -> dict:
    """The model's entry for the JSON file: ``entries`` alone, or with ``args.add`` the runs ``recorded`` before
    (judged by the same criterion over the same grid) followed by ``entries`` (a run judged again replaces its
    record); the note is ``args.note``, or the recorded one when ``--note`` is not given."""
    grid = decoding_grid(args.beams, args.length_norms)
    if args.add and recorded is not None:
        require_same_judging(recorded, args, out)
        added = {entry["run"] for entry in entries}
        entries = [run for run in recorded["runs"] if run["run"] not in added] + entries
    note = args.note or (recorded.get("note", "") if args.add and recorded is not None else "")
    return {"criterion": f"dev {args.criterion}", "beams": args.beams, "length_norms": args.length_norms,
            "decodings": grid, "note": note, "runs": entries,
            "best_on_dev": max(entries, key=lambda entry: entry["dev_criterion"])["run"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path,
                        help="the JSON file to write (the model's entry is replaced, or extended with --add)")
    parser.add_argument("model", help="the model the runs train, e.g. hard")
    parser.add_argument("runs", nargs="+", help="run folders with best.pt, config.yaml, train_log.jsonl, or "
                        f"{PUBLISHED}DIR for a model published into DIR (e.g. {PUBLISHED}results/flickr8k/hard)")
    parser.add_argument("--note", default="", help="what differs between the runs")
    parser.add_argument("--add", action="store_true",
                        help="keep the runs already recorded for the model and add these (a run judged again "
                             "replaces its record), instead of replacing the model's entry")
    parser.add_argument("--test", action="store_true", help="also score each run on the test split (reporting only)")
    parser.add_argument("--beams", type=int, nargs="+", default=[3, 5, 7])
    parser.add_argument("--length-norms", type=float, nargs="+", default=[0.0, 0.5, 1.0])
    parser.add_argument("--criterion", default="Bleu_4+METEOR")
    args = parser.parse_args()
    runs = [(run.startswith(PUBLISHED), Path(run.removeprefix(PUBLISHED)).resolve()) for run in args.runs]
    out = args.out.resolve()
    os.chdir(REPO)
    recorded = json.loads(out.read_text()).get("models", {}).get(args.model) if out.is_file() else None
    if args.add and recorded is not None:
        require_same_judging(recorded, args, out)  # before any decoding
    entries = [(judge_published if published else judge)(run, args.beams, args.length_norms, args.criterion, args.test)
               for published, run in runs]
    trials = json.loads(out.read_text()) if out.is_file() else {}  # read again: another model's entry may be new
    models = trials.setdefault("models", {})
    models[args.model] = record(models.get(args.model), entries, args, out)
    out.write_text(json.dumps(trials, indent=2) + "\n")
    for entry in entries:
        print(f"{entry['run']}: dev {args.criterion} {100 * entry['dev_criterion']:.2f}"
              + (f", test BLEU-4 {100 * entry['test']['Bleu_4']:.2f}" if "test" in entry else ""))


if __name__ == "__main__":
    main()
