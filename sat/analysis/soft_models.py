"""A trained soft-attention model and reference captions to run it on, for the book's attention chapters.

``load_soft_attention`` returns the project's Flickr8k model when its checkpoint exists (``sat train --config
configs/flickr8k_soft.yaml``, then committed as ``checkpoints/flickr8k/soft.pt``) with test images from the feature
cache, and otherwise the small soft-attention decoder that chapter 7's ablation trained on the synthetic shapes scenes
(``experiments/shapes_ablation.py``: ``checkpoints/shapes/soft_lambda1_seed0.pt`` and its frozen ``encoder.pt``),
with test scenes. Either way the result has one row per (image, reference caption) pair.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..data import Vocabulary, load_dataset, load_image
from ..data.batching import collate_captions
from ..models import ShowAttendTell
from ..paths import repo_root

FLICKR8K_CHECKPOINT = "checkpoints/flickr8k/soft.pt"
SHAPES_DECODER = "checkpoints/shapes/soft_lambda1_seed0.pt"  # λ = 1, the paper's doubly stochastic setting
SHAPES_ENCODER = "checkpoints/shapes/encoder.pt"
SHAPES_SCENES, SHAPES_SEED = 2000, 0  # the scenes the shapes decoder was trained on (its test split is used here)


@dataclass
class SoftAttentionData:
    """A soft-attention model and P (image, reference caption) pairs to run it on.

    ``features`` (P, L, D), ``captions`` (P, T+1) ``<start> … <end> <pad>…``, ``lengths`` (P,); ``pictures[p]`` is
    the image of pair p as an (S, S, 3) uint8 array, as the encoder saw it; ``grid`` (h, w) of the L locations.
    """

    source: str  # "flickr8k" | "shapes"
    model: ShowAttendTell
    vocab: Vocabulary
    features: torch.Tensor
    captions: torch.Tensor
    lengths: torch.Tensor
    pictures: list[np.ndarray]
    grid: tuple[int, int]
    description: str


def _resolve(path: str | Path) -> Path:
    path = Path(path)
    return path if path.is_absolute() else repo_root() / path


def load_flickr8k_soft(checkpoint: str | Path = FLICKR8K_CHECKPOINT, n_images: int = 4, split: str = "test"
                       ) -> SoftAttentionData:
    """The Flickr8k soft-attention checkpoint and the first ``n_images`` images of ``split`` with their five
    captions, annotations read from the feature cache (``$SAT_CACHE``)."""
    from ..features import FeatureStore, cache_path
    from ..training.checkpoint import load_for_inference

    model, vocab, config = load_for_inference(_resolve(checkpoint))
    dataset = load_dataset(config.data.dataset, config.data.data_dir)
    store = FeatureStore.open(cache_path(dataset.name, config.data.encoder, config.data.image_size,
                                         config.data.cache_dir))
    records = dataset.split(split)[:n_images]
    pairs = [(row, vocab.encode(tokens)) for row, record in enumerate(records) for tokens in record.tokens]
    batch = collate_captions(pairs)
    annotations = store.get([record.filename for record in records])  # (n, L, D)
    size = config.data.image_size
    pictures = [np.asarray(load_image(dataset.image_path(record)).resize((size, size))) for record in records]
    return SoftAttentionData(
        source="flickr8k", model=model, vocab=vocab, features=annotations[batch["image_index"]],
        captions=batch["captions"], lengths=batch["lengths"],
        pictures=[pictures[i] for i in batch["image_index"].tolist()], grid=tuple(store.grid),
        description=f"the Flickr8k soft-attention model ({Path(checkpoint).name}, {config.data.encoder} "
                    f"annotations, {len(vocab)}-word vocabulary)")


def load_shapes_soft(decoder: str | Path = SHAPES_DECODER, encoder: str | Path = SHAPES_ENCODER, n_images: int = 4
                     ) -> SoftAttentionData:
    """Chapter 7's shapes decoder (λ = 1) and the first ``n_images`` test scenes with their five captions."""
    from ..data import make_shapes
    from . import shapes_attention as sa

    model, vocab = sa.load_decoder(_resolve(decoder))
    cnn = sa.load_encoder(_resolve(encoder))
    shapes = make_shapes(SHAPES_SCENES, seed=SHAPES_SEED)
    images = sa.split_indices(shapes, "test")[:n_images]
    pairs = [(row, vocab.encode(tokens)) for row, i in enumerate(images) for tokens in shapes.records[i].tokens]
    batch = collate_captions(pairs)
    annotations = sa.annotations(cnn, shapes.images_tensor()[images])  # (n, L, D)
    side = sa.grid_side(shapes.image_size)
    return SoftAttentionData(
        source="shapes", model=model, vocab=vocab, features=annotations[batch["image_index"]],
        captions=batch["captions"], lengths=batch["lengths"],
        pictures=[shapes.images[images[i]] for i in batch["image_index"].tolist()], grid=(side, side),
        description=f"the soft-attention decoder trained on the synthetic shapes scenes in chapter 7 (λ = 1, "
                    f"{side}×{side} grid)")


def load_soft_attention(checkpoint: str | Path | None = FLICKR8K_CHECKPOINT, n_images: int = 4) -> SoftAttentionData:
    """``load_flickr8k_soft(checkpoint)`` when that file exists, else ``load_shapes_soft()`` (``checkpoint=None``
    asks for the shapes model directly)."""
    if checkpoint is not None and _resolve(checkpoint).is_file():
        return load_flickr8k_soft(checkpoint, n_images)
    return load_shapes_soft(n_images=n_images)
