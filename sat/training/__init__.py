"""Training caption models: the loop, checkpoints, several processes (DDP) and ``sat train``.

The names below are imported on first use (PEP 562), so that ``sat --help``, which imports ``sat.training.cli``,
does not pay for PyTorch and torchvision.
"""
from __future__ import annotations

import importlib
from typing import Any

_HOMES = {
    "CheckpointError": "checkpoint", "export_half": "checkpoint", "load_for_inference": "checkpoint",
    "load_training_checkpoint": "checkpoint", "read_checkpoint": "checkpoint",
    "TrainingData": "data", "load_training_data": "data",
    "NonFiniteLossError": "trainer", "Trainer": "trainer", "train": "trainer",
}
__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_HOMES[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
