"""sat.analysis.shapes_attention: the measurements of chapter 7 (attention correctness against the known boxes,
coverage, true captions) on hand-made attention maps, and a smoke run of the whole ablation pipeline."""
from __future__ import annotations

import pytest
import torch

from sat.analysis import shapes_attention as sa
from sat.data import make_shapes
from sat.data.shapes import NO_OBJECT
from sat.models.show_attend_tell import doubly_stochastic_penalty

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def shapes():
    return make_shapes(20, seed=3)


def test_cell_labels_mark_the_objects_cells(shapes):
    labels = sa.cell_labels(shapes)
    assert labels.shape == (20, 64)
    for i in range(len(shapes)):
        kinds = {sa.KINDS.index(tuple(obj)) + 1 for obj in shapes.objects[i]}
        assert set(labels[i].unique().tolist()) <= kinds | {0}
        for k, obj in enumerate(shapes.objects[i]):
            inside = shapes.object_mask(i, k, 8)  # cells the box touches
            label = sa.KINDS.index(tuple(obj)) + 1
            assert (labels[i] == label).any()  # every object owns at least one cell ...
            assert not ((labels[i] == label) & ~inside).any()  # ... and only cells its box touches


def test_positions_are_one_hot_rows_and_columns():
    features = torch.zeros(2, 9, 5)
    out = sa.with_positions(features, 3)
    assert out.shape == (2, 9, 11)
    for cell in range(9):
        row, col = divmod(cell, 3)
        assert out[0, cell, 5:8].tolist() == [float(r == row) for r in range(3)]
        assert out[0, cell, 8:].tolist() == [float(c == col) for c in range(3)]


def _attention_with(alpha: torch.Tensor, shapes, vocab) -> sa.TeacherForcedAttention:
    """A TeacherForcedAttention for the first caption of the first image, with hand-made α (1, T, L)."""
    table = sa.caption_table(shapes, [0], vocab)
    model = sa.ShowAttendTell(sa.decoder_config(80, 0.0), vocab_size=len(vocab))
    features = torch.zeros(1, 64, 80)
    result = sa.teacher_forced_attention(model, shapes, features, sa.CaptionTable(*(x[:1] for x in (
        table.captions, table.lengths, table.image, table.caption))), torch.zeros(1, dtype=torch.long))
    result.alpha = alpha
    return result


def test_correctness_of_uniform_and_of_perfect_attention(shapes):
    vocab = sa.shapes_vocabulary(shapes)
    steps = int(sa.caption_table(shapes, [0], vocab).lengths[0]) - 1
    uniform = _attention_with(torch.full((1, steps, 64), 1 / 64), shapes, vocab)
    scores = sa.attention_correctness(uniform)
    assert scores["correctness"] == pytest.approx(scores["uniform"])
    owners = shapes.word_objects[0][0]
    assert uniform.kind[0, : len(owners)].gt(0).tolist() == [k != NO_OBJECT for k in owners]
    perfect = torch.full((1, steps, 64), 1 / 64)
    for t, k in enumerate(owners):
        if k != NO_OBJECT:
            cells = shapes.object_mask(0, k, 8).float()
            perfect[0, t] = cells / cells.sum()
    scores = sa.attention_correctness(_attention_with(perfect, shapes, vocab))
    assert scores["correctness"] == pytest.approx(1.0)
    assert scores["peak_on_object"] == 1.0
    assert scores["other_object"] == pytest.approx(0.0)


def test_coverage_and_its_statistics():
    steps = torch.tensor([4, 4])
    alpha = torch.zeros(2, 4, 8)
    alpha[0] = 1 / 8  # uniform
    alpha[1, :, 2] = 1.0  # every step on one cell
    result = sa.TeacherForcedAttention(alpha, torch.ones(2, 4, dtype=torch.bool), 0.0, alpha > 2, alpha > 2,
                                       torch.zeros(2, 4, dtype=torch.long))
    cover = sa.coverage(result)
    torch.testing.assert_close(cover.sum(dim=1), steps.float())
    uniform = sa.coverage_statistics(cover[:1], steps[:1])
    peaked = sa.coverage_statistics(cover[1:], steps[1:])
    assert uniform["effective_locations"] == pytest.approx(8.0)
    assert uniform["spread"] == pytest.approx(0.0)
    assert peaked["effective_locations"] == pytest.approx(1.0)
    assert peaked["max_coverage"] == 4.0
    # the penalty is the spread plus a constant, L − 2C + C²/L
    for stats in (uniform, peaked):
        assert stats["penalty"] - stats["spread"] == pytest.approx(8 - 2 * 4 + 16 / 8)


def test_penalty_targets_one_and_c_over_l_have_the_same_gradient():
    torch.manual_seed(0)
    logits = torch.randn(3, 6, 10, requires_grad=True)
    mask = torch.ones(3, 6, dtype=torch.bool)
    mask[1, 4:] = False
    alpha = logits.softmax(dim=-1)
    one = doubly_stochastic_penalty(alpha, mask, "one")
    fair = doubly_stochastic_penalty(alpha, mask, "C/L")
    steps = mask.sum(dim=1).float()
    torch.testing.assert_close(one - fair, 10 - 2 * steps + steps ** 2 / 10)  # a constant for each caption
    grad_one, = torch.autograd.grad(one.sum(), logits, retain_graph=True)
    grad_fair, = torch.autograd.grad(fair.sum(), logits)
    torch.testing.assert_close(grad_one, grad_fair)


def test_true_captions(shapes):
    for i in range(len(shapes)):
        for tokens in shapes.records[i].tokens:
            assert sa.is_true_caption(tokens, shapes, i)
    tokens = shapes.records[0].tokens[0]
    first, second = tokens[1:3], tokens[-2:]
    assert not sa.is_true_caption(["a", *first, "and", "a", *first], shapes, 0)
    assert not sa.is_true_caption(tokens[:-1], shapes, 0)
    cells = [sa.layout_cell(box, shapes.image_size) for box in shapes.boxes[0]]
    objects = [tuple(o) for o in shapes.objects[0]]
    a, b = cells[objects.index(tuple(first))], cells[objects.index(tuple(second))]
    relation = ["above"] if a[0] > b[0] else ["below"] if a[0] < b[0] else ["left", "of"] if a[1] > b[1] else \
        ["right", "of"]
    assert not sa.is_true_caption(["a", *first, *relation, "a", *second], shapes, 0)  # a false relation


def test_pipeline_smoke(tmp_path, shapes):
    train, test = sa.split_indices(shapes, "train"), sa.split_indices(shapes, "test")
    images, labels = shapes.images_tensor(), sa.cell_labels(shapes)
    rows = []
    encoder = sa.pretrain_encoder(images[train], labels[train], epochs=1, batch_size=8, log=rows.append)
    assert rows and rows[0]["stage"] == "encoder"
    accuracy = sa.cell_accuracy(encoder, images[test], labels[test])
    assert 0 <= accuracy["object_cells"] <= accuracy["all_cells"] + 1
    features = sa.annotations(encoder, images)
    assert features.shape == (20, 64, 64 + 16)
    vocab = sa.shapes_vocabulary(shapes)
    table = sa.caption_table(shapes, train, vocab)
    model = sa.train_decoder(sa.decoder_config(80, 1.0), vocab, features, table, table.image, epochs=1,
                             log=rows.append)
    metrics = sa.evaluate(model, vocab, shapes, features[test], test)
    assert {"correctness", "uniform", "effective_locations", "true_captions", "word_nll"} <= set(metrics)
    sa.save_decoder(model, vocab, tmp_path / "decoder.pt")
    sa.save_encoder(encoder, tmp_path / "encoder.pt")
    again, vocab_again = sa.load_decoder(tmp_path / "decoder.pt")
    assert vocab_again == vocab
    torch.testing.assert_close(sa.annotations(sa.load_encoder(tmp_path / "encoder.pt"), images[test]), features[test])
    assert sa.evaluate(again, vocab, shapes, features[test], test) == metrics
