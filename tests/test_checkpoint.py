"""Checkpoint files: integrity checks, atomic writes, compatibility checks, the half-precision export."""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from sat.data import Vocabulary
from sat.models.config import build_model
from sat.training.checkpoint import (CheckpointError, check_compatible, export_half, export_size_mb, load_for_inference,
                                     load_training_checkpoint, read_checkpoint, rng_state, save_training_checkpoint,
                                     set_rng_state, write_checkpoint)
from _training_helpers import WORDS, tiny_config

torch.set_num_threads(1)


def _save(path: Path, tmp_path: Path, step: int = 7, vocab: Vocabulary | None = None, **model_changes) -> tuple:
    config = tiny_config(tmp_path)
    config = dataclasses.replace(config, model=dataclasses.replace(config.model, **model_changes))
    vocab = vocab or Vocabulary(WORDS)
    torch.manual_seed(0)
    model = build_model(config.model, len(vocab))
    optimizer = torch.optim.Adam(model.parameters())
    save_training_checkpoint(path, model=model, optimizer=optimizer, vocab=vocab, config=config, step=step, epoch=1,
                             batch_in_epoch=2, rng=[rng_state()], best_score=0.1, best_step=5, bad_evals=0,
                             elapsed_s=1.0)
    return config, vocab, model


def _assert_clear(err: pytest.ExceptionInfo, path: Path, words: str) -> None:
    message = str(err.value)
    assert "\n" not in message and str(path) in message and words in message, message


def test_round_trip_keeps_everything(tmp_path: Path) -> None:
    path = tmp_path / "last.pt"
    config, vocab, model = _save(path, tmp_path)
    state = load_training_checkpoint(path, config, vocab)
    assert state["step"] == 7 and state["epoch"] == 1 and state["batch_in_epoch"] == 2 and state["best_score"] == 0.1
    assert state["config"] == config.to_dict() and Vocabulary.from_dict(state["vocab"]) == vocab
    assert "baseline" in state["model"]  # the hard-attention REINFORCE baseline travels with the weights
    for key, value in model.state_dict().items():
        assert torch.equal(state["model"][key], value)


def test_rng_states_round_trip() -> None:
    import random

    state = rng_state()
    first = (random.random(), np.random.rand(), torch.rand(1).item())
    set_rng_state(state)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == first


@pytest.mark.parametrize("damage, words", [
    (lambda data: data[: len(data) // 2], "truncated"),
    (lambda data: b"", "truncated or empty"),
    (lambda data: os.urandom(len(data)), "not a sat checkpoint"),
    (lambda data: data[:-100] + bytes(b ^ 0xFF for b in data[-100:]), "checksum mismatch"),
])
def test_corrupted_checkpoint_gives_one_clear_error(tmp_path: Path, damage, words: str) -> None:
    path = tmp_path / "last.pt"
    _save(path, tmp_path)
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(CheckpointError) as err:
        read_checkpoint(path)
    _assert_clear(err, path, words)
    with pytest.raises(CheckpointError):
        load_for_inference(path)


@pytest.mark.parametrize("payload, words", [
    ({"format": 99, "kind": "train"}, "unsupported checkpoint (format 99)"),
    ({"format": 1, "kind": "optimizer"}, "unsupported checkpoint (format 1)"),
    ([1, 2, 3], "unsupported checkpoint (format None)"),
])
def test_foreign_payload_in_a_valid_file_is_refused(tmp_path: Path, payload, words: str) -> None:
    path = write_checkpoint(tmp_path / "other.pt", payload)  # intact file, checksum right, contents not ours
    with pytest.raises(CheckpointError) as err:
        read_checkpoint(path)
    _assert_clear(err, path, words)


def test_missing_checkpoint(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="not found"):
        read_checkpoint(tmp_path / "nothing.pt")


def test_crash_during_write_keeps_the_previous_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "last.pt"
    _save(path, tmp_path, step=7)
    before = path.read_bytes()

    def crash(fd: int) -> None:
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(os, "fsync", crash)  # the new file's bytes are written, then the crash hits
    with pytest.raises(OSError, match="simulated"):
        _save(path, tmp_path, step=8)
    monkeypatch.undo()
    assert path.read_bytes() == before and read_checkpoint(path)["step"] == 7
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]  # no temporary file left behind

    monkeypatch.setattr(torch, "save", lambda *args, **kwargs: (_ for _ in ()).throw(RuntimeError("killed")))
    with pytest.raises(RuntimeError, match="killed"):
        write_checkpoint(path, {"anything": 1})
    monkeypatch.undo()
    assert read_checkpoint(path)["step"] == 7


def test_mismatched_vocabulary_or_config_fails_clearly(tmp_path: Path) -> None:
    path = tmp_path / "last.pt"
    config, vocab, _ = _save(path, tmp_path)
    state = read_checkpoint(path)
    with pytest.raises(CheckpointError) as err:
        check_compatible(path, state, config, Vocabulary(WORDS + ["zebra"]))
    _assert_clear(err, path, "vocabulary mismatch")
    assert "zebra" in str(err.value)

    other = tiny_config(tmp_path)
    other.model.hidden_dim = 32
    other.train.batch_size = 4
    with pytest.raises(CheckpointError) as err:
        load_training_checkpoint(path, other, vocab)
    _assert_clear(err, path, "config mismatch")
    assert "model.hidden_dim: 16 -> 32" in str(err.value) and "train.batch_size: 8 -> 4" in str(err.value)

    relaxed = tiny_config(tmp_path, epochs=9)  # more epochs or other logging settings may change on resume
    assert check_compatible(path, state, relaxed, vocab) == ["epochs"]

    # weights that do not fit the vocabulary the checkpoint names
    state["vocab"] = Vocabulary(WORDS + ["zebra"]).to_dict()
    write_checkpoint(path, state)
    with pytest.raises(CheckpointError) as err:
        load_for_inference(path)
    _assert_clear(err, path, "do not fit")


def test_export_size_predicts_the_file_of_another_width(tmp_path: Path) -> None:
    config, _, _ = _save(tmp_path / "narrow.pt", tmp_path)
    narrow = export_half(tmp_path / "narrow.pt", tmp_path / "narrow_fp16.pt")
    wide_units = 4 * config.model.hidden_dim
    _save(tmp_path / "wide.pt", tmp_path, hidden_dim=wide_units)
    wide = export_half(tmp_path / "wide.pt", tmp_path / "wide_fp16.pt")
    assert export_size_mb(narrow) == pytest.approx(narrow.stat().st_size / 2**20, abs=1e-9)
    predicted, actual = export_size_mb(narrow, hidden_dim=wide_units), wide.stat().st_size / 2**20
    assert actual - narrow.stat().st_size / 2**20 > 0.01  # the width changes the file by more than 10 kB
    assert abs(predicted - actual) < 1e-3  # within 1 kB: only the weights' bytes differ


def test_export_half_is_small_and_equivalent(tmp_path: Path) -> None:
    path = tmp_path / "best.pt"
    config, vocab, model = _save(path, tmp_path)
    out = export_half(path, tmp_path / "best_fp16.pt")
    state = read_checkpoint(out)
    assert state["kind"] == "inference" and "optimizer" not in state
    assert all(v.dtype == torch.float16 for v in state["model"].values() if v.is_floating_point())
    assert out.stat().st_size < path.stat().st_size / 2  # no optimizer moments, half the bytes per weight
    loaded, loaded_vocab, loaded_config = load_for_inference(out)
    assert loaded_vocab == vocab and loaded_config == config and not loaded.training
    features = torch.randn(2, 4, 8)
    captions = torch.tensor([[1, 4, 5, 2], [1, 6, 2, 0]])
    lengths = torch.tensor([4, 3])
    model.eval()
    with torch.no_grad():
        full, half = model.loss(features, captions, lengths).nll, loaded.loss(features, captions, lengths).nll
    assert abs(float(full) - float(half)) < 1e-2
    with pytest.raises(CheckpointError, match="inference-only"):
        load_training_checkpoint(out)
