"""The doubly stochastic ablation on the synthetic shapes scenes (chapter 7): where soft attention looks, and how the
penalty λ Σ_i (τ − Σ_t α_ti)² of Eq. 14 changes it.

The scenes (``sat.data.make_shapes``) know each object's box and which caption word names which object, so attention
can be scored against the truth:

* **attention correctness** of a word that names an object (a colour or a shape word): the attention mass α_t puts on
  the grid cells of that object's box, next to the mass a uniform α_t would put there (the box's share of the cells),
  and the mass on the *other* object;
* **coverage** Σ_t α_ti: the attention location i receives over a caption (Eq. 14 asks it to be about τ everywhere).

The encoder. A ``SmallCNN`` (64 px → 8×8 grid) is first trained alone to say, for every grid cell, which of the 16
kinds of object (colour × shape) covers it, or none (17 classes, a linear classifier on each cell's feature); its
features are then frozen and cached, like the paper's ImageNet features. This makes the annotation vector a_i describe
*its own* cell (a cell's receptive field is 36 px wide, most of the image) and makes each decoder train in seconds.
Each annotation vector is the cell's CNN feature followed by two one-hot vectors of its row and column: a convolution
barely knows where it is, and the relation words (above, left of) need positions.

Shapes: N images, P (image, caption) pairs, T steps, L = grid² locations, C CNN channels, D = C + 2·grid.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..data.shapes import BACKGROUND, COLOURS, NO_OBJECT, SHAPES, ShapesDataset
from ..data.vocab import Vocabulary
from ..decoding import greedy
from ..encoders.small_cnn import SmallCNN
from ..models import ModelConfig, ShowAttendTell

KINDS = [(colour, shape) for colour in COLOURS for shape in SHAPES]  # label k + 1 is KINDS[k]; 0 is background
N_LABELS = len(KINDS) + 1
ENCODER_CHANNELS = (16, 32, 64)
LAYOUT_GRID = 3  # make_shapes' default placement grid: each object lies inside one of 3×3 cells


# ------------------------------------------------------------------------------------------------------ the encoder
def grid_side(image_size: int) -> int:
    """Side of the SmallCNN's annotation grid: three 2×2 poolings."""
    return SmallCNN.grid(image_size)[0]


def cell_labels(shapes: ShapesDataset, indices: Sequence[int] | None = None, min_fraction: float = 0.125
                ) -> torch.Tensor:
    """For every grid cell of every image, the kind of object whose pixels cover it (1 + index in ``KINDS``), or 0
    when fewer than ``min_fraction`` of the cell's pixels belong to an object: (N, L) long."""
    indices = range(len(shapes)) if indices is None else indices
    side = grid_side(shapes.image_size)
    cell = shapes.image_size // side
    labels = torch.zeros(len(indices), side * side, dtype=torch.long)
    for row, i in enumerate(indices):
        pixels = shapes.images[i]  # (H, W, 3)
        painted = (pixels != np.array(BACKGROUND, dtype=np.uint8)).any(axis=-1)  # (H, W)
        counts = []
        for x0, y0, x1, y1 in shapes.boxes[i]:
            mask = np.zeros_like(painted)
            mask[y0:y1, x0:x1] = painted[y0:y1, x0:x1]
            counts.append(mask.reshape(side, cell, side, cell).sum(axis=(1, 3)).reshape(-1))  # (L,)
        counts = np.stack(counts)  # (2, L) object pixels per cell
        best = counts.argmax(axis=0)  # (L,)
        kinds = np.array([KINDS.index(tuple(obj)) + 1 for obj in shapes.objects[i]])  # (2,)
        covered = counts.max(axis=0) >= min_fraction * cell * cell
        labels[row] = torch.from_numpy(np.where(covered, kinds[best], 0))
    return labels


def build_encoder(channels: Sequence[int] = ENCODER_CHANNELS) -> nn.ModuleDict:
    """The SmallCNN and its per-cell classifier (used only to pretrain it)."""
    cnn = SmallCNN(tuple(channels))
    return nn.ModuleDict({"cnn": cnn, "head": nn.Linear(cnn.feature_dim, N_LABELS)})


def prepare_images(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 3, H, W) → float in [−1, 1]."""
    return images.float() / 127.5 - 1.0


def with_positions(features: torch.Tensor, side: int) -> torch.Tensor:
    """Append each cell's row and column as one-hot vectors: (N, L, C) → (N, L, C + 2·side)."""
    eye = torch.eye(side, dtype=features.dtype)
    rows = eye.repeat_interleave(side, dim=0)  # (L, side): row of cell i = i // side
    cols = eye.repeat(side, 1)  # (L, side): column of cell i = i % side
    position = torch.cat([rows, cols], dim=1).expand(features.size(0), -1, -1)  # (N, L, 2·side)
    return torch.cat([features, position], dim=-1)


@torch.no_grad()
def annotations(encoder: nn.ModuleDict, images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """The decoder's annotation vectors a_i: frozen CNN features plus positions, (N, L, D), for uint8 images."""
    encoder.eval()
    side = grid_side(images.size(-1))
    parts = [encoder["cnn"](prepare_images(images[k:k + batch_size])) for k in range(0, len(images), batch_size)]
    return with_positions(torch.cat(parts), side)


@torch.no_grad()
def cell_accuracy(encoder: nn.ModuleDict, images: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    """How well the pretrained CNN's classifier labels the grid cells: over all cells, and over object cells."""
    encoder.eval()
    logits = encoder["head"](encoder["cnn"](prepare_images(images)))  # (N, L, 17)
    right = logits.argmax(dim=-1) == labels  # (N, L)
    objects = labels > 0
    return {"all_cells": float(right.float().mean()), "object_cells": float(right[objects].float().mean())}


def pretrain_encoder(images: torch.Tensor, labels: torch.Tensor, epochs: int, batch_size: int = 32, lr: float = 2e-3,
                     seed: int = 0, log: Callable[[dict], None] | None = None) -> nn.ModuleDict:
    """Train the SmallCNN and a linear classifier on each cell to predict ``labels`` (N, L) from ``images``."""
    torch.manual_seed(seed)
    encoder = build_encoder()
    optimizer = torch.optim.Adam(encoder.parameters(), lr=lr)
    order = torch.Generator().manual_seed(seed)
    for epoch in range(epochs):
        encoder.train()
        started, total, batches = time.perf_counter(), 0.0, 0
        for index in torch.randperm(len(images), generator=order).split(batch_size):
            logits = encoder["head"](encoder["cnn"](prepare_images(images[index])))  # (B, L, 17)
            loss = nn.functional.cross_entropy(logits.reshape(-1, N_LABELS), labels[index].reshape(-1))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total, batches = total + float(loss.detach()), batches + 1
        if log is not None:
            log({"stage": "encoder", "epoch": epoch + 1, "loss": total / batches,
                 "seconds": time.perf_counter() - started})
    return encoder.eval()


# ---------------------------------------------------------------------------------------------------- the captions
def shapes_vocabulary(shapes: ShapesDataset) -> Vocabulary:
    """Every word of the training captions (the grammar has no rare words)."""
    train = [tokens for record in shapes.records if record.split == "train" for tokens in record.tokens]
    return Vocabulary.build(train, min_count=1)


@dataclass
class CaptionTable:
    """Every (image, caption) pair of some images, as tensors."""

    captions: torch.Tensor  # (P, T+1) <start> w .. <end> <pad>..
    lengths: torch.Tensor  # (P,) with both specials
    image: torch.Tensor  # (P,) index of the image in the ShapesDataset
    caption: torch.Tensor  # (P,) index of the caption within its image

    def __len__(self) -> int:
        return len(self.lengths)


def caption_table(shapes: ShapesDataset, indices: Sequence[int], vocab: Vocabulary) -> CaptionTable:
    ids, image, caption = [], [], []
    for i in indices:
        for j, tokens in enumerate(shapes.records[i].tokens):
            ids.append(vocab.encode(tokens))
            image.append(i)
            caption.append(j)
    lengths = torch.tensor([len(x) for x in ids])
    captions = torch.full((len(ids), int(lengths.max())), Vocabulary.pad_id, dtype=torch.long)
    for row, x in enumerate(ids):
        captions[row, : len(x)] = torch.tensor(x)
    return CaptionTable(captions, lengths, torch.tensor(image), torch.tensor(caption))


def split_indices(shapes: ShapesDataset, split: str) -> list[int]:
    return [i for i, record in enumerate(shapes.records) if record.split == split]


# ----------------------------------------------------------------------------------------------------- the decoder
def decoder_config(feature_dim: int, doubly_stochastic: float, target: str = "one") -> ModelConfig:
    """The soft-attention decoder of the ablation: the paper's model (deep output, gate β, tanh initial state),
    small."""
    return ModelConfig(kind="sat", attention="soft", feature_dim=feature_dim, embed_dim=32, hidden_dim=64,
                       attention_dim=32, dropout=0.0, doubly_stochastic=doubly_stochastic,
                       doubly_stochastic_target=target)


def train_decoder(config: ModelConfig, vocab: Vocabulary, features: torch.Tensor, table: CaptionTable,
                  feature_row: torch.Tensor, epochs: int, batch_size: int = 64, lr: float = 3e-3, seed: int = 0,
                  grad_clip: float = 5.0, log: Callable[[dict], None] | None = None) -> ShowAttendTell:
    """Adam on ``model.loss`` (mean over captions of −log p(y|a) + λ·penalty), minibatches of random pairs.

    ``features`` (N', L, D) holds the annotations of the images; ``feature_row`` (P,) gives each pair's row in it.
    """
    torch.manual_seed(seed)
    model = ShowAttendTell(config, vocab_size=len(vocab)).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    order = torch.Generator().manual_seed(seed)
    for epoch in range(epochs):
        model.train()
        started = time.perf_counter()
        sums = {"loss": 0.0, "nll": 0.0, "doubly_stochastic": 0.0}
        batches = 0
        for index in torch.randperm(len(table), generator=order).split(batch_size):
            out = model.loss(features[feature_row[index]], table.captions[index], table.lengths[index])
            optimizer.zero_grad()
            out.loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            optimizer.step()
            sums["loss"] += float(out.loss.detach())
            sums["nll"] += float(out.nll)
            sums["doubly_stochastic"] += out.metrics["doubly_stochastic"]
            batches += 1
        if log is not None:
            log({"stage": "decoder", "lambda": config.doubly_stochastic, "epoch": epoch + 1,
                 **{key: value / batches for key, value in sums.items()}, "seconds": time.perf_counter() - started})
    return model.eval()


# ---------------------------------------------------------------------------------------------------- measurements
@dataclass
class TeacherForcedAttention:
    """α for every step of every reference caption, and what each step's target word names."""

    alpha: torch.Tensor  # (P, T, L) α_t, the attention used to predict the t-th target word
    mask: torch.Tensor  # (P, T) True at real steps (the words and <end>)
    word_nll: float  # mean −log p(word) over all real steps
    named: torch.Tensor  # (P, T, L) bool: the cells of the object the target word names (all False otherwise)
    other: torch.Tensor  # (P, T, L) bool: the cells of the other object, where the target word names one
    kind: torch.Tensor  # (P, T) 0 another word, 1 a colour word, 2 a shape word


@torch.no_grad()
def teacher_forced_attention(model: ShowAttendTell, shapes: ShapesDataset, features: torch.Tensor,
                             table: CaptionTable, feature_row: torch.Tensor) -> TeacherForcedAttention:
    model.eval()
    out = model(features[feature_row], table.captions, table.lengths)
    alpha = out.log_alpha.exp()  # (P, T, L)
    side = grid_side(shapes.image_size)
    named = torch.zeros(alpha.shape, dtype=torch.bool)
    other = torch.zeros(alpha.shape, dtype=torch.bool)
    kind = torch.zeros(alpha.shape[:2], dtype=torch.long)
    for p, (i, j) in enumerate(zip(table.image.tolist(), table.caption.tolist())):
        owners = shapes.word_objects[i][j]
        tokens = shapes.records[i].tokens[j]
        cells = [shapes.object_mask(i, k, side) for k in range(len(shapes.objects[i]))]
        for t, (k, word) in enumerate(zip(owners, tokens)):
            if k != NO_OBJECT:
                named[p, t], other[p, t] = cells[k], cells[1 - k]
                kind[p, t] = 1 if word in COLOURS else 2
    word_nll = float(out.caption_nll.sum() / out.mask.sum())
    return TeacherForcedAttention(alpha, out.mask, word_nll, named, other, kind)


def attention_correctness(result: TeacherForcedAttention) -> dict[str, float]:
    """Mean attention mass on the named object's cells, on the other object's cells, and the uniform baseline (the
    named object's share of the cells), over the steps whose target word names an object; also per word kind and the
    share of those steps whose most attended cell lies on the named object."""
    names = result.kind > 0  # (P, T)
    inside = (result.alpha * result.named).sum(dim=-1)  # (P, T)
    on_other = (result.alpha * result.other).sum(dim=-1)  # (P, T)
    uniform = result.named.float().mean(dim=-1)  # (P, T) cells of the box / L
    peak_inside = result.named.gather(-1, result.alpha.argmax(dim=-1, keepdim=True)).squeeze(-1)  # (P, T)
    scores = {"correctness": float(inside[names].mean()), "other_object": float(on_other[names].mean()),
              "uniform": float(uniform[names].mean()), "peak_on_object": float(peak_inside[names].float().mean())}
    for value, label in ((1, "colour"), (2, "shape")):
        scores[f"correctness_{label}"] = float(inside[result.kind == value].mean())
    return scores


def coverage(result: TeacherForcedAttention) -> torch.Tensor:
    """Σ_t α_ti over each caption's real steps: (P, L); every row sums to the caption's number of steps C."""
    return (result.alpha * result.mask.unsqueeze(-1)).sum(dim=1)


def coverage_statistics(cover: torch.Tensor, steps: torch.Tensor) -> dict[str, float]:
    """Summaries of coverage (P, L) for captions of ``steps`` (P,) real steps.

    ``effective_locations``: exp of the entropy of the coverage normalised to sum 1, i.e. how many locations the
    caption's attention is spread over (L when uniform, 1 when every step looks at one cell); ``max_coverage``: the
    most any location receives; ``penalty``: Σ_i (1 − Σ_t α_ti)², the term of Eq. 14; ``spread``: Σ_i (C/L − Σ_t α_ti)²,
    its part that attention can change (the penalty minus the constant L − 2C + C²/L)."""
    share = cover / cover.sum(dim=1, keepdim=True)  # (P, L)
    entropy = -(share * share.clamp_min(1e-12).log()).sum(dim=1)  # (P,)
    target = steps.unsqueeze(1).to(cover.dtype) / cover.size(1)  # (P, 1) C/L
    return {"effective_locations": float(entropy.exp().mean()), "max_coverage": float(cover.max(dim=1).values.mean()),
            "penalty": float(((1 - cover) ** 2).sum(dim=1).mean()),
            "spread": float(((target - cover) ** 2).sum(dim=1).mean())}


def layout_cell(box: Sequence[int], image_size: int, layout_grid: int = LAYOUT_GRID) -> tuple[int, int]:
    """(row, column) of the placement cell that holds a box (every box lies inside one)."""
    x0, y0, x1, y1 = (int(v) for v in box)
    size = image_size / layout_grid
    return int(((y0 + y1) / 2) // size), int(((x0 + x1) / 2) // size)


RELATIONS = {("and",): lambda a, b: True, ("above",): lambda a, b: a[0] < b[0], ("below",): lambda a, b: a[0] > b[0],
             ("left", "of"): lambda a, b: a[1] < b[1], ("right", "of"): lambda a, b: a[1] > b[1]}


def is_true_caption(words: Sequence[str], shapes: ShapesDataset, image: int) -> bool:
    """Whether ``words`` is a sentence of the grammar that is true of the image: both objects named, right relation."""
    words = list(words)
    if len(words) < 7 or words[0] != "a" or words[-3] != "a":
        return False
    first, relation, second = tuple(words[1:3]), tuple(words[3:-3]), tuple(words[-2:])
    objects = [tuple(obj) for obj in shapes.objects[image]]
    if relation not in RELATIONS or first not in objects or second not in objects or first == second:
        return False
    cells = [layout_cell(box, shapes.image_size) for box in shapes.boxes[image]]
    return RELATIONS[relation](cells[objects.index(first)], cells[objects.index(second)])


@torch.no_grad()
def generated_captions(model: ShowAttendTell, vocab: Vocabulary, features: torch.Tensor,
                       max_len: int = 12) -> tuple[list[list[str]], list[torch.Tensor]]:
    """Greedy captions and their attention maps (n_words, L), one per image of ``features`` (N, L, D)."""
    hypotheses = greedy(model, features, max_len=max_len)
    return [[vocab.itos[k] for k in h.tokens] for h in hypotheses], [h.attention for h in hypotheses]


def measure(model: ShowAttendTell, vocab: Vocabulary, shapes: ShapesDataset, features: torch.Tensor,
            indices: Sequence[int]) -> tuple[dict[str, float], TeacherForcedAttention]:
    """Every number of the ablation for one model on the images ``indices`` (whose annotations are ``features``), and
    the teacher-forced attention over their reference captions (in ``caption_table`` order) they come from."""
    table = caption_table(shapes, indices, vocab)
    row = {i: r for r, i in enumerate(indices)}
    feature_row = torch.tensor([row[i] for i in table.image.tolist()])
    result = teacher_forced_attention(model, shapes, features, table, feature_row)
    steps = result.mask.sum(dim=1)
    words, _ = generated_captions(model, vocab, features)
    true = [is_true_caption(w, shapes, i) for w, i in zip(words, indices)]
    metrics = {"word_nll": result.word_nll, **attention_correctness(result),
               **coverage_statistics(coverage(result), steps), "true_captions": float(np.mean(true))}
    return metrics, result


def evaluate(model: ShowAttendTell, vocab: Vocabulary, shapes: ShapesDataset, features: torch.Tensor,
             indices: Sequence[int]) -> dict[str, float]:
    """The numbers of ``measure`` alone."""
    return measure(model, vocab, shapes, features, indices)[0]


# --------------------------------------------------------------------------------------------------- checkpoints
def save_decoder(model: ShowAttendTell, vocab: Vocabulary, path: str | Path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    torch.save({"config": model.config.to_dict(), "vocab": vocab.itos[4:], "state": model.state_dict()}, path)


def load_decoder(path: str | Path) -> tuple[ShowAttendTell, Vocabulary]:
    saved = torch.load(path, map_location="cpu", weights_only=True)
    vocab = Vocabulary(saved["vocab"])
    model = ShowAttendTell(ModelConfig.from_dict(saved["config"]), vocab_size=len(vocab))
    model.load_state_dict(saved["state"])
    return model.eval(), vocab


def save_encoder(encoder: nn.ModuleDict, path: str | Path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    torch.save({"channels": list(ENCODER_CHANNELS), "state": encoder.state_dict()}, path)


def load_encoder(path: str | Path) -> nn.ModuleDict:
    saved = torch.load(path, map_location="cpu", weights_only=True)
    encoder = build_encoder(saved["channels"])
    encoder.load_state_dict(saved["state"])
    return encoder.eval()


def read_log(path: str | Path) -> list[dict]:
    """The rows of a JSON-lines training log."""
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]

