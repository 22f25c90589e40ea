"""Training caption models: the loop, checkpoints, several processes (DDP) and ``sat train``."""
from .checkpoint import CheckpointError, export_half, load_for_inference, load_training_checkpoint, read_checkpoint
from .data import TrainingData, load_training_data
from .trainer import NonFiniteLossError, Trainer, train

__all__ = ["CheckpointError", "NonFiniteLossError", "Trainer", "TrainingData", "export_half", "load_for_inference",
           "load_training_checkpoint", "load_training_data", "read_checkpoint", "train"]
