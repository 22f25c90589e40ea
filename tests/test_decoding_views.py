"""Decoding an image together with its mirror image (sat.decoding.views): the mean of the views' word distributions,
through every decoder, ``sat evaluate --mirror`` and ``sat caption --mirror``."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from _caption_helpers import awkward_images, tiny_checkpoint
from _data_helpers import make_flickr8k
from _model_helpers import all_model_configs, decoding_model
from sat.caption import caption_images
from sat.cli import main
from sat.decoding import ViewMean, beam_search, greedy, with_mirror
from sat.features import FeatureStore, cache_path
from sat.training.checkpoint import load_for_inference

torch.set_num_threads(1)
START = 1
CONFIGS = {name: config for name, config in all_model_configs().items() if name in ("sat-soft", "nic", "mrnn")}


def model_and_views(name: str, images: int = 4):
    model = decoding_model(name)  # seeds torch, then the features are drawn
    return model, torch.randn(images, 5, 6), torch.randn(images, 5, 6)  # features of the images and their mirrors


@pytest.mark.parametrize("name", CONFIGS)
def test_two_identical_views_decode_as_the_image_alone(name):
    model, features, _ = model_and_views(name)
    alone = beam_search(model, features, beam_size=3, max_len=8, length_normalization=1.0)
    views = beam_search(*with_mirror(model, features, features.clone()), beam_size=3, max_len=8,
                        length_normalization=1.0)
    for one, two in zip(alone, views):
        assert one.tokens == two.tokens and one.finished == two.finished
        assert two.log_prob == pytest.approx(one.log_prob, abs=1e-5)


def test_a_step_is_the_log_of_the_mean_probability_with_the_first_views_attention():
    model, features, mirrored = model_and_views("sat-soft")
    decoder, both = with_mirror(model, features, mirrored)
    assert both.shape == (4, 2, 5, 6)
    tokens = torch.full((4,), START)
    with torch.no_grad():
        log_probs, state, alpha = decoder.step(tokens, decoder.init_state(both))
        own, _, own_alpha = model.step(tokens, model.init_state(features))
        other, _, _ = model.step(tokens, model.init_state(mirrored))
    expected = torch.log((own.exp() + other.exp()) / 2)  # (B, V)
    assert torch.allclose(log_probs, expected, atol=1e-6)
    assert torch.allclose(log_probs.exp().sum(-1), torch.ones(4), atol=1e-5)
    assert not torch.allclose(own, other)  # the views do disagree, so the mean is not either one
    assert torch.equal(alpha, own_alpha) and len(state) == 2


def test_beam_search_over_views_scores_captions_by_the_mixture():
    """The log p a hypothesis carries is Σ_t log mean_v p_v(y_t | y_<t), computed here word by word."""
    model, features, mirrored = model_and_views("sat-soft")
    decoder, both = with_mirror(model, features, mirrored)
    for image, hypothesis in enumerate(beam_search(decoder, both, beam_size=3, max_len=8)):
        total, state = 0.0, decoder.init_state(both[image:image + 1])
        with torch.no_grad():
            for previous, word in zip([START, *hypothesis.tokens], hypothesis.tokens + [2] * hypothesis.finished):
                log_probs, state, _ = decoder.step(torch.tensor([previous]), state)
                total += log_probs[0, word].item()
        assert total == pytest.approx(hypothesis.log_prob, abs=1e-4)
    assert [h.tokens for h in greedy(decoder, both, max_len=8)] == [h.tokens for h in
                                                                    beam_search(decoder, both, 1, max_len=8)]


def test_views_need_matching_shapes():
    model, features, mirrored = model_and_views("nic")
    with pytest.raises(ValueError, match="differ in shape"):
        with_mirror(model, features, mirrored[:2])
    with pytest.raises(ValueError, match=r"\(B, V, L, D\)"):
        beam_search(ViewMean(model), features)


def test_evaluate_with_mirror_decodes_each_image_with_its_mirror_features(tmp_path, capsys):
    data, cache = tmp_path / "data", tmp_path / "cache"
    make_flickr8k(data / "flickr8k", splits={"train": ["1_a.jpg"], "dev": ["2_b.jpg"], "test": ["3_c.jpg", "4_d.jpg"]})
    for seed, name in enumerate(["3_c.jpg", "4_d.jpg"]):  # left and right differ, so the mirror is another view
        noise = np.random.default_rng(seed).integers(0, 256, (48, 64, 3), dtype=np.uint8)
        Image.fromarray(noise, "RGB").save(data / "flickr8k" / "Flicker8k_Dataset" / name)
    checkpoint = tiny_checkpoint(tmp_path / "tiny.pt")
    common = ["evaluate", "--checkpoint", str(checkpoint), "--split", "test", "--beam", "2", "--max-len", "5",
              "--data-dir", str(data), "--cache-dir", str(cache), "--fast"]
    assert main([*common, "--out", str(tmp_path / "mirror"), "--mirror"]) == 0
    assert "each with its mirror image" in capsys.readouterr().out
    metrics = json.loads((tmp_path / "mirror" / "metrics.json").read_text())
    assert metrics["mirror"] is True and metrics["num_images"] == 2

    model, vocab, _ = load_for_inference(checkpoint)
    names = ["3_c.jpg", "4_d.jpg"]
    stores = [FeatureStore.open(cache_path("flickr8k", "small-cnn", 64, cache, hflip)) for hflip in (False, True)]
    features, mirrored = (store.get(names) for store in stores)  # (2, L, D) each
    assert not torch.allclose(features, mirrored)
    expected = [" ".join(vocab.decode(h.tokens))
                for h in beam_search(*with_mirror(model, features, mirrored), beam_size=2, max_len=5)]
    captions = json.loads((tmp_path / "mirror" / "captions.json").read_text())
    assert [row["caption"] for row in captions] == expected


def test_caption_with_mirror_encodes_the_flipped_image(tmp_path):
    checkpoint = tiny_checkpoint(tmp_path / "tiny.pt")
    images = awkward_images(tmp_path / "images")
    paths = [images["rgba"], images["corrupt"], images["gray"]]
    results = caption_images(paths, checkpoint=checkpoint, beam_size=2, max_len=5, mirror=True)
    assert results[1].caption is None and str(images["corrupt"]) in results[1].error

    from sat.data.images import image_transform, load_image
    from sat.encoders import build_encoder

    model, vocab, config = load_for_inference(checkpoint)
    encoder = build_encoder(config.data.encoder, image_size=64).eval()
    good = [load_image(paths[0]), load_image(paths[2])]
    with torch.no_grad():
        features, mirrored = (encoder(torch.stack([image_transform(64, flip)(image) for image in good]))
                              for flip in (False, True))
        expected = beam_search(*with_mirror(model, features, mirrored), beam_size=2, max_len=5)
    assert [results[0].caption, results[2].caption] == [" ".join(vocab.decode(h.tokens)) for h in expected]

