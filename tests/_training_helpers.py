"""A tiny caption dataset with random features, for the training tests (not a test module)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from sat.config import DataConfig, ExperimentConfig, TrainConfig
from sat.data import CaptionDataset, ImageRecord
from sat.features import DONE, FeatureStore
from sat.models.config import ModelConfig
from sat.training.data import TrainingData, load_training_data

WORDS = ["a", "dog", "cat", "runs", "sits", "on", "the", "grass", "mat", "red", "big", "small"]
L, D = 4, 8


def tiny_dataset(n_train: int = 24, n_val: int = 6, seed: int = 0) -> tuple[CaptionDataset, FeatureStore]:
    """``n_train`` + ``n_val`` images, three captions each (3–6 words), and an in-memory float16 feature store."""
    rng = np.random.default_rng(seed)
    records = []
    for i in range(n_train + n_val):
        tokens = [[str(w) for w in rng.choice(WORDS, size=int(rng.integers(3, 7)))] for _ in range(3)]
        records.append(ImageRecord(f"img{i:03d}.jpg", "train" if i < n_train else "val",
                                   [" ".join(t) for t in tokens], tokens))
    dataset = CaptionDataset("tiny", Path("/nonexistent"), records)
    filenames = [r.filename for r in records]
    array = rng.standard_normal((len(records), L, D)).astype(np.float16)  # (N, L, D)
    store = FeatureStore(Path("/nonexistent"), filenames, array, np.full(len(records), DONE, dtype=np.uint8),
                         {"grid": [2, 2]})
    return dataset, store


def tiny_data(**dataset_options) -> TrainingData:
    dataset, store = tiny_dataset(**dataset_options)
    return load_training_data(DataConfig(dataset="tiny", min_count=1), dataset=dataset, store=store, in_memory=True)


def tiny_config(out_dir: Path, name: str = "tiny", **train_options) -> ExperimentConfig:
    """A small soft-attention model over the tiny features; ``train_options`` override :class:`TrainConfig`."""
    train = dict(batch_size=8, epochs=2, lr=3e-3, eval_every=0, patience=0, val_images=0, val_beam=2, val_max_len=8,
                 seed=0, num_threads=1, device="cpu", log_every=1, checkpoint_every=3, progress=False)
    train.update(train_options)
    model = ModelConfig(feature_dim=D, embed_dim=16, hidden_dim=16, attention_dim=16, dropout=0.5)
    return ExperimentConfig(name=name, out_dir=str(out_dir), data=DataConfig(dataset="tiny", min_count=1),
                            model=model, train=TrainConfig(**train))


class Killed(Exception):
    """Stands for SIGKILL: the process dies between two steps without saving anything."""


def run_until_killed(config: ExperimentConfig, data: TrainingData, monkeypatch, after_step: int = 7) -> None:
    """Train ``config`` and kill it once ``after_step`` steps are done (``last.pt`` holds whatever was saved by then)."""
    import pytest

    from sat.training import train
    from sat.training.trainer import Trainer

    original = Trainer.train_step

    def dies(self: Trainer, indices: list[int]) -> dict:
        if self.step == after_step:
            raise Killed
        return original(self, indices)

    monkeypatch.setattr(Trainer, "train_step", dies)
    with pytest.raises(Killed):
        train(config, data=data)
    monkeypatch.undo()


def step_losses(run: Path) -> dict[int, float]:
    """The training loss of every logged step of the run folder ``run``."""
    from sat.training.log import MetricsLog

    return {row["step"]: row["loss"] for row in MetricsLog(run / "train_log.jsonl").read() if row["type"] == "train"}
