"""One experiment = data + model + training settings, read from ``configs/NAME.yaml`` and overridden on the command line.

A config file has up to five top-level keys; every section names only what differs from the defaults below::

    name: flickr8k_soft          # the run folder is OUT_DIR/NAME
    out_dir: runs
    data:  {dataset: flickr8k, encoder: efficientnet-lite0, image_size: 224, min_count: 5}
    model: {kind: sat, attention: soft, dropout: 0.5}          # sat.models.config.ModelConfig
    train: {optimizer: rmsprop, lr: 1.0e-3, batch_size: 64}

Overrides are ``SECTION.FIELD=VALUE`` (``train.lr=4e-4``, ``model.attention=hard``) or ``FIELD=VALUE`` for ``name`` and
``out_dir``; the value is parsed by the field's type, so ``train.lr=1e-3`` is a float and ``train.amp=false`` a bool.
An unknown key, in a file or an override, is an error naming it.
"""
from __future__ import annotations

import types
import typing
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from .models.config import ModelConfig

OPTIMIZERS = ("rmsprop", "adam")
DEVICES = ("auto", "cpu", "cuda")


@dataclass
class DataConfig:
    """Which captions and which cached annotation vectors to train on."""

    dataset: str = "flickr8k"  # a name of sat.data.DATASETS
    data_dir: str | None = None  # None: $SAT_DATA, else the user cache (sat.paths.data_dir)
    cache_dir: str | None = None  # feature cache root; None: $SAT_CACHE, else the user cache
    encoder: str = "efficientnet-lite0"  # sat.encoders; "efficientnet-lite0-os16" (output stride 16): 14×14 at 224
    image_size: int = 224  # 224 → 7×7 grid, 448 → 14×14 with EfficientNet-Lite0
    min_count: int = 5  # vocabulary: training words seen at least this often (paper: 5)
    max_caption_len: int | None = None  # training captions longer than this many words are left out (None: keep all)
    hflip: bool = False  # training pairs read their mirrored image's features with probability 1/2 (sat features --hflip)

    def __post_init__(self) -> None:
        if self.min_count < 1 or self.image_size < 1:
            raise ValueError("DataConfig.min_count and image_size must be positive")
        if self.max_caption_len is not None and self.max_caption_len < 1:
            raise ValueError(f"DataConfig.max_caption_len must be positive or null, got {self.max_caption_len}")


@dataclass
class TrainConfig:
    """Optimisation, validation (real decoding) and bookkeeping."""

    optimizer: str = "adam"  # "rmsprop" (paper, Flickr8k) | "adam" (paper, Flickr30k/COCO)
    lr: float = 4e-4
    lr_decay: float = 1.0  # the learning rate is multiplied by this after every epoch ...
    lr_decay_start: int = 1  # ... from this (0-based) epoch on: epoch e >= start trains at lr·decay^(e−start+1)
    weight_decay: float = 0.0
    momentum: float = 0.0  # RMSProp only
    rmsprop_alpha: float = 0.99  # RMSProp's decay of the squared-gradient average
    grad_clip: float = 5.0  # clip the global gradient norm to this (arctic clip_c); 0 = off
    ema_decay: float = 0.0  # validate and export an exponential moving average of the weights (averaging.py); 0 = off
    batch_size: int = 64  # captions per minibatch, all of one length (§5)
    epochs: int = 20
    max_steps: int = 0  # stop after this many optimizer steps in all; 0 = no limit
    max_minutes: float = 0.0  # stop (with a final validation) after this much training time; 0 = no limit
    log_frequency_bias: bool = False  # start the softmax bias at log word frequency (Karpathy & Fei-Fei §3.2)
    # validation: BLEU-4 of real decoding on a subset of the val split, for early stopping and best.pt
    eval_every: int = 0  # steps between validations; 0 = after every epoch
    patience: int = 5  # stop after this many validations without a better BLEU-4; 0 = never stop early
    val_images: int = 500  # first N val images (0 = the whole split)
    val_beam: int = 3  # beam size; 1 = greedy
    val_max_len: int = 20  # longest decoded caption, in words (as `sat evaluate`)
    val_batch_size: int = 100  # images decoded at once
    # bookkeeping
    seed: int = 0
    num_threads: int = 0  # torch.set_num_threads; 0 = leave torch's default
    device: str = "auto"  # "auto" (CUDA if available) | "cpu" | "cuda"
    amp: bool = True  # mixed precision (autocast float16 + GradScaler), on CUDA only
    cpu_bf16: bool = False  # on the CPU, autocast to bfloat16 (≈1.5× faster per thread with AVX512-BF16/AMX)
    log_every: int = 50  # steps between rows of train_log.jsonl
    checkpoint_every: int = 200  # steps between saves of last.pt (also saved at every validation and at the end)
    progress: bool = True  # tqdm progress bar

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"TrainConfig.optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if self.device not in DEVICES:
            raise ValueError(f"TrainConfig.device must be one of {DEVICES}, got {self.device!r}")
        for name in ("batch_size", "val_beam", "val_max_len", "val_batch_size", "log_every", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"TrainConfig.{name} must be at least 1, got {getattr(self, name)}")
        if self.ema_decay >= 1:
            raise ValueError(f"TrainConfig.ema_decay must be below 1 (0 = off), got {self.ema_decay}")
        for name in ("lr", "epochs", "max_steps", "eval_every", "patience", "val_images", "num_threads", "grad_clip",
                     "max_minutes", "weight_decay", "momentum", "ema_decay"):
            if getattr(self, name) < 0:
                raise ValueError(f"TrainConfig.{name} must not be negative, got {getattr(self, name)}")


@dataclass
class ExperimentConfig:
    """Everything one training run needs; stored inside every checkpoint (``to_dict``) and as ``RUN/config.yaml``."""

    name: str = "experiment"
    out_dir: str = "runs"
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    @property
    def run_dir(self) -> Path:
        return Path(self.out_dir) / self.name

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "out_dir": self.out_dir, "data": asdict(self.data),
                "model": self.model.to_dict(), "train": asdict(self.train)}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "ExperimentConfig":
        """The inverse of ``to_dict``; missing keys take their defaults, unknown keys are errors."""
        if not isinstance(values, dict):
            raise ValueError(f"an experiment config must be a mapping, got {type(values).__name__}")
        unknown = sorted(set(values) - {"name", "out_dir", *SECTIONS})
        if unknown:
            raise ValueError(f"unknown config key(s) {unknown}; known: name, out_dir, {', '.join(SECTIONS)}")
        sections = {}
        for key, section_cls in SECTIONS.items():
            section = values.get(key) or {}
            if not isinstance(section, dict):
                raise ValueError(f"config section {key!r} must be a mapping, got {section!r}")
            sections[key] = _section_from_dict(section_cls, section, key)
        return cls(name=str(values.get("name", cls.name)), out_dir=str(values.get("out_dir", cls.out_dir)),
                   **sections)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)


SECTIONS: dict[str, type] = {"data": DataConfig, "model": ModelConfig, "train": TrainConfig}


def _section_from_dict(section_cls: type, values: dict[str, Any], section: str) -> Any:
    known = {f.name for f in fields(section_cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"unknown {section} config key(s) {unknown}; known: {', '.join(sorted(known))}")
    hints = typing.get_type_hints(section_cls)
    return section_cls(**{key: _coerce(value, hints[key], f"{section}.{key}") for key, value in values.items()})


def _coerce(value: Any, annotation: Any, key: str) -> Any:
    """``value`` (from YAML or an override string) as the field type ``annotation``: int, float, bool, str or X | None."""
    optional = typing.get_origin(annotation) in (typing.Union, types.UnionType) and type(None) in typing.get_args(annotation)
    if optional:
        if value is None or (isinstance(value, str) and value.strip().lower() in ("none", "null", "~", "")):
            return None
        annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
    try:
        if annotation is bool:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("true", "yes", "on", "1"):
                return True
            if text in ("false", "no", "off", "0"):
                return False
            raise ValueError("expected true or false")
        if annotation is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError("expected an integer")
            return int(float(value)) if isinstance(value, str) and "e" in value.lower() else int(value)
        if annotation is float:
            if isinstance(value, bool):
                raise ValueError("expected a number")
            return float(value)
        if annotation is str:
            if isinstance(value, (dict, list)):
                raise ValueError("expected a string")
            return str(value)
    except (TypeError, ValueError) as err:
        raise ValueError(f"config key {key}: cannot use {value!r} ({err})") from None
    return value


def apply_overrides(values: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Set ``SECTION.FIELD=VALUE`` / ``FIELD=VALUE`` entries in a raw config mapping (a copy); types are checked later."""
    values = {k: dict(v) if isinstance(v, dict) else v for k, v in values.items()}
    for item in overrides:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"override {item!r} is not KEY=VALUE (e.g. train.lr=1e-3)")
        section, dot, name = key.partition(".")
        if not dot:
            if key not in ("name", "out_dir"):
                raise ValueError(f"override {item!r}: top-level keys are name and out_dir; others need a section "
                                 f"({', '.join(f'{s}.{key}' for s in SECTIONS)})")
            values[key] = value
            continue
        if section not in SECTIONS:
            raise ValueError(f"override {item!r}: unknown section {section!r}; expected one of {', '.join(SECTIONS)}")
        hints = typing.get_type_hints(SECTIONS[section])
        if name not in hints:
            raise ValueError(f"override {item!r}: unknown {section} key {name!r}; known: {', '.join(sorted(hints))}")
        target = values.get(section)
        values[section] = dict(target) if isinstance(target, dict) else {}
        values[section][name] = _coerce(value, hints[name], key)
    return values


def load_config(path: str | Path | None, overrides: list[str] | None = None) -> ExperimentConfig:
    """The experiment in YAML file ``path`` (None: all defaults) with ``overrides`` applied.

    Without ``name`` in the file, the run is named after the file (``configs/flickr8k_soft.yaml`` → ``flickr8k_soft``).
    """
    values: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: config file not found")
        try:
            values = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as err:
            raise ValueError(f"{path}: not valid YAML ({' '.join(str(err).split())})") from None
        if not isinstance(values, dict):
            raise ValueError(f"{path}: expected a mapping with keys name, out_dir, data, model, train")
        values.setdefault("name", path.stem)
    try:
        return ExperimentConfig.from_dict(apply_overrides(values, list(overrides or [])))
    except ValueError as err:
        raise ValueError(f"{path}: {err}" if path is not None else str(err)) from None
