"""The paper-style attention figure and the training curves."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from sat.plots import plot_attention, plot_training_curves, upsample_attention


def test_one_panel_per_word_with_the_word_as_title(tmp_path):
    words = ["a", "dog", "runs", "on", "the", "grass", "fast"]
    alphas = torch.softmax(torch.randn(len(words), 49), dim=1)  # (n_words, L = 7×7)
    image = np.random.default_rng(0).integers(0, 256, (90, 140, 3), dtype=np.uint8)  # not square: squashed
    figure = plot_attention(image, words, alphas, path=tmp_path / "fig" / "attention.png")
    assert len(figure.axes) == len(words)
    assert [axis.get_title() for axis in figure.axes] == words
    assert (tmp_path / "fig" / "attention.png").stat().st_size > 0


def test_hard_maps_light_up_the_attended_cell_only():
    alpha = np.full(49, 0.01)
    alpha[3 * 7 + 5] = 0.9  # row 3, column 5 of the 7×7 grid
    hard = upsample_attention(alpha, (7, 7), 224, mode="hard")
    assert hard.shape == (224, 224)  # ×32 for a 7×7 grid at 224 px
    row, column = np.unravel_index(hard.argmax(), hard.shape)
    assert 3 * 32 <= row < 4 * 32 and 5 * 32 <= column < 6 * 32
    assert hard.min() == 0.0 and hard.max() == 1.0
    assert hard[:32, :32].max() < 0.05  # far from the attended cell: dark


def test_soft_maps_follow_the_weights_and_uniform_attention_is_neutral():
    alpha = np.linspace(0.0, 1.0, 196)  # a 14×14 grid, growing towards the bottom right
    soft = upsample_attention(alpha / alpha.sum(), (14, 14), 224)
    assert soft.shape == (224, 224)  # ×16, the paper's setting
    assert soft[-1, -1] > soft[112, 112] > soft[0, 0]
    assert np.allclose(upsample_attention(np.full(49, 1 / 49), (7, 7), 224), 0.5)


def test_mismatched_words_and_maps_fail_clearly():
    with pytest.raises(ValueError, match="one attention row per word"):
        plot_attention(np.zeros((10, 10, 3), np.uint8), ["a", "dog"], np.ones((3, 49)) / 49)
    with pytest.raises(ValueError, match="square grid"):
        plot_attention(np.zeros((10, 10, 3), np.uint8), ["a"], np.ones((1, 12)) / 12)


def test_training_curves_one_line_per_run(tmp_path):
    paths = []
    for run, offset in (("soft", 0.0), ("hard", 0.5)):
        rows = [{"type": "train", "step": s, "loss": 4 - s / 10 + offset, "nll": 3 - s / 10} for s in range(1, 6)]
        rows += [{"type": "eval", "step": 5, "Bleu_4": 0.1 + offset / 10}, {"type": "end", "step": 5}]
        path = tmp_path / run / "train_log.jsonl"
        path.parent.mkdir()
        path.write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"type": "train", "st')  # a cut line
        paths.append(path)
    figure = plot_training_curves(paths, path=tmp_path / "curves.png")
    assert len(figure.axes) == 2
    nll, bleu = figure.axes
    assert [line.get_label() for line in nll.lines] == ["soft", "hard"]
    assert list(bleu.lines[1].get_ydata()) == pytest.approx([15.0])  # validation scores ×100
    assert (tmp_path / "curves.png").is_file()
