"""A tiny randomly initialised caption checkpoint and a folder of awkward images, for the caption/CLI tests."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from sat.config import DataConfig, ExperimentConfig
from sat.data.vocab import Vocabulary
from sat.models.config import ModelConfig, build_model
from sat.training.checkpoint import FORMAT_VERSION, write_checkpoint

WORDS = ["a", "dog", "runs", "on", "the", "grass", "man", "red"]


def tiny_checkpoint(path: Path, attention: str = "soft", dataset: str = "flickr8k", seed: int = 0) -> Path:
    """An inference checkpoint (the format ``export_half`` writes) of a tiny Show-Attend-Tell model on the randomly
    initialised ``small-cnn`` encoder at 64 px (an 8×8 grid of 128-d annotations): quick to build and to run."""
    torch.manual_seed(seed)
    vocab = Vocabulary(WORDS)
    model_config = ModelConfig(attention=attention, feature_dim=128, embed_dim=16, hidden_dim=16, attention_dim=16)
    config = ExperimentConfig(name="tiny", data=DataConfig(dataset=dataset, encoder="small-cnn", image_size=64,
                                                           min_count=1), model=model_config)
    counts = torch.full((len(vocab),), 100.0)
    counts[vocab.end_id] = 1.0  # a rare <end>: random weights still say a few words before stopping
    model = build_model(model_config, len(vocab), word_counts=counts)
    weights = {k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()}
    return write_checkpoint(path, {"format": FORMAT_VERSION, "kind": "inference", "config": config.to_dict(),
                                   "vocab": vocab.to_dict(), "model": weights})


def awkward_images(folder: Path) -> dict[str, Path]:
    """Good images of several sizes and modes, plus one corrupt file (key ``"corrupt"``)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    files = {
        "rgba": ("rgba.png", Image.fromarray(rng.integers(0, 256, (50, 80, 4), dtype=np.uint8), "RGBA")),
        "gray": ("gray.jpg", Image.fromarray(rng.integers(0, 256, (120, 90), dtype=np.uint8), "L")),
        "cmyk": ("cmyk.jpg", Image.fromarray(rng.integers(0, 256, (64, 64, 4), dtype=np.uint8), "CMYK")),
        "tiny": ("tiny.png", Image.fromarray(rng.integers(0, 256, (7, 10, 3), dtype=np.uint8), "RGB")),
    }
    paths = {}
    for key, (name, image) in files.items():
        image.save(folder / name)
        paths[key] = folder / name
    corrupt = folder / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0 this is not really a JPEG")
    paths["corrupt"] = corrupt
    return paths
