"""Training caption models: the loop, checkpoints, several processes (DDP) and ``sat train``.

The names below are imported on first use (PEP 562), so that ``sat --help``, which imports ``sat.training.cli``,
does not pay for PyTorch and torchvision.
"""
from __future__ import annotations

from .._lazy import lazy_exports

_HOMES = {
    "CheckpointError": "checkpoint", "export_half": "checkpoint", "export_size_mb": "checkpoint",
    "load_for_inference": "checkpoint",
    "load_training_checkpoint": "checkpoint", "read_checkpoint": "checkpoint",
    "TrainingData": "data", "load_training_data": "data",
    "NonFiniteLossError": "trainer", "Trainer": "trainer", "train": "trainer",
}
__all__ = sorted(_HOMES)
__getattr__, __dir__ = lazy_exports(__name__, _HOMES)
