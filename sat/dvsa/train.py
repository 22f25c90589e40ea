"""Training the alignment model with the ranking loss of Eq. 9 (Karpathy & Fei-Fei, §3.1.3 and §4).

Paper: SGD with momentum 0.9, batches of 100 image–sentence pairs, dropout everywhere but in the recurrent layers,
elementwise gradient clipping at 5. Every epoch logs the loss, signs of collapse (the spread of the scores, the fraction
of dead word units) and the dev recall to a JSONL file; the checkpoint kept is the epoch with the best dev R-sum. With
``ema_decay`` > 0 the dev recall, the epoch kept and the checkpoint use a moving average of the weights
(:mod:`sat.training.averaging`; a deviation, as for the attention models).
"""
from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from ..data.records import CaptionDataset
from ..data.vocab import Vocabulary
from ..features import FeatureStore
from ..training.averaging import weight_average
from ..training.distributed import pick_device
from ..training.trainer import NonFiniteLossError
from .checkpoint import load_dataset, save_checkpoint
from .config import AlignmentConfig
from .data import PairSet, make_pairs, open_features
from .evaluate import evaluate_retrieval
from .loss import ranking_loss
from .model import AlignmentModel


def rsum(metrics: dict[str, float]) -> float:
    """Sum of the six recalls: the model-selection criterion."""
    return sum(v for k, v in metrics.items() if "_R@" in k)


def make_optimizer(model: torch.nn.Module, config: AlignmentConfig) -> torch.optim.Optimizer:
    if config.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum,
                               weight_decay=config.weight_decay)
    if config.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    raise ValueError(f"unknown optimizer {config.optimizer!r}: expected 'sgd' or 'adam'")


def epoch_order(pairs: PairSet, captions_per_image: int, rng: random.Random) -> list[int]:
    """Pair ids for one epoch: every image with ``captions_per_image`` of its captions drawn without replacement,
    all shuffled. With one caption per image no batch holds the same image twice."""
    by_image: dict[int, list[int]] = {}
    for j, image in enumerate(pairs.sentence_image.tolist()):
        by_image.setdefault(image, []).append(j)
    order = [j for ids in by_image.values() for j in rng.sample(ids, min(captions_per_image, len(ids)))]
    rng.shuffle(order)
    return order


def uses_hardest_negative(config: AlignmentConfig, epoch: int) -> bool:
    """Whether (1-based) ``epoch`` keeps only the hardest negatives (``hardest_negative``, or the warm-up is over)."""
    return config.hardest_negative or 0 < config.hardest_negative_from <= epoch


def train_epoch(model: AlignmentModel, pairs: PairSet, optimizer: torch.optim.Optimizer, config: AlignmentConfig,
                rng: random.Random, hardest: bool = False, average: torch.nn.Module | None = None) -> dict[str, float]:
    """One epoch (:func:`epoch_order`) of Eq. 9 (``hardest``: its VSE++ variant) on shuffled batches; returns running
    statistics. ``average`` (:func:`sat.training.averaging.weight_average`) is updated after every step."""
    model.train()
    device = next(model.parameters()).device
    order = epoch_order(pairs, config.captions_per_epoch, rng)
    losses, spreads, dead = [], [], []
    for start in range(0, len(order) - 1, config.batch_size):
        ids = order[start:start + config.batch_size]
        features, tokens, lengths, rows = pairs.batch(ids, device)  # (B, L, D), (B, T), (B,), (B,)
        v = model.embed_images(features)  # (B, R, h)
        s = model.embed_sentences(tokens, lengths)  # (B, T, h)
        S = model.score(v, s, lengths)  # (B, B)
        loss = ranking_loss(S, config.margin, image_ids=rows, hardest=hardest)
        value = loss.item()
        if not math.isfinite(value):
            raise NonFiniteLossError(f"non-finite loss ({value}) in batch {len(losses) + 1}")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if config.grad_clip:
            torch.nn.utils.clip_grad_value_(model.parameters(), config.grad_clip)
        optimizer.step()
        if average is not None:
            average.update_parameters(model)
        losses.append(value / len(ids))
        spreads.append(S.detach().std().item())
        words = s.detach()[torch.arange(s.shape[1], device=device)[None, :] < lengths[:, None]]  # (n_words, h)
        dead.append((words.amax(dim=0) <= 0).float().mean().item())
    return {"loss": float(np.mean(losses)), "score_std": float(np.mean(spreads)), "dead_units": float(np.mean(dead)),
            "batches": len(losses)}


def train_alignment(config: AlignmentConfig, dataset: CaptionDataset | None = None,
                    store: FeatureStore | None = None, log: Callable[[str], None] | None = print,
                    repo_root: str | Path | None = None, mirror_store: FeatureStore | None = None
                    ) -> tuple[AlignmentModel, list[dict]]:
    """Train on the train split, select on the dev (``val``) split; return the best model and the per-epoch log.

    Writes ``config.log`` (JSONL, one line per epoch) and ``config.checkpoint`` (best dev R-sum, float16), both
    relative to ``repo_root`` (default: the current folder) unless absolute. Training stops after ``config.epochs``
    epochs or once ``config.max_minutes`` have passed, whichever comes first; a NaN or infinite loss stops it with
    :class:`~sat.training.trainer.NonFiniteLossError`, whose message names the checkpoint kept. ``mirror_store``
    (None: opened when ``config.hflip`` or ``config.average_views`` asks for it) holds the features of the mirrored
    images. ``config.device`` ("auto": CUDA if available) is where the model trains.
    """
    torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    device = pick_device(config.device)
    rng = random.Random(config.seed)
    base = Path(repo_root) if repo_root else Path.cwd()
    log = log or (lambda _msg: None)

    dataset = dataset if dataset is not None else load_dataset(config)
    train_records, dev_records = dataset.split("train"), dataset.split("val")
    vocab = Vocabulary.build([t for r in train_records for t in r.tokens], min_count=config.min_count)
    if store is None:
        store = open_features(dataset, config.encoder, config.image_size, config.cache_dir,
                              train_records + dev_records)
    if mirror_store is None and (config.hflip or config.average_views):
        mirror_store = open_features(dataset, config.encoder, config.image_size, config.cache_dir,
                                     train_records + dev_records, hflip=True)
    train = make_pairs(train_records, store, vocab, mirror_store=mirror_store if config.hflip else None)
    dev = make_pairs(dev_records, store, vocab, max_images=config.eval_images,
                     mirror_store=mirror_store if config.average_views else None, average_views=config.average_views)
    log(f"dvsa: {device.type}, vocabulary {len(vocab)}, train {len(train.records)} images / {len(train)} pairs, "
        f"dev {len(dev.records)} images / {len(dev)} pairs, features {tuple(train.features.shape[1:])}")

    model = AlignmentModel.from_config(config, len(vocab), store.feature_dim)
    model.regions.set_feature_stats(train.features)
    model.to(device)
    if config.word_vectors:
        found = model.sentences.load_word_vectors(config.word_vectors, vocab.itos)
        log(f"dvsa: {found}/{len(vocab)} word vectors from {config.word_vectors}")
    average = weight_average(model, config.ema_decay)  # None without averaging
    evaluated = model if average is None else average.module  # what dev recall, best epoch and checkpoint see
    optimizer = make_optimizer(model, config)
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, config.lr_decay)

    log_path, ckpt_path = base / config.log, base / config.checkpoint
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_path.write_text("")
    history: list[dict] = []
    best, best_state, best_epoch = -1.0, None, 0
    started, cpu_started = time.perf_counter(), time.process_time()
    for epoch in range(1, config.epochs + 1):
        epoch_cpu = time.process_time()
        hardest = uses_hardest_negative(config, epoch)
        try:
            stats = train_epoch(model, train, optimizer, config, rng, hardest=hardest, average=average)
        except NonFiniteLossError as err:  # the weights are already ruined: stop, keep the best checkpoint as it is
            kept = (f"{ckpt_path} (epoch {best_epoch}, dev R-sum {best}) is intact" if best_state is not None
                    else "no checkpoint was written")
            raise NonFiniteLossError(f"dvsa epoch {epoch}: {err}; training stopped and {kept} "
                                     f"(a lower lr or hidden_dim may help)") from None
        dev_metrics = evaluate_retrieval(evaluated, dev)
        record = {"epoch": epoch, "lr": optimizer.param_groups[0]["lr"], "hardest_negative": hardest, **stats,
                  **{f"dev_{k}": round(v, 2) for k, v in dev_metrics.items()}, "dev_rsum": round(rsum(dev_metrics), 2),
                  "minutes": round((time.perf_counter() - started) / 60, 2),
                  "cpu_minutes": round((time.process_time() - cpu_started) / 60, 2)}
        history.append(record)
        with log_path.open("a") as handle:
            handle.write(json.dumps(record) + "\n")
        log(f"dvsa epoch {epoch}: loss {stats['loss']:.3f} (collapsed: {2 * (config.batch_size - 1) * config.margin:.1f})"
            f" score std {stats['score_std']:.4f} dead {stats['dead_units']:.2f} | dev i2t R@1/5/10 "
            f"{dev_metrics['i2t_R@1']:.1f}/{dev_metrics['i2t_R@5']:.1f}/{dev_metrics['i2t_R@10']:.1f} t2i "
            f"{dev_metrics['t2i_R@1']:.1f}/{dev_metrics['t2i_R@5']:.1f}/{dev_metrics['t2i_R@10']:.1f} "
            f"[{record['cpu_minutes']:.1f} CPU min, {record['minutes']:.1f} min]")
        if record["dev_rsum"] > best:
            best, best_epoch = record["dev_rsum"], epoch
            best_state = {k: v.detach().clone() for k, v in evaluated.state_dict().items()}
            save_checkpoint(ckpt_path, evaluated, vocab, config, store.feature_dim,
                            {"epoch": epoch, "dev": dev_metrics})
        scheduler.step()
        now = time.process_time()
        if now - cpu_started + (now - epoch_cpu) > 60 * config.max_minutes:  # the next epoch would not fit
            log(f"dvsa: stopping after epoch {epoch}, the next would pass the budget of {config.max_minutes} CPU min")
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    return model.eval(), history
