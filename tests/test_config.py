"""Experiment configs: YAML files, typed overrides, clear errors, the shipped configs."""
from __future__ import annotations

from pathlib import Path

import pytest

from sat.config import ExperimentConfig, load_config

REPO = Path(__file__).resolve().parent.parent


def test_yaml_and_typed_overrides(tmp_path: Path) -> None:
    path = tmp_path / "exp.yaml"
    path.write_text("data: {min_count: 3}\nmodel: {attention: hard, dropout: 0.3}\n"
                    "train: {optimizer: rmsprop, lr: 1.0e-3, epochs: 4}\n")
    config = load_config(path, ["train.lr=4e-4", "train.amp=false", "train.batch_size=32", "data.max_caption_len=null",
                                "model.hidden_dim=256", "name=other", "out_dir=elsewhere", "train.patience=1e1"])
    assert config.name == "other" and config.run_dir == Path("elsewhere/other")
    assert config.data.min_count == 3 and config.data.max_caption_len is None
    assert config.model.attention == "hard" and config.model.dropout == 0.3 and config.model.hidden_dim == 256
    assert config.train.optimizer == "rmsprop" and config.train.epochs == 4
    assert config.train.lr == 4e-4 and isinstance(config.train.lr, float)  # YAML would read "4e-4" as a string
    assert config.train.amp is False and config.train.batch_size == 32 and config.train.patience == 10
    assert load_config(path).name == "exp"  # named after the file when the file names nothing
    assert ExperimentConfig.from_dict(config.to_dict()) == config


@pytest.mark.parametrize("override, message", [
    ("train.lrr=1", "unknown train key 'lrr'"),
    ("optim.lr=1", "unknown section 'optim'"),
    ("lr=1", "top-level keys are name and out_dir"),
    ("train.lr", "not KEY=VALUE"),
    ("train.batch_size=abc", "train.batch_size"),
    ("train.amp=maybe", "train.amp"),
    ("train.optimizer=sgd", "optimizer"),
    ("model.attention=fuzzy", "attention"),
    ("train.batch_size=0", "batch_size"),
])
def test_bad_overrides_fail_clearly(override: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        load_config(None, [override])


def test_bad_files_fail_clearly(tmp_path: Path) -> None:
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text("train: {learning_rate: 0.1}\n")
    with pytest.raises(ValueError, match=r"unknown\.yaml.*learning_rate"):
        load_config(unknown)
    broken = tmp_path / "broken.yaml"
    broken.write_text("train: {lr: [\n")
    with pytest.raises(ValueError, match=r"broken\.yaml: not valid YAML"):
        load_config(broken)
    with pytest.raises(FileNotFoundError, match="missing.yaml"):
        load_config(tmp_path / "missing.yaml")


@pytest.mark.parametrize("name", ["flickr8k_soft", "flickr8k_hard", "flickr8k_nic", "flickr8k_mrnn", "shapes_soft"])
def test_shipped_configs_load(name: str) -> None:
    config = load_config(REPO / "configs" / f"{name}.yaml")
    assert config.name == name
    assert config.train.batch_size == 64 and config.train.grad_clip == 5.0
    assert config.train.val_beam == 3 and config.train.patience > 0
