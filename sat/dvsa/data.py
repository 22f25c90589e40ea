"""Image–sentence pairs for the alignment model: features in memory, captions as padded word-id tensors."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ..data.records import CaptionDataset, ImageRecord
from ..data.vocab import Vocabulary
from ..features import FeatureStore, cache_path, extract_features


def pad_sentences(sentences: Sequence[Sequence[int]], pad_id: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Word-id lists → ``tokens`` (B, T_max) padded on the right with ``pad_id`` and ``lengths`` (B,)."""
    lengths = torch.tensor([len(s) for s in sentences], dtype=torch.long)  # (B,)
    tokens = torch.full((len(sentences), int(lengths.max())), pad_id, dtype=torch.long)  # (B, T)
    for row, sentence in enumerate(sentences):
        tokens[row, : len(sentence)] = torch.as_tensor(sentence, dtype=torch.long)
    return tokens, lengths


@dataclass
class PairSet:
    """The images of one split with their features, and every (image, caption) pair of it.

    ``features``: (N_img, L, D) float16; ``sentences[j]`` are the word ids of caption j (no ``<start>``/``<end>``);
    ``sentence_image[j]`` is the row of its image in ``features``. ``mirrored`` (training with ``hflip``): the features
    of the left–right mirrored images, row for row, which :meth:`batch` reads for a random half of the pairs.
    """

    records: list[ImageRecord]
    features: torch.Tensor
    sentences: list[list[int]]
    sentence_image: torch.Tensor
    mirrored: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.sentences)

    def batch(self, pair_ids: Sequence[int], device: torch.device | str = "cpu"
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Pairs ``pair_ids`` → features (B, L, D) float32, tokens (B, T), lengths (B,), image rows (B,), on ``device``.

        With ``mirrored`` features each pair reads them instead with probability 1/2 (torch's global RNG, on the CPU,
        so that a seed draws the same mirror images on any device).
        """
        rows = self.sentence_image[list(pair_ids)]  # (B,)
        tokens, lengths = pad_sentences([self.sentences[j] for j in pair_ids])  # (B, T), (B,)
        features = self.features[rows]  # (B, L, D) float16
        if self.mirrored is not None:
            flip = torch.rand(len(rows)) < 0.5  # (B,)
            features = torch.where(flip[:, None, None], self.mirrored[rows], features)  # (B, L, D)
        return features.to(device).float(), tokens.to(device), lengths.to(device), rows.to(device)


def open_features(dataset: CaptionDataset, encoder: str, image_size: int, cache_dir: str | None,
                  records: Sequence[ImageRecord], hflip: bool = False) -> FeatureStore:
    """The feature cache holding ``records`` (``hflip``: of their mirrored images); only when some are missing is the
    encoder run (resumable)."""
    try:
        store = FeatureStore.open(cache_path(dataset.name, encoder, image_size, cache_dir, hflip))
        if all(store.has(r.filename) for r in records):
            return store
    except ValueError:
        pass
    splits = sorted({r.split for r in records})
    return extract_features(dataset, encoder, image_size, cache_dir, splits=splits, hflip=hflip)


def unmirror(features: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """Features of mirrored images (N, L, D), cells in row-major ``grid`` order, with each row of cells reversed, so
    that cell i covers the same part of the scene as cell i of the original image: (N, L, D). A whole-image vector
    (the mean over cells) is unchanged."""
    rows, cols = grid
    n, cells, dim = features.shape
    if rows * cols != cells:
        raise ValueError(f"features have {cells} cells, not a {rows}×{cols} grid")
    return features.view(n, rows, cols, dim).flip(2).reshape(n, cells, dim)  # (N, L, D)


def make_pairs(records: Sequence[ImageRecord], store: FeatureStore, vocab: Vocabulary,
               max_images: int | None = None, mirror_store: FeatureStore | None = None,
               average_views: bool = False) -> PairSet:
    """All (image, caption) pairs of ``records`` (the first ``max_images`` if given), features loaded into memory.

    ``mirror_store`` holds the features of the mirrored images: for training they become :attr:`PairSet.mirrored`;
    with ``average_views`` (evaluation) each image's features are instead the mean of its own and its mirror's,
    cells aligned by :func:`unmirror`.
    """
    records = list(records)[:max_images] if max_images else list(records)
    filenames = [r.filename for r in records]
    features, mirrored = store.load(store.rows(filenames)), None  # (N_img, L, D)
    if mirror_store is not None:
        mirrored = mirror_store.load(mirror_store.rows(filenames))  # (N_img, L, D)
        if average_views:
            aligned = unmirror(mirrored, store.grid).float()  # (N_img, L, D)
            features, mirrored = ((features.float() + aligned) / 2).half(), None
    elif average_views:
        raise ValueError("average_views needs the mirrored images' features (mirror_store)")
    sentences, owner = [], []
    for i, record in enumerate(records):
        for tokens in record.tokens:
            sentences.append(vocab.encode(tokens, add_special=False))
            owner.append(i)
    return PairSet(records, features, sentences, torch.tensor(owner, dtype=torch.long), mirrored)


@torch.no_grad()
def encode_records(dataset: CaptionDataset, records: Sequence[ImageRecord], encoder: str = "efficientnet-lite0",
                   image_size: int = 224, batch_size: int = 16) -> torch.Tensor:
    """Annotation vectors of a few images computed directly with the encoder (no cache): (N, L, D) float32.

    For notebooks and figures that need a handful of images; whole splits go through the feature cache.
    """
    from ..data.images import image_transform, load_image
    from ..encoders import build_encoder

    net = build_encoder(encoder, image_size=image_size).eval()
    transform = image_transform(image_size)
    out = []
    for start in range(0, len(records), batch_size):
        images = torch.stack([transform(load_image(dataset.image_path(r))) for r in records[start:start + batch_size]])
        out.append(net(images).float())  # (b, L, D)
    return torch.cat(out)  # (N, L, D)
