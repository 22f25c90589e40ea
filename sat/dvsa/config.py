"""Settings of the alignment model and its training, read from ``configs/dvsa_*.yaml``."""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path

import yaml

from ..config import DEVICES


@dataclass
class AlignmentConfig:
    """Everything :func:`sat.dvsa.train.train_alignment` needs; the YAML file names a subset, the rest default."""

    # data and features
    dataset: str = "flickr8k"  # a name of sat.data.DATASETS: flickr8k (official split files), flickr30k, coco, …
    data_dir: str | None = None  # default: $SAT_DATA or the user cache (sat.paths.data_dir)
    cache_dir: str | None = None  # feature cache: $SAT_CACHE or the user cache (sat.paths.cache_dir)
    encoder: str = "efficientnet-lite0"
    image_size: int = 224
    min_count: int = 5  # vocabulary: words seen at least this often in training captions (paper: 5)
    hflip: bool = False  # training reads the mirrored image's features for a random half of the pairs (deviation)
    average_views: bool = False  # evaluation: each image is the mean of its own and its mirror's features (deviation)
    # model (§3.1)
    region_grid: int | None = None  # None: every encoder cell (7×7) + whole image; n: cells pooled to n×n; 0: whole only
    whole_pool: str = "mean"  # the whole-image vector: "mean" of the cells (paper's CNN), "gem" (p = 3) or "max"
    image_mlp: int = 0  # > 0: a residual two-layer perceptron of this many hidden units beside W_m (deviation)
    word_dim: int = 300  # x_t
    hidden_dim: int = 512  # h, shared by regions and words
    word_vectors: str | None = None  # optional word2vec/GloVe text file for W_w; None = learned from scratch
    dropout: float = 0.0  # on CNN vectors, x_t and h^f + h^b (never inside the recurrence)
    recurrent_init: float = 0.5  # W_f, W_b start as this times the identity
    score: str = "eq8"  # "eq8" (max over regions) or "eq7" (DeFrag: sum of positive dot products)
    length_norm: bool = True  # divide S_kl by the sentence length (deviation; False = the paper's sum)
    normalize: str = "both"  # L2-normalise "both" v_i and s_t, only the "regions", or "none" (paper; deviation)
    hardest_negative: bool = False  # Eq. 9 sums over every negative; True keeps the hardest one (VSE++; deviation)
    hardest_negative_from: int = 0  # from this (1-based) epoch on keep the hardest negative (VSE++ after a warm-up
    #                                 on Eq. 9's sum, which learns first what hardest negatives alone cannot); 0 = never
    margin: float = 0.2  # Δ of Eq. 9 (paper: 1 with unnormalised scores)
    # optimisation
    optimizer: str = "adam"  # "adam" or "sgd" (paper: SGD with momentum 0.9)
    lr: float = 2e-4
    momentum: float = 0.9  # SGD only
    weight_decay: float = 0.0
    lr_decay: float = 1.0  # multiply lr by this after every epoch
    ema_decay: float = 0.0  # > 0: dev recall and the checkpoint use a moving average of the weights (deviation)
    batch_size: int = 100  # image–sentence pairs (paper: 100)
    epochs: int = 10
    captions_per_epoch: int = 5  # an epoch visits every training image with this many of its captions (5 = all pairs)
    grad_clip: float = 5.0  # elementwise gradient clipping (paper: 5)
    seed: int = 0
    device: str = "auto"  # "auto" (CUDA if available) | "cpu" | "cuda"
    threads: int = 1
    max_minutes: float = 30.0  # CPU-time budget: no epoch starts that would end past it (process time, 1 thread)
    eval_images: int = 1000  # dev images used for the per-epoch recall (the first N; 1000 = the whole split)
    # outputs
    checkpoint: str = "checkpoints/flickr8k/dvsa.pt"
    log: str = "results/flickr8k/dvsa/train_log.jsonl"
    results_dir: str = "results/flickr8k/dvsa"

    @classmethod
    def from_dict(cls, values: dict) -> "AlignmentConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown alignment config key(s): {', '.join(unknown)}")
        config = cls(**values)
        if config.device not in DEVICES:
            raise ValueError(f"alignment config: device must be 'auto', 'cpu' or 'cuda', not {config.device!r}")
        return config

    @classmethod
    def from_yaml(cls, path: str | Path) -> "AlignmentConfig":
        values = yaml.safe_load(Path(path).read_text()) or {}
        if not isinstance(values, dict):
            raise ValueError(f"{path}: expected a mapping of config keys")
        return cls.from_dict(values)

    def to_dict(self) -> dict:
        return asdict(self)
