"""sat.analysis.soft_models: the trained soft-attention model of the attention chapters and its captions."""
from __future__ import annotations

import os

import pytest
import torch

from sat.analysis import soft_models
from sat.paths import repo_root


def _check(data) -> None:
    pairs, locations, dim = data.features.shape
    assert data.captions.shape[0] == pairs == len(data.lengths) == len(data.pictures)
    assert data.grid[0] * data.grid[1] == locations and dim == data.model.config.feature_dim
    assert (data.captions[:, 0] == data.vocab.start_id).all()
    assert not data.model.training and data.model.config.attention == "soft"
    assert data.pictures[0].ndim == 3 and data.pictures[0].shape[2] == 3


@pytest.mark.slow
@pytest.mark.skipif(not (repo_root() / soft_models.SHAPES_DECODER).is_file(), reason="shapes checkpoints not built")
def test_shapes_model_and_fallback():
    data = soft_models.load_soft_attention(checkpoint="checkpoints/does-not-exist.pt", n_images=2)
    assert data.source == "shapes" and data.features.shape[:2] == (10, 64)
    _check(data)


@pytest.mark.slow
@pytest.mark.flickr8k
def test_flickr8k_checkpoint(tmp_path, flickr8k_root):
    from sat.config import ExperimentConfig
    from sat.data import Vocabulary, load_dataset
    from sat.features import cache_path
    from sat.models import build_model
    from sat.training.checkpoint import plain_vocab, write_checkpoint

    config = ExperimentConfig()
    config.data.data_dir = str(flickr8k_root.parent)
    if not (cache_path("flickr8k", config.data.encoder, config.data.image_size) / "meta.json").is_file():
        pytest.skip("no Flickr8k feature cache (SAT_CACHE)")
    train = load_dataset("flickr8k", config.data.data_dir).split("train")
    vocab = Vocabulary.build([tokens for record in train for tokens in record.tokens], min_count=5)
    torch.manual_seed(0)
    model = build_model(config.model, len(vocab))
    path = write_checkpoint(tmp_path / "soft.pt", {"format": 1, "kind": "inference", "config": config.to_dict(),
                                                    "vocab": plain_vocab(vocab), "model": model.state_dict()})
    data = soft_models.load_soft_attention(checkpoint=path, n_images=1)
    assert data.source == "flickr8k" and data.features.shape == (5, 49, 1280) and data.grid == (7, 7)
    _check(data)
    assert os.path.basename(str(path)) in data.description
