"""``sat caption``: describe image files with a trained model — any size or mode — and optionally plot attention.

Each image is read with :func:`~sat.data.images.load_image` (an unreadable file is reported and skipped, the others
are still captioned), squashed to the checkpoint's image size, encoded by the checkpoint's encoder and decoded with
beam search, alone or together with its mirror image. Without a checkpoint, the project's own Flickr8k soft-attention
model is used, decoded as in its published scores (:func:`default_decoding`).
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import torch

from .data.errors import DataError
from .paths import repo_root

DEFAULT_CHECKPOINT = Path("checkpoints") / "flickr8k" / "soft.pt"  # relative to the source checkout
DEFAULT_METRICS = Path("results") / "flickr8k" / "soft" / "metrics.json"  # its test scores and how it was decoded
DECODING = {"beam_size": 3, "length_normalization": 0.0, "mirror": False}  # for any other checkpoint


class CaptionResult(NamedTuple):
    """One image's outcome: the caption, or the one-line error that prevented it (the other is ``None``)."""

    path: str
    caption: str | None
    error: str | None


def default_checkpoint() -> Path:
    """The project's trained Flickr8k soft-attention model; :class:`FileNotFoundError` (one line) when absent."""
    path = repo_root() / DEFAULT_CHECKPOINT
    if not path.is_file():
        raise FileNotFoundError(f"the default model {path} is missing (it ships with the source checkout): "
                                f"pass --checkpoint CKPT, e.g. a best.pt or best_fp16.pt written by `sat train`")
    return path


def default_decoding() -> dict[str, Any]:
    """How the default model is decoded: the beam size, length normalisation and mirror image chosen for it on the dev
    split, read from its published ``metrics.json`` (``tools/publish_run.py``), so that ``sat caption`` gives the
    captions its scores were computed from. ``DECODING`` when that file is absent."""
    path = repo_root() / DEFAULT_METRICS
    if not path.is_file():
        return dict(DECODING)
    metrics = json.loads(path.read_text(encoding="utf-8"))
    return {key: metrics.get(key, value) for key, value in DECODING.items()}


def _plot_path(plot_dir: Path, image: str, taken: set[Path]) -> Path:
    """``PLOT_DIR/STEM.png``, numbered when two images share a stem."""
    stem, candidate, number = Path(image).stem or "image", None, 1
    while candidate is None or candidate in taken:
        candidate = plot_dir / (f"{stem}.png" if number == 1 else f"{stem}-{number}.png")
        number += 1
    taken.add(candidate)
    return candidate


def caption_images(paths: Sequence[str | Path], checkpoint: str | Path | None = None, beam_size: int = 3,
                   plot_dir: str | Path | None = None, max_len: int = 20, batch_size: int = 16,
                   device: str | torch.device = "cpu", length_normalization: float = 0.0,
                   mirror: bool = False) -> list[CaptionResult]:
    """Caption every image of ``paths``, in order → ``[(path, caption | None, error | None)]``.

    ``length_normalization`` P ranks the finished beams by log p / length^P, and ``mirror`` decodes each image together
    with its mirror image (both as ``sat evaluate``; the attention figures show the image's own maps).

    ``plot_dir``: also save the paper-style attention figure of each caption as ``PLOT_DIR/STEM.png`` (models
    without attention have none). Bad images become results with an error; a missing or broken checkpoint raises.
    """
    from .data.images import image_transform, load_image
    from .decoding import beam_search, with_mirror
    from .encoders import build_encoder
    from .plots import plot_attention
    from .training.checkpoint import load_for_inference

    if beam_size < 1 or max_len < 1 or batch_size < 1:
        raise ValueError("beam size, max_len and batch size must be at least 1")
    model, vocab, config = load_for_inference(checkpoint if checkpoint is not None else default_checkpoint(), device)
    image_size = config.data.image_size
    encoder = build_encoder(config.data.encoder, image_size=image_size).to(device).eval()
    transform, mirror_transform = image_transform(image_size), image_transform(image_size, hflip=True)
    hard = config.model.kind == "sat" and config.model.attention == "hard"
    plots = Path(plot_dir) if plot_dir is not None else None
    taken: set[Path] = set()

    results: dict[int, CaptionResult] = {}
    loaded: list[tuple[int, str, object]] = []  # (position, path, PIL image) of the readable images
    for position, path in enumerate(map(str, paths)):
        try:
            loaded.append((position, path, load_image(path)))
        except DataError as err:
            results[position] = CaptionResult(path, None, str(err))

    for start in range(0, len(loaded), batch_size):
        batch = loaded[start:start + batch_size]
        with torch.no_grad():
            images = torch.stack([transform(image) for _, _, image in batch]).to(device)  # (B, 3, S, S)
            features = encoder(images)  # (B, L, D)
            decoder = model
            if mirror:
                mirrored = encoder(torch.stack([mirror_transform(image) for _, _, image in batch]).to(device))
                decoder, features = with_mirror(model, features, mirrored)  # (B, 2, L, D)
            hypotheses = beam_search(decoder, features, beam_size=beam_size, max_len=max_len,
                                     length_normalization=length_normalization)
        for (position, path, image), hypothesis in zip(batch, hypotheses):
            words = vocab.decode(hypothesis.tokens)
            results[position] = CaptionResult(path, " ".join(words), None)
            if plots is not None and words and hypothesis.attention is not None:
                alphas = hypothesis.attention[: len(words)]  # (n_words, L)
                figure = plot_attention(image, words, alphas, grid=tuple(encoder.grid(image_size)),
                                        mode="hard" if hard else "soft", image_size=image_size,
                                        path=_plot_path(plots, path, taken))
                figure.clear()
    return [results[position] for position in range(len(paths))]
