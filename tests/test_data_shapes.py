"""The synthetic shapes dataset: determinism, boxes, grammar, grid masks, files."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from sat.data import Vocabulary, box_cell_mask, load_image, load_shapes, make_shapes
from sat.data.shapes import COLOURS, NO_OBJECT, SHAPES, VOCABULARY


@pytest.fixture(scope="module")
def shapes():
    return make_shapes(60, seed=7)


def test_deterministic_for_a_seed(shapes):
    again = make_shapes(60, seed=7)
    assert np.array_equal(again.images, shapes.images) and np.array_equal(again.boxes, shapes.boxes)
    assert [r.captions for r in again.records] == [r.captions for r in shapes.records]
    assert not np.array_equal(make_shapes(60, seed=8).images, shapes.images)
    assert np.array_equal(make_shapes(10, seed=7).images, shapes.images[:10])  # image i depends on (seed, i) only


def test_layout_records_and_splits(shapes):
    assert shapes.images.shape == (60, 64, 64, 3) and shapes.images.dtype == np.uint8
    assert shapes.images_tensor().shape == (60, 3, 64, 64)
    assert shapes.dataset.split_sizes() == {"train": 48, "val": 6, "test": 6}
    assert shapes.records[1].filename == "shapes_00001.png"
    assert all(len(r.captions) == 5 and len(set(r.captions)) >= 4 for r in shapes.records)


def test_boxes_inside_canvas_and_drawn(shapes):
    boxes = shapes.boxes  # (N, 2, 4)
    assert (boxes[..., :2] >= 0).all() and (boxes[..., 2:] <= 64).all() and (boxes[..., 2:] > boxes[..., :2]).all()
    for image, pair, things in zip(shapes.images, boxes, shapes.objects):
        for (x0, y0, x1, y1), (colour, _) in zip(pair, things):
            centre = image[(y0 + y1) // 2, (x0 + x1) // 2]
            assert centre.tolist() == list(COLOURS[colour])  # every shape covers its box centre


def test_captions_parse_and_are_true(shapes):
    assert len(VOCABULARY) < 30
    vocab = Vocabulary.build((t for r in shapes.records for t in r.tokens), min_count=1)
    assert set(vocab.itos[4:]) <= set(VOCABULARY)
    for record, things, pair, owners in zip(shapes.records, shapes.objects, shapes.boxes, shapes.word_objects):
        for tokens, owner in zip(record.tokens, owners):
            assert len(tokens) == len(owner)
            first, second = owner[1], owner[-1]
            assert tokens[:3] == ["a", *things[first]] and tokens[-3:] == ["a", *things[second]]
            assert {tokens[i] for i, k in enumerate(owner) if k == NO_OBJECT} <= {"a", "above", "below", "left",
                                                                                 "right", "of", "and"}
            a, b = pair[first], pair[second]
            relation = " ".join(tokens[3:-3])
            assert {"above": a[3] <= b[1], "below": a[1] >= b[3], "left of": a[2] <= b[0], "right of": a[0] >= b[2],
                    "and": True}[relation], (tokens, a, b)
            assert all(tokens[i] in COLOURS or tokens[i] in SHAPES for i, k in enumerate(owner) if k != NO_OBJECT)


def test_box_cell_mask():
    assert box_cell_mask((0, 0, 32, 32), grid=2, image_size=64).tolist() == [True, False, False, False]
    assert box_cell_mask((30, 40, 36, 50), grid=2, image_size=64).tolist() == [False, False, True, True]
    mask = box_cell_mask((8, 8, 16, 24), grid=8, image_size=64).reshape(8, 8)  # (8, 8)
    assert mask.sum() == 2 and mask[1, 1] and mask[2, 1]


def test_word_masks_point_at_the_named_object(shapes):
    masks = shapes.word_masks(0, 0, grid=8)  # (T, 64)
    owners = shapes.word_objects[0][0]
    assert masks.shape == (len(owners), 64) and masks.dtype == torch.bool
    for t, k in enumerate(owners):
        expected = shapes.object_mask(0, k, 8) if k != NO_OBJECT else torch.zeros(64, dtype=torch.bool)
        assert torch.equal(masks[t], expected)


def test_files_round_trip(tmp_path):
    data = load_shapes(tmp_path, n_images=6, seed=1)
    pixels = np.asarray(load_image(data.image_path(data.images[3])))
    assert np.array_equal(pixels, make_shapes(6, seed=1).images[3])
    stamp = (tmp_path / "shapes_00003.png").stat().st_mtime_ns
    load_shapes(tmp_path, n_images=6, seed=1)  # same manifest: nothing rewritten
    assert (tmp_path / "shapes_00003.png").stat().st_mtime_ns == stamp
