"""``sat evaluate``: caption one split of the checkpoint's dataset with beam search and score it with coco-caption.

Writes ``OUT/captions.json`` in the COCO results format (``[{"image_id": ID, "caption": TEXT}]``, the id being the
image's file name for Flickr8k/30k and the COCO id for COCO) and ``OUT/metrics.json`` (scores as fractions under
coco-caption's names, plus the settings that produced them); with ``bootstrap`` draws also ``OUT/intervals.json``,
bootstrap confidence intervals of the scores over the split's images (:mod:`sat.evaluation.bootstrap`).
"""
from __future__ import annotations

import json
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any


from ..data.records import ImageRecord, canonical_split
from ..data.vocab import Vocabulary
from ..features import FeatureStore
from ..models.base import CaptionModel
from .metrics import score_captions
from .tokenizer import require_java


def decode_split(model: CaptionModel, store: FeatureStore, records: Sequence[ImageRecord], vocab: Vocabulary,
                 beam_size: int = 3, max_len: int = 20, batch_size: int = 50,
                 length_normalization: float = 0.0, bf16: bool = False,
                 mirror_store: FeatureStore | None = None) -> dict[str, str]:
    """Caption every record from its cached features → ``{record.key: text}``: :func:`sat.decoding.decode_cached`
    (the same settings: ``beam_size=1`` greedy, ``bf16`` autocast, ``mirror_store`` the image with its mirror image)."""
    from ..decoding import decode_cached

    hypotheses = decode_cached(model, store, [record.filename for record in records], beam_size=beam_size,
                               max_len=max_len, batch_size=batch_size, length_normalization=length_normalization,
                               bf16=bf16, mirror_store=mirror_store)
    return {record.key: " ".join(vocab.decode(hypothesis.tokens)) for record, hypothesis in zip(records, hypotheses)}


def results_json(records: Sequence[ImageRecord], captions: dict[str, str]) -> list[dict[str, Any]]:
    """COCO results format: one ``{"image_id", "caption"}`` per record, the dataset's id (else the file name)."""
    return [{"image_id": record.image_id if record.image_id is not None else record.key,
             "caption": captions[record.key]} for record in records]


def _write_json(path: Path, value: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(value, indent=1) + "\n", encoding="utf-8")
    tmp.replace(path)


def evaluate_checkpoint(checkpoint: str | Path, split: str = "test", beam_size: int = 3,
                        out_dir: str | Path = "results", data_dir: str | Path | None = None,
                        cache_dir: str | Path | None = None, max_len: int = 20, batch_size: int = 50,
                        length_normalization: float = 0.0, fast: bool = False, bf16: bool = False,
                        bootstrap: int = 0, confidence: float = 0.95, mirror: bool = False,
                        device: str = "cpu") -> dict[str, Any]:
    """Decode ``split`` with ``checkpoint`` and score it; write ``captions.json`` and ``metrics.json`` to ``out_dir``.

    ``device`` runs the decoder (and the encoder, for features not cached yet) there: "cpu", "cuda", or "auto".

    ``mirror`` decodes each image together with its mirror image (the mean of the two word distributions at every
    step, :mod:`sat.decoding.views`); their features come from the mirror cache (``sat features --hflip``).

    ``bootstrap`` > 0 also writes ``intervals.json``: for each score but METEOR, its ``confidence`` interval over
    that many redraws of the split's images (seed 0).

    The dataset, encoder and image size come from the checkpoint's config (``data_dir``/``cache_dir`` override its
    folders); missing features are extracted first. Images whose features could not be extracted (unreadable files)
    are left out with a warning. Returns the content of ``metrics.json``.
    """
    from ..data import load_dataset
    from ..encoders import build_encoder
    from ..features import extract_features
    from ..training.checkpoint import load_for_inference
    from ..training.distributed import pick_device

    if beam_size < 1 or max_len < 1 or batch_size < 1:
        raise ValueError("beam size, max_len and batch size must be at least 1")
    if bootstrap < 0 or not 0 < confidence < 1:
        raise ValueError(f"bootstrap draws must be ≥ 0 and confidence between 0 and 1, got {bootstrap}, {confidence}")
    split = canonical_split(split)
    if not fast:
        require_java("the coco-caption scorer (PTB tokenizer, METEOR)")  # before, not after, the decoding
    device = pick_device(device)
    model, vocab, config = load_for_inference(checkpoint, device)
    data = config.data
    dataset = load_dataset(data.dataset, data_dir or data.data_dir)
    records = dataset.split(split)
    if not records:
        raise ValueError(f"dataset {dataset.name!r} has no {split} images")
    encoder = build_encoder(data.encoder, image_size=data.image_size)  # one encoder for the image and its mirror
    folder = cache_dir or data.cache_dir
    store = extract_features(dataset, data.encoder, data.image_size, folder, splits=[split], encoder=encoder,
                             device=device)
    mirror_store = (extract_features(dataset, data.encoder, data.image_size, folder, splits=[split], encoder=encoder,
                                     hflip=True, device=device) if mirror else None)
    stores = [store] if mirror_store is None else [store, mirror_store]
    skipped = {record.filename for record in records if not all(cache.has(record.filename) for cache in stores)}
    if skipped:
        warnings.warn(f"{len(skipped)} {split} image(s) have no features (unreadable) and are left out, "
                      f"e.g. {sorted(skipped)[0]}", stacklevel=2)
        records = [record for record in records if record.filename not in skipped]

    start = time.perf_counter()
    captions = decode_split(model, store, records, vocab, beam_size=beam_size, max_len=max_len,
                            batch_size=batch_size, length_normalization=length_normalization, bf16=bf16,
                            mirror_store=mirror_store)
    decode_s = time.perf_counter() - start
    references = {record.key: record.captions for record in records}
    scores = score_captions(references, captions, fast=fast,
                            metrics=("Bleu", "ROUGE_L", "CIDEr") if fast else ("Bleu", "METEOR", "ROUGE_L", "CIDEr"))

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _write_json(out / "captions.json", results_json(records, captions))
    metrics = {**scores, "split": split, "beam_size": beam_size, "max_len": max_len,
               "length_normalization": length_normalization, "mirror": mirror, "bf16": bf16,
               "checkpoint": str(checkpoint),
               "dataset": dataset.name, "encoder": data.encoder, "image_size": data.image_size,
               "num_images": len(records), "tokenizer": "simple" if fast else "ptb",
               "decode_s": round(decode_s, 2)}
    _write_json(out / "metrics.json", metrics)
    if bootstrap:
        write_intervals(out / "intervals.json", references, captions, split, bootstrap, confidence, fast)
    return metrics


def write_intervals(path: str | Path, references: dict[str, list[str]], captions: dict[str, str], split: str,
                    samples: int = 1000, confidence: float = 0.95, fast: bool = False) -> dict[str, Any]:
    """Bootstrap intervals of the scores of ``captions`` (seed 0) → ``path`` (``intervals.json``); returns its
    content."""
    from .bootstrap import bootstrap_intervals, image_statistics

    intervals = bootstrap_intervals(image_statistics(references, captions, fast=fast), samples=samples,
                                    confidence=confidence)
    content = {"samples": samples, "confidence": confidence, "seed": 0, "split": split, "num_images": len(captions),
               "tokenizer": "simple" if fast else "ptb", "scores": intervals}
    _write_json(Path(path), content)
    return content
