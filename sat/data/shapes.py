""""shapes": a deterministic synthetic captioning dataset, shipped as code, that a small CNN + attention decoder learns
on a CPU in minutes.

Each image is a ``image_size × image_size`` canvas (default 64) with two coloured shapes, each inside its own cell of a
coarse ``layout_grid × layout_grid`` placement grid (default 3×3; the shape is jittered in size and position inside
its cell). Captions come from a tiny grammar over :data:`VOCABULARY` (15 words)::

    a red circle above a blue square          a blue square below a red circle
    a green triangle left of a yellow circle  a yellow circle right of a green triangle
    a red circle and a blue square

Only true relations are generated (``above``/``below`` when the rows differ, ``left of``/``right of`` when the columns
differ). Every image also knows each object's box ``(x0, y0, x1, y1)`` in pixels (``x1``/``y1`` exclusive) and, for
each caption, which word names which object (colour and shape words; ``-1`` for the others) — the ground truth for
attention-correctness scores via :func:`box_cell_mask`.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from .records import CaptionDataset, ImageRecord

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40), "green": (40, 180, 60), "blue": (50, 90, 235), "yellow": (240, 210, 40),
}
SHAPES = ("circle", "square", "triangle", "diamond")
RELATIONS = ("above", "below", "left", "right", "of", "and")
VOCABULARY = ("a", *COLOURS, *SHAPES, *RELATIONS)
BACKGROUND = (24, 24, 24)
OBJECTS_PER_IMAGE = 2
NO_OBJECT = -1

Box = tuple[int, int, int, int]


def _draw(draw: ImageDraw.ImageDraw, shape: str, box: Box, colour: tuple[int, int, int]) -> None:
    x0, y0, x1, y1 = box[0], box[1], box[2] - 1, box[3] - 1  # PIL's coordinates are inclusive
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    if shape == "circle":
        draw.ellipse((x0, y0, x1, y1), fill=colour)
    elif shape == "square":
        draw.rectangle((x0, y0, x1, y1), fill=colour)
    elif shape == "triangle":
        draw.polygon([(cx, y0), (x1, y1), (x0, y1)], fill=colour)
    elif shape == "diamond":
        draw.polygon([(cx, y0), (x1, cy), (cx, y1), (x0, cy)], fill=colour)
    else:
        raise ValueError(f"unknown shape {shape!r}: expected one of {', '.join(SHAPES)}")


def _place(rng: np.random.Generator, cell: tuple[int, int], cell_size: float) -> Box:
    """A jittered square box, 55–85 % of a cell's side, lying entirely inside ``cell`` (row, column)."""
    side = int(round(cell_size * rng.uniform(0.55, 0.85)))
    room = int(cell_size) - side
    x0 = int(cell[1] * cell_size) + int(rng.integers(0, room + 1))
    y0 = int(cell[0] * cell_size) + int(rng.integers(0, room + 1))
    return (x0, y0, x0 + side, y0 + side)


def _captions(objects: list[tuple[str, str]], cells: list[tuple[int, int]]) -> list[tuple[list[str], list[int]]]:
    """Every true sentence about two objects, each with its word → object map."""
    def phrase(k: int) -> tuple[list[str], list[int]]:
        return ["a", *objects[k]], [NO_OBJECT, k, k]

    def sentence(first: int, relation: list[str], second: int) -> tuple[list[str], list[int]]:
        (w1, m1), (w2, m2) = phrase(first), phrase(second)
        return w1 + relation + w2, m1 + [NO_OBJECT] * len(relation) + m2

    (r0, c0), (r1, c1) = cells
    out = [sentence(0, ["and"], 1), sentence(1, ["and"], 0)]
    if r0 != r1:
        top, bottom = (0, 1) if r0 < r1 else (1, 0)
        out += [sentence(top, ["above"], bottom), sentence(bottom, ["below"], top)]
    if c0 != c1:
        left, right = (0, 1) if c0 < c1 else (1, 0)
        out += [sentence(left, ["left", "of"], right), sentence(right, ["right", "of"], left)]
    return out


def box_cell_mask(box: Box | np.ndarray, grid: int, image_size: int) -> torch.Tensor:
    """Cells of a ``grid × grid`` partition of the square canvas that ``box`` overlaps → bool (grid*grid,).

    Cells are numbered row-major (``row * grid + column``), the order of ``features.flatten(-2)`` for a (D, H, W) map.
    """
    x0, y0, x1, y1 = (float(v) for v in box)
    edges = torch.linspace(0, image_size, grid + 1)  # (grid+1,)
    rows = (edges[:-1] < y1) & (edges[1:] > y0)  # (grid,)
    cols = (edges[:-1] < x1) & (edges[1:] > x0)  # (grid,)
    return (rows[:, None] & cols[None, :]).reshape(grid * grid)  # (grid, grid) → (grid*grid,)


@dataclass
class ShapesDataset:
    """The generated images, their :class:`CaptionDataset` records, boxes and word → object maps, index-aligned."""

    images: np.ndarray  # (N, H, W, 3) uint8
    dataset: CaptionDataset  # records[i] describes images[i]; file names shapes_00000.png …
    boxes: np.ndarray  # (N, OBJECTS_PER_IMAGE, 4) int64: x0, y0, x1 (exclusive), y1 (exclusive)
    objects: list[list[tuple[str, str]]]  # per image: (colour, shape) of each object
    word_objects: list[list[list[int]]]  # per image, per caption, per token: object index or NO_OBJECT
    image_size: int
    seed: int

    def __len__(self) -> int:
        return len(self.images)

    @property
    def records(self) -> list[ImageRecord]:
        return self.dataset.images

    def images_tensor(self) -> torch.Tensor:
        """All images as one uint8 tensor (N, 3, H, W)."""
        return torch.from_numpy(self.images).permute(0, 3, 1, 2).contiguous()  # (N, H, W, 3) → (N, 3, H, W)

    def object_mask(self, image_index: int, object_index: int, grid: int) -> torch.Tensor:
        """bool (grid*grid,): the attention cells covered by one object's box."""
        return box_cell_mask(self.boxes[image_index, object_index], grid, self.image_size)

    def word_masks(self, image_index: int, caption_index: int, grid: int) -> torch.Tensor:
        """bool (T, grid*grid): for each token of a caption, the cells of the object it names (all False if none)."""
        owners = self.word_objects[image_index][caption_index]
        masks = torch.zeros(len(owners), grid * grid, dtype=torch.bool)  # (T, grid*grid)
        for t, k in enumerate(owners):
            if k != NO_OBJECT:
                masks[t] = self.object_mask(image_index, k, grid)
        return masks

    def write_images(self, folder: str | Path) -> CaptionDataset:
        """Save every image as PNG under ``folder`` (plus ``manifest.json``); return the records rooted there."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for record, pixels in zip(self.records, self.images):
            Image.fromarray(pixels).save(folder / record.filename)
        manifest = {"n_images": len(self), "seed": self.seed, "image_size": self.image_size,
                    "splits": self.dataset.split_sizes()}
        (folder / "manifest.json").write_text(json.dumps(manifest))
        return CaptionDataset(self.dataset.name, folder, self.records)


def make_shapes(n_images: int, seed: int = 0, image_size: int = 64, val_fraction: float = 0.1,
                test_fraction: float = 0.1, captions_per_image: int = 5, layout_grid: int = 3) -> ShapesDataset:
    """Generate ``n_images`` images deterministically from ``seed`` (image ``i`` depends only on ``seed`` and ``i``).

    The first images are ``train``, then ``round(n·val_fraction)`` ``val``, then ``round(n·test_fraction)`` ``test``.
    Each image gets ``captions_per_image`` distinct true captions when that many exist (4 or 6 do), else repeats.
    """
    if n_images < 1 or image_size < 8 * layout_grid or layout_grid < 2 or captions_per_image < 1:
        raise ValueError("make_shapes needs n_images ≥ 1, layout_grid ≥ 2, image_size ≥ 8·layout_grid, "
                         "captions_per_image ≥ 1")
    n_val, n_test = round(n_images * val_fraction), round(n_images * test_fraction)
    if n_val + n_test > n_images:
        raise ValueError(f"val_fraction + test_fraction leave no training images out of {n_images}")
    n_train = n_images - n_val - n_test
    cell_size = image_size / layout_grid
    kinds = [(c, s) for c in COLOURS for s in SHAPES]
    images = np.empty((n_images, image_size, image_size, 3), dtype=np.uint8)  # (N, H, W, 3)
    boxes = np.empty((n_images, OBJECTS_PER_IMAGE, 4), dtype=np.int64)  # (N, 2, 4)
    records, objects, word_objects = [], [], []
    for i in range(n_images):
        rng = np.random.default_rng([seed, i])
        pair = rng.choice(len(kinds), size=OBJECTS_PER_IMAGE, replace=False)
        cell_ids = rng.choice(layout_grid * layout_grid, size=OBJECTS_PER_IMAGE, replace=False)
        cells = [divmod(int(c), layout_grid) for c in cell_ids]
        things = [kinds[int(k)] for k in pair]
        canvas = Image.new("RGB", (image_size, image_size), BACKGROUND)
        draw = ImageDraw.Draw(canvas)
        for k, (cell, (colour, shape)) in enumerate(zip(cells, things)):
            boxes[i, k] = box = _place(rng, cell, cell_size)
            _draw(draw, shape, box, COLOURS[colour])
        images[i] = np.asarray(canvas)
        candidates = _captions(things, cells)
        order = rng.permutation(len(candidates))
        chosen = [candidates[int(order[j % len(order)])] for j in range(captions_per_image)]
        split = "train" if i < n_train else "val" if i < n_train + n_val else "test"
        records.append(ImageRecord(f"shapes_{i:05d}.png", split, [" ".join(w) for w, _ in chosen],
                                   [list(w) for w, _ in chosen]))
        objects.append(things)
        word_objects.append([m for _, m in chosen])
    dataset = CaptionDataset("shapes", Path("shapes"), records)
    return ShapesDataset(images, dataset, boxes, objects, word_objects, image_size, seed)


def load_shapes(folder: str | Path, n_images: int = 2000, seed: int = 0, image_size: int = 64) -> CaptionDataset:
    """The shapes dataset as files under ``folder`` (written once; rewritten if its manifest disagrees)."""
    folder = Path(folder)
    shapes = make_shapes(n_images, seed, image_size)
    manifest = folder / "manifest.json"
    wanted = {"n_images": n_images, "seed": seed, "image_size": image_size, "splits": shapes.dataset.split_sizes()}
    try:
        current = json.loads(manifest.read_text()) if manifest.is_file() else None
    except ValueError:  # a damaged manifest: regenerate the files
        current = None
    if current == wanted:
        return CaptionDataset(shapes.dataset.name, folder, shapes.records)
    return shapes.write_images(folder)
