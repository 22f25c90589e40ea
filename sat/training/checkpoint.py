"""Checkpoints: one self-checking file format, atomic writes, compatibility checks and the half-precision export.

File layout: ``MAGIC`` (8 bytes) | payload length (8 bytes, little endian) | SHA-256 of the payload (32 bytes) | payload,
where the payload is a ``torch.save`` of a plain dict. A truncated, overwritten or foreign file is therefore caught
before unpickling and reported in one line that names it. Writes go to a temporary file in the same folder, are
flushed and fsync'ed, and only then ``os.replace``'d over the old file: a crash mid-write leaves the last good
checkpoint untouched.

Training checkpoints (``kind: "train"``) hold the model, optimizer and AMP scaler states, the vocabulary, the
experiment config, the position (step, epoch, batches done in that epoch), every RNG state of every rank, the best
validation score and the wall time spent, and with ``train.ema_decay`` the weight average (``ema``, which inference
uses instead of ``model``) and its number of updates. The hard-attention REINFORCE baseline is a buffer of the model,
so it is in the model's state dict. ``export_half`` keeps what inference needs (``kind: "inference"``): float16
weights, the vocabulary and the config.
"""
from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import random
import shutil
import struct
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..config import ExperimentConfig
from ..data.vocab import Vocabulary
from ..models.base import CaptionModel

MAGIC = b"SATCKPT1"
HEADER = struct.Struct("<8sQ32s")  # magic, payload length, sha256 digest
FORMAT_VERSION = 1
EXPORT_LIMIT_MB = 25.0


class CheckpointError(Exception):
    """A checkpoint that cannot be used: missing, corrupted, or incompatible with the run. The message is one line."""


# ----------------------------------------------------------------------------------------------------- raw file I/O

def write_checkpoint(path: str | Path, payload: dict[str, Any]) -> Path:
    """Atomically write ``payload`` to ``path`` in the checked format (see the module docstring)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    data = buffer.getvalue()
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as handle:
            handle.write(HEADER.pack(MAGIC, len(data), hashlib.sha256(data).digest()))
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return path


def copy_checkpoint(source: str | Path, target: str | Path) -> Path:
    """Atomically copy a checkpoint file (``best.pt`` from ``last.pt``): temporary file, fsync, ``os.replace``."""
    source, target = Path(source), Path(target)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    try:
        with open(source, "rb") as reader, open(tmp, "wb") as writer:
            shutil.copyfileobj(reader, writer, 2**22)
            writer.flush()
            os.fsync(writer.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(target.parent)
    return target


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable (POSIX); a no-op where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The payload dict of a checkpoint file; :class:`CheckpointError` if it is missing, truncated or corrupted."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    data = path.read_bytes()
    if len(data) < HEADER.size:
        raise CheckpointError(f"{path}: truncated or empty checkpoint ({len(data)} bytes); it cannot be used")
    magic, length, digest = HEADER.unpack_from(data)
    if magic != MAGIC:
        raise CheckpointError(f"{path}: not a sat checkpoint (bad header); the file is corrupted or of another kind")
    payload = data[HEADER.size:]
    if len(payload) != length:
        raise CheckpointError(f"{path}: truncated checkpoint ({len(payload)} of {length} payload bytes); "
                              "it cannot be used")
    if hashlib.sha256(payload).digest() != digest:
        raise CheckpointError(f"{path}: corrupted checkpoint (checksum mismatch); it cannot be used")
    try:
        state = torch.load(io.BytesIO(payload), map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 — any unpickling failure is one clear error
        raise CheckpointError(f"{path}: unreadable checkpoint payload ({' '.join(str(err).split())[:200]})") from None
    if not (isinstance(state, dict) and state.get("format") == FORMAT_VERSION
            and state.get("kind") in ("train", "inference")):
        version = state.get("format") if isinstance(state, dict) else None
        raise CheckpointError(f"{path}: unsupported checkpoint (format {version!r})")
    return state


# ------------------------------------------------------------------------------------------------------ RNG states

def rng_state() -> dict[str, Any]:
    """Python, numpy and torch (CPU and CUDA) RNG states, in a form ``torch.load(weights_only=True)`` accepts."""
    numpy_state = np.random.get_state(legacy=False)
    state = {
        "python": _listify(random.getstate()),
        "numpy": {"bit_generator": numpy_state["bit_generator"],
                  "key": torch.from_numpy(numpy_state["state"]["key"].astype(np.int64)),
                  "pos": int(numpy_state["state"]["pos"]), "has_gauss": int(numpy_state["has_gauss"]),
                  "gauss": float(numpy_state["gauss"])},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` returned."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    numpy_state = state["numpy"]
    np.random.set_state({"bit_generator": numpy_state["bit_generator"],
                         "state": {"key": numpy_state["key"].numpy().astype(np.uint32), "pos": numpy_state["pos"]},
                         "has_gauss": numpy_state["has_gauss"], "gauss": numpy_state["gauss"]})
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _listify(value: Any) -> Any:
    return [_listify(v) for v in value] if isinstance(value, (tuple, list)) else value


# --------------------------------------------------------------------------------------------- training checkpoints

def save_training_checkpoint(path: str | Path, *, model: CaptionModel, optimizer: torch.optim.Optimizer,
                             vocab: Vocabulary, config: ExperimentConfig, step: int, epoch: int,
                             batch_in_epoch: int, rng: list[dict[str, Any]], best_score: float | None,
                             best_step: int | None, bad_evals: int, elapsed_s: float,
                             scaler: dict[str, Any] | None = None, ema: dict[str, torch.Tensor] | None = None,
                             ema_updates: int = 0) -> Path:
    """Write everything ``--resume`` needs; ``rng`` holds one :func:`rng_state` per rank (rank 0 first)."""
    return write_checkpoint(path, {
        "format": FORMAT_VERSION, "kind": "train",
        "config": config.to_dict(), "vocab": plain_vocab(vocab),
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "optimizer": optimizer.state_dict(), "scaler": scaler or {},
        "step": step, "epoch": epoch, "batch_in_epoch": batch_in_epoch, "rng": rng,
        "best_score": best_score, "best_step": best_step, "bad_evals": bad_evals, "elapsed_s": elapsed_s,
        "ema": ema, "ema_updates": ema_updates,
    })


def plain_vocab(vocab: Vocabulary) -> dict[str, Any]:
    """``vocab.to_dict()`` with plain ``str``/``int`` (numpy strings would not pass ``weights_only`` loading)."""
    return {"itos": [str(word) for word in vocab.itos],
            "counts": {str(word): int(count) for word, count in vocab.counts.items()}}


RESUME_KEYS = ("optimizer", "batch_size", "seed", "log_frequency_bias")  # train keys that must not change on resume
LOCATION_KEYS = ("data_dir", "cache_dir")  # where the data lives may change (the vocabulary check covers its content)


def check_compatible(path: str | Path, state: dict[str, Any], config: ExperimentConfig | None = None,
                     vocab: Vocabulary | None = None) -> list[str]:
    """Raise :class:`CheckpointError` if the checkpoint ``state`` read from ``path`` was made with another vocabulary,
    data or model config (folders excepted) or, for training checkpoints, other ``RESUME_KEYS`` than ``config``/``vocab``.

    Returns the other ``train.*`` keys that differ (allowed: epochs, patience, logging…), for the caller to report.
    """
    if vocab is not None:
        saved = Vocabulary.from_dict(state["vocab"])
        if saved != vocab:
            extra = sorted(set(vocab.itos) - set(saved.itos))[:5]
            missing = sorted(set(saved.itos) - set(vocab.itos))[:5]
            raise CheckpointError(
                f"{path}: vocabulary mismatch: the checkpoint has {len(saved)} words, the data gives {len(vocab)} "
                f"(only in the data: {extra}, only in the checkpoint: {missing}); use the data and min_count it was "
                "trained with")
    if config is None:
        return []
    saved_config = state["config"]
    current = config.to_dict()
    differences = [f"{section}.{key}: {saved_config[section].get(key)!r} -> {value!r}"
                   for section in ("data", "model") for key, value in current[section].items()
                   if key not in LOCATION_KEYS and saved_config.get(section, {}).get(key) != value]
    differences += [f"train.{key}: {saved_config['train'].get(key)!r} -> {current['train'][key]!r}"
                    for key in RESUME_KEYS
                    if state["kind"] == "train" and saved_config["train"].get(key) != current["train"][key]]
    if differences:
        raise CheckpointError(f"{path}: config mismatch with the checkpoint ({'; '.join(differences)})")
    return [key for key, value in current["train"].items()
            if key not in RESUME_KEYS and saved_config["train"].get(key) != value]


def load_training_checkpoint(path: str | Path, config: ExperimentConfig | None = None,
                             vocab: Vocabulary | None = None) -> dict[str, Any]:
    """The payload of a training checkpoint, checked against ``config`` and ``vocab`` when given."""
    state = read_checkpoint(path)
    if state["kind"] != "train":
        raise CheckpointError(f"{path}: an inference-only checkpoint cannot resume training")
    check_compatible(path, state, config, vocab)
    return state


# ------------------------------------------------------------------------------------------------------- inference

def inference_weights(state: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The weights a checkpoint payload is used with: the weight average where training kept one, else the model's."""
    return state["ema"] if state.get("ema") is not None else state["model"]


def export_half(checkpoint: str | Path, out: str | Path) -> Path:
    """Write an inference-only copy of ``checkpoint``: float16 weights (:func:`inference_weights`), vocabulary and
    config (no optimizer state).

    Warns when the result is larger than 25 MB (too big to commit comfortably).
    """
    state = read_checkpoint(checkpoint)
    weights = {k: v.half() if v.is_floating_point() else v for k, v in inference_weights(state).items()}
    out = write_checkpoint(out, {"format": FORMAT_VERSION, "kind": "inference", "config": state["config"],
                                 "vocab": state["vocab"], "model": weights, "step": state.get("step"),
                                 "best_score": state.get("best_score"), "source": str(checkpoint)})
    size_mb = out.stat().st_size / 2**20
    if size_mb > EXPORT_LIMIT_MB:
        warnings.warn(f"{out}: half-precision checkpoint is {size_mb:.1f} MB (> {EXPORT_LIMIT_MB:.0f} MB)", stacklevel=2)
    return out


def export_size_mb(checkpoint: str | Path, **model_changes: Any) -> float:
    """The size in MB (2**20 bytes) that :func:`export_half` would write for the model of the exported ``checkpoint``
    with ``model_changes`` made to its config (e.g. ``hidden_dim=640``): the file's size with its float16 weights
    swapped for those of the changed model (same vocabulary). Without changes, the file's own size."""
    from ..models.config import build_model

    model, vocab, config = load_for_inference(checkpoint)
    changed = build_model(dataclasses.replace(config.model, **model_changes), len(vocab))

    def weights_mb(net: torch.nn.Module) -> float:
        return sum(t.numel() * (2 if t.is_floating_point() else t.element_size())
                   for t in net.state_dict().values()) / 2**20

    return Path(checkpoint).stat().st_size / 2**20 - weights_mb(model) + weights_mb(changed)


def load_for_inference(path: str | Path, device: str | torch.device = "cpu"
                       ) -> tuple[CaptionModel, Vocabulary, ExperimentConfig]:
    """The model (float32, eval mode, on ``device``; :func:`inference_weights`), its vocabulary and experiment config,
    from a training or an exported checkpoint."""
    from ..models.config import build_model

    state = read_checkpoint(path)
    try:
        config = ExperimentConfig.from_dict(state["config"])
        vocab = Vocabulary.from_dict(state["vocab"])
    except (KeyError, ValueError, TypeError) as err:
        raise CheckpointError(f"{path}: checkpoint config or vocabulary unreadable ({err})") from None
    model = build_model(config.model, len(vocab))
    weights = {k: v.float() if v.is_floating_point() else v for k, v in inference_weights(state).items()}
    try:
        model.load_state_dict(weights)
    except RuntimeError as err:
        first = " ".join(str(err).split())[:300]
        raise CheckpointError(f"{path}: the weights do not fit the model its config and vocabulary "
                              f"({len(vocab)} words) describe: {first}") from None
    return model.to(device).eval(), vocab, config
