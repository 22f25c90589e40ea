"""The alignment model's training loop, checkpoint and command line on a tiny synthetic dataset."""
import argparse
import json
from pathlib import Path

import numpy as np
import torch

from sat.data.records import CaptionDataset, ImageRecord
from sat.dvsa import AlignmentConfig, load_checkpoint, register_cli, train_alignment
from sat.dvsa.data import make_pairs
from sat.dvsa.evaluate import evaluate_retrieval
from sat.dvsa.train import epoch_order
from sat.features import FeatureStore
from sat.paths import repo_root

WORDS = ["red", "green", "blue", "dog", "cat", "ball"]


def tiny_dataset(n_train: int = 24, n_val: int = 8):
    """Image i has a feature spike at channel i % 6 and captions naming WORDS[i % 6]."""
    rng = np.random.default_rng(0)
    records, feats = [], []
    for i in range(n_train + n_val):
        word = WORDS[i % 6]
        caps = [f"a {word} thing", f"the {word}", f"{word} here", f"one {word}", f"a {word}"]
        records.append(ImageRecord(f"{i}.jpg", "train" if i < n_train else "val", caps, [c.split() for c in caps]))
        f = rng.random((4, 8)).astype(np.float16) * 0.1
        f[i % 4, i % 6] = 3.0
        feats.append(f)
    store = FeatureStore(Path("."), [r.filename for r in records], np.stack(feats), np.ones(len(records), np.uint8),
                         {"grid": [2, 2]})
    return CaptionDataset("tiny", Path("."), records), store


def test_epoch_order_one_caption_per_image():
    dataset, store = tiny_dataset()
    from sat.data.vocab import Vocabulary
    vocab = Vocabulary.build([t for r in dataset.images for t in r.tokens], min_count=1)
    pairs = make_pairs(dataset.split("train"), store, vocab)
    import random
    order = epoch_order(pairs, 1, random.Random(0))
    assert sorted(pairs.sentence_image[order].tolist()) == list(range(24))


def test_train_checkpoint_and_evaluate(tmp_path):
    dataset, store = tiny_dataset()
    config = AlignmentConfig(word_dim=8, hidden_dim=16, min_count=1, epochs=3, batch_size=8, lr=0.01,
                             checkpoint="ckpt/dvsa.pt", log="log/train_log.jsonl")
    model, history = train_alignment(config, dataset, store, log=None, repo_root=tmp_path)
    assert [r["epoch"] for r in history] == [1, 2, 3]
    lines = (tmp_path / "log/train_log.jsonl").read_text().splitlines()
    assert len(lines) == 3 and "dev_i2t_R@1" in json.loads(lines[0])
    loaded, vocab, cfg, ckpt = load_checkpoint(tmp_path / "ckpt/dvsa.pt")
    assert cfg == config and ckpt["state_dict"]["regions.proj.weight"].dtype == torch.float16
    pairs = make_pairs(dataset.split("val"), store, vocab)
    metrics = evaluate_retrieval(loaded, pairs)
    assert set(metrics) >= {"i2t_R@1", "t2i_medr"}


def test_config_file_and_cli():
    config = AlignmentConfig.from_yaml(repo_root() / "configs/dvsa_flickr8k.yaml")
    assert config.score in ("eq8", "eq7") and config.threads == 1 and config.max_minutes <= 90
    parser = argparse.ArgumentParser()
    register_cli(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["evaluate-retrieval", "--checkpoint", "x.pt", "--out", "o"])
    assert args.split == "test" and callable(args.func)
    args = parser.parse_args(["train-alignment", "--config", "c.yaml", "--epochs", "2"])
    assert args.epochs == 2 and callable(args.func) and args.device is None  # the config's device (default auto)
    assert config.device == "auto" and parser.parse_args(["evaluate-retrieval", "--checkpoint", "x.pt"]).device == "auto"
    import pytest

    with pytest.raises(ValueError, match="device must be 'auto', 'cpu' or 'cuda', not 'gpu'"):
        AlignmentConfig.from_dict({"device": "gpu"})


def test_region_grid_survives_the_checkpoint(tmp_path):
    dataset, store = tiny_dataset()
    config = AlignmentConfig(word_dim=8, hidden_dim=16, min_count=1, epochs=1, batch_size=8, lr=0.01, region_grid=0,
                             checkpoint="ckpt/dvsa.pt", log="log/train_log.jsonl")
    train_alignment(config, dataset, store, log=None, repo_root=tmp_path)
    loaded, vocab, cfg, _ = load_checkpoint(tmp_path / "ckpt/dvsa.pt")
    assert cfg.region_grid == 0 and loaded.regions.grid == 0
    features = make_pairs(dataset.split("val"), store, vocab).features[:3].float()  # (3, 4, 8): 2×2 cells
    assert loaded.embed_images(features).shape == (3, 1, 16)  # the whole image alone
    loaded.regions.grid = 2  # the same W_m scores the cells too
    assert loaded.embed_images(features).shape == (3, 5, 16)


def test_hardest_negatives_after_a_warm_up(tmp_path, monkeypatch):
    import sat.dvsa.train as dvsa_train

    dataset, store = tiny_dataset()
    seen = []
    original = dvsa_train.ranking_loss

    def recording(*args, **kwargs):
        seen.append(kwargs["hardest"])
        return original(*args, **kwargs)

    monkeypatch.setattr(dvsa_train, "ranking_loss", recording)
    config = AlignmentConfig(word_dim=8, hidden_dim=16, min_count=1, epochs=3, batch_size=8, lr=0.01,
                             hardest_negative_from=2, checkpoint="ckpt/dvsa.pt", log="log/train_log.jsonl")
    _, history = train_alignment(config, dataset, store, log=None, repo_root=tmp_path)
    assert [row["hardest_negative"] for row in history] == [False, True, True]
    per_epoch = len(seen) // 3
    assert seen == [False] * per_epoch + [True] * 2 * per_epoch  # Eq. 9's sum first, then VSE++'s hardest negative
    assert not dvsa_train.uses_hardest_negative(AlignmentConfig(), 50)
    assert dvsa_train.uses_hardest_negative(AlignmentConfig(hardest_negative=True), 1)


def test_a_diverging_run_stops_at_the_first_nan_loss_and_keeps_its_best_checkpoint(tmp_path, monkeypatch):
    import pytest

    import sat.dvsa.train as dvsa_train
    from sat.training.trainer import NonFiniteLossError

    dataset, store = tiny_dataset()
    calls, original = [], dvsa_train.ranking_loss

    def diverges_in_epoch_2(*args, **kwargs):
        calls.append(1)
        loss = original(*args, **kwargs)
        return loss * float("nan") if len(calls) == 20 else loss  # 15 batches per epoch: the 5th of epoch 2

    monkeypatch.setattr(dvsa_train, "ranking_loss", diverges_in_epoch_2)
    config = AlignmentConfig(word_dim=8, hidden_dim=16, min_count=1, epochs=3, batch_size=8, lr=0.01,
                             checkpoint="ckpt/dvsa.pt", log="log/train_log.jsonl")
    with pytest.raises(NonFiniteLossError, match=r"dvsa epoch 2: non-finite loss \(nan\) in batch 5; training "
                                                 r"stopped and .*dvsa.pt \(epoch 1, dev R-sum .*\) is intact"):
        train_alignment(config, dataset, store, log=None, repo_root=tmp_path)
    assert len(calls) == 20  # no step was taken with the NaN loss, and no later batch ran
    assert len((tmp_path / "log/train_log.jsonl").read_text().splitlines()) == 1
    loaded, _, _, ckpt = load_checkpoint(tmp_path / "ckpt/dvsa.pt")
    assert ckpt["epoch"] == 1 and all(torch.isfinite(v).all() for v in loaded.state_dict().values())


def mirror_of(store: FeatureStore) -> FeatureStore:
    """A stand-in cache of the mirrored images: each row of the 2×2 grid reversed, scaled by 2 to tell it apart."""
    n, cells, dim = store.array.shape
    array = (store.array.reshape(n, 2, 2, dim)[:, :, ::-1] * 2).reshape(n, cells, dim)
    return FeatureStore(store.root, store.filenames, np.ascontiguousarray(array), store.status, store.meta)


def test_hflip_pairs_read_the_mirror_for_about_half_and_evaluation_can_average_the_views():
    from sat.data.vocab import Vocabulary
    from sat.dvsa.data import unmirror

    dataset, store = tiny_dataset()
    mirror = mirror_of(store)
    vocab = Vocabulary.build([t for r in dataset.images for t in r.tokens], min_count=1)
    records = dataset.split("train")
    pairs = make_pairs(records, store, vocab, mirror_store=mirror)
    features, _, _, rows = pairs.batch(list(range(len(pairs))))  # (P, L, D)
    plain = pairs.features[rows].float()  # (P, L, D)
    mirrored = pairs.mirrored[rows].float()  # (P, L, D)
    from_mirror = (features == mirrored).flatten(1).all(1)  # (P,)
    assert (from_mirror | (features == plain).flatten(1).all(1)).all()
    assert 0.3 < from_mirror.float().mean() < 0.7
    averaged = make_pairs(records, store, vocab, mirror_store=mirror, average_views=True)
    assert averaged.mirrored is None
    torch.testing.assert_close(unmirror(pairs.mirrored, (2, 2)).float(), 2 * pairs.features.float())  # cells aligned
    torch.testing.assert_close(averaged.features.float(), 1.5 * pairs.features.float(), rtol=2e-3, atol=2e-3)


def test_training_with_hflip_and_averaged_views_saves_both_switches(tmp_path):
    dataset, store = tiny_dataset()
    config = AlignmentConfig(word_dim=8, hidden_dim=16, min_count=1, epochs=2, batch_size=8, lr=0.01, hflip=True,
                             average_views=True, checkpoint="ckpt/dvsa.pt", log="log/train_log.jsonl")
    _, history = train_alignment(config, dataset, store, log=None, repo_root=tmp_path, mirror_store=mirror_of(store))
    assert len(history) == 2 and all(np.isfinite(row["loss"]) for row in history)
    _, _, loaded, _ = load_checkpoint(tmp_path / "ckpt/dvsa.pt")
    assert loaded.hflip and loaded.average_views


def test_whole_pool_and_image_mlp_survive_the_checkpoint(tmp_path):
    dataset, store = tiny_dataset()
    config = AlignmentConfig(word_dim=8, hidden_dim=16, min_count=1, epochs=1, batch_size=8, lr=0.01, region_grid=0,
                             whole_pool="gem", image_mlp=10, checkpoint="ckpt/dvsa.pt", log="log/train_log.jsonl")
    model, _ = train_alignment(config, dataset, store, log=None, repo_root=tmp_path)
    loaded, vocab, cfg, ckpt = load_checkpoint(tmp_path / "ckpt/dvsa.pt")
    assert (cfg.whole_pool, cfg.image_mlp) == ("gem", 10) and loaded.regions.mlp[0].out_features == 10
    assert {"regions.whole_mean", "regions.whole_std", "regions.mlp.2.weight"} <= set(ckpt["state_dict"])
    features = make_pairs(dataset.split("val"), store, vocab).features[:3].float()  # (3, 4, 8)
    assert torch.allclose(loaded.embed_images(features), model.embed_images(features), atol=1e-2)  # float16 weights


def test_weight_average_is_what_is_evaluated_and_kept(tmp_path):
    dataset, store = tiny_dataset()
    settings = dict(word_dim=8, hidden_dim=16, min_count=1, epochs=2, batch_size=8, lr=0.01, log="log.jsonl")
    plain, plain_log = train_alignment(AlignmentConfig(**settings, checkpoint="plain.pt"), dataset, store, log=None,
                                       repo_root=tmp_path)
    # a decay of almost 0 gives (almost) all weight to the last step: the average follows the weights themselves
    copied, copied_log = train_alignment(AlignmentConfig(**settings, ema_decay=1e-9, checkpoint="copied.pt"), dataset,
                                         store, log=None, repo_root=tmp_path)
    assert [r["dev_rsum"] for r in copied_log] == [r["dev_rsum"] for r in plain_log]
    weight = "regions.proj.weight"
    assert torch.allclose(copied.state_dict()[weight], plain.state_dict()[weight], atol=1e-6)
    averaged, averaged_log = train_alignment(AlignmentConfig(**settings, ema_decay=0.9, checkpoint="averaged.pt"),
                                             dataset, store, log=None, repo_root=tmp_path)
    assert [r["loss"] for r in averaged_log] == [r["loss"] for r in plain_log]  # the same training trajectory ...
    assert not torch.allclose(averaged.state_dict()[weight], plain.state_dict()[weight], atol=1e-4)  # ... averaged
    kept, _, cfg, _ = load_checkpoint(tmp_path / "averaged.pt")
    assert cfg.ema_decay == 0.9
    assert torch.allclose(kept.state_dict()[weight], averaged.state_dict()[weight], atol=1e-2)  # float16 copy
