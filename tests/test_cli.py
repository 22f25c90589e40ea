"""The ``sat`` command line: help everywhere, one-line errors, ``sat evaluate`` end to end on a miniature Flickr8k."""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from _caption_helpers import tiny_checkpoint
from _data_helpers import make_flickr8k
from sat.cli import build_parser, main

torch.set_num_threads(1)


def _commands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command path of the parser tree, e.g. ("data",), ("data", "download"), ("caption",)."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found.append((*prefix, name))
                found += _commands(sub, (*prefix, name))
    return found


def test_sat_help_from_the_installed_entry_point():
    script = Path(sys.executable).with_name("sat")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "sat"]
    done = subprocess.run([*command, "--help"], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr
    for name in ("data", "features", "train", "evaluate", "caption"):
        assert name in done.stdout


def test_every_command_has_help(capsys):
    commands = _commands(build_parser())
    assert {("data", "download"), ("features",), ("train",), ("evaluate",), ("caption",)} <= set(commands)
    for command in commands:
        with pytest.raises(SystemExit) as info:
            main([*command, "--help"])
        assert info.value.code == 0
        out = capsys.readouterr().out
        assert out.startswith(f"usage: sat {' '.join(command)}"), command


def test_no_command_prints_help_and_fails(capsys):
    assert main([]) == 2
    assert "usage: sat" in capsys.readouterr().err


def test_bad_input_is_one_line_without_traceback(tmp_path, capsys):
    missing = tmp_path / "nope.pt"
    assert main(["caption", "--checkpoint", str(missing), str(tmp_path / "x.jpg")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sat: error: ") and err.count("\n") == 1 and str(missing) in err
    with pytest.raises(Exception, match="not found"):  # --debug: the exception itself, traceback and all
        main(["--debug", "caption", "--checkpoint", str(missing), str(tmp_path / "x.jpg")])
    assert main(["evaluate", "--checkpoint", str(missing), "--out", str(tmp_path), "--split", "nonsense"]) == 2
    assert "unknown split" in capsys.readouterr().err


def test_evaluate_writes_coco_results_and_metrics(tmp_path, capsys):
    data = tmp_path / "data"
    make_flickr8k(data / "flickr8k", splits={"train": ["1_a.jpg"], "dev": ["2_b.jpg"], "test": ["3_c.jpg", "4_d.jpg"]})
    checkpoint = tiny_checkpoint(tmp_path / "tiny.pt")
    out = tmp_path / "results"
    status = main(["evaluate", "--checkpoint", str(checkpoint), "--split", "test", "--beam", "2", "--max-len", "5",
                   "--out", str(out), "--data-dir", str(data), "--cache-dir", str(tmp_path / "cache"), "--fast",
                   "--bootstrap", "50"])
    assert status == 0
    captions = json.loads((out / "captions.json").read_text())
    assert [row["image_id"] for row in captions] == ["3_c.jpg", "4_d.jpg"]
    assert all(set(row) == {"image_id", "caption"} and isinstance(row["caption"], str) for row in captions)
    metrics = json.loads((out / "metrics.json").read_text())
    assert {"Bleu_1", "Bleu_4", "ROUGE_L", "CIDEr"} <= set(metrics)
    assert all(0.0 <= metrics[k] <= 1.0 for k in ("Bleu_1", "Bleu_4", "ROUGE_L"))
    assert metrics["split"] == "test" and metrics["beam_size"] == 2 and metrics["num_images"] == 2
    assert metrics["mirror"] is False  # each image alone unless --mirror (tests/test_decoding_views.py)
    assert metrics["checkpoint"] == str(checkpoint)
    intervals = json.loads((out / "intervals.json").read_text())
    assert intervals["samples"] == 50 and intervals["num_images"] == 2
    assert set(intervals["scores"]) == {"Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4", "ROUGE_L", "CIDEr"}
    for name, interval in intervals["scores"].items():
        assert interval["score"] == pytest.approx(metrics[name], abs=1e-12)
        assert interval["low"] <= interval["score"] <= interval["high"]
    printed = capsys.readouterr().out
    assert "Bleu_4" in printed and "intervals" in printed


def test_features_and_download_on_a_complete_folder(tmp_path, capsys):
    data = tmp_path / "data"
    make_flickr8k(data / "flickr8k")
    assert main(["data", "download", "flickr8k", "--data-dir", str(data), "--quiet"]) == 0  # already there: no fetch
    assert str(data / "flickr8k") in capsys.readouterr().out
    status = main(["features", "--dataset", "flickr8k", "--encoder", "small-cnn", "--image-size", "64",
                   "--splits", "test", "--data-dir", str(data), "--cache-dir", str(tmp_path / "cache"), "--quiet"])
    assert status == 0
    out = capsys.readouterr().out
    assert "small-cnn-64" in out and "1 of the 1 requested extracted" in out
    assert main(["features", "--dataset", "nonsense", "--data-dir", str(data)]) == 2
    assert capsys.readouterr().err.startswith("sat: error: unknown dataset")


def test_help_does_not_import_torch():
    """`sat --help` builds every subcommand's parser; PyTorch (seconds to import) waits until a command runs."""
    import subprocess
    import sys

    probe = ("import sys; from sat.cli import build_parser; build_parser().format_help(); "
             "print(sorted(m for m in ('torch', 'torchvision', 'numpy') if m in sys.modules))")
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "[]"
