"""sat.analysis.results: the comparison table with the papers' numbers, training logs per epoch, per-image scores,
mistakes and attention entropy (chapters 8 and 9)."""
from __future__ import annotations

import json
import math

import pytest
import torch

from sat.analysis import results as R
from sat.data import Vocabulary
from sat.evaluation import decode_split, score_captions
from sat.models.config import build_model

from _model_helpers import tiny_config
from _training_helpers import tiny_dataset

torch.set_num_threads(1)

METRICS = {"Bleu_1": 0.6, "Bleu_2": 0.4, "Bleu_3": 0.3, "Bleu_4": 0.2, "METEOR": 0.19, "ROUGE_L": 0.45,
           "CIDEr": 0.5, "split": "test", "beam_size": 3}


def test_paper_rows_are_table_1_and_karpathys_table_2():
    assert R.PAPER_ROWS["soft"].scores["Bleu_4"] == 19.5 and R.PAPER_ROWS["soft"].scores["METEOR"] == 18.93
    assert R.PAPER_ROWS["hard"].scores["Bleu_4"] == 21.3 and R.PAPER_ROWS["hard"].scores["METEOR"] == 20.30
    assert "Bleu_4" not in R.PAPER_ROWS["nic"].scores  # Table 1 has "—" there
    assert R.PAPER_ROWS["mrnn"].scores["CIDEr"] == 31.8 and not R.PAPER_ROWS["mrnn"].verified
    assert all(row.verified for key, row in R.PAPER_ROWS.items() if key != "mrnn")


def test_percent_and_max_difference():
    assert R.percent(METRICS)["Bleu_4"] == pytest.approx(20.0)
    assert "split" not in R.percent(METRICS)
    other = dict(METRICS, CIDEr=0.5 + 3e-7)
    assert R.max_score_difference(METRICS, other) == pytest.approx(3e-7)
    with pytest.raises(KeyError):
        R.max_score_difference(METRICS, {"Bleu_1": 0.6})


def test_comparison_table_text_and_html():
    table = R.comparison_table({"soft": METRICS, "hard": METRICS})
    assert len(table.rows) == len(R.PAPER_ROWS) + 2
    assert table.columns[:2] == ["Model", "Source"] and table.columns[-1] == "CIDEr"
    nic = next(row for row in table.rows if row[0] == "Google NIC")
    assert nic[table.columns.index("B-4")] is None
    ours = table.rows[-1]
    assert ours[:2] == ["Hard attention", "this project"] and ours[table.columns.index("B-4")] == pytest.approx(20.0)
    text = str(table)
    assert "Multimodal RNN*" in text and "—" in text and "20.0" in text
    html = table._repr_html_()
    assert html.count("<tr") == len(table.rows) + 1 and "border-top" in html  # a rule between paper and ours


def test_relation_words():
    assert R.relation(20.84, 19.5) == "1.3 points above"
    assert R.relation(19.1, 19.5) == "0.4 points below"
    assert R.relation(19.52, 19.5) == "level with"
    assert R.relation(0.5, 0.2, unit="CIDEr points", digits=2) == "0.30 CIDEr points above"


def test_per_epoch_weights_train_rows_by_the_steps_they_cover(tmp_path):
    rows = [{"type": "train", "step": 10, "epoch": 0.5, "loss": 4.0, "nll": 3.0},
            {"type": "train", "step": 30, "epoch": 1.0, "loss": 1.0, "nll": 1.0},
            {"type": "eval", "step": 30, "epoch": 1, "Bleu_4": 0.1},
            {"type": "train", "step": 60, "epoch": 2.0, "loss": 0.5, "nll": 0.25},
            {"type": "eval", "step": 60, "epoch": 2, "Bleu_4": 0.15},
            {"type": "end", "step": 60, "reason": "epochs", "elapsed_s": 120.0}]
    path = tmp_path / "train_log.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows) + '{"type": "tra')  # a line cut short
    read = R.read_log(path)
    assert read == rows
    epochs = R.per_epoch(read)
    assert [e["epoch"] for e in epochs] == [1.0, 2.0]
    assert epochs[0]["loss"] == pytest.approx((10 * 4.0 + 20 * 1.0) / 30)
    assert epochs[0]["steps"] == 30 and epochs[1]["nll"] == pytest.approx(0.25)
    assert epochs[1]["Bleu_4"] == pytest.approx(0.15)
    summary = R.log_summary(read)
    assert summary == {"evaluations": 2, "best_Bleu_4": 0.15, "best_step": 60, "best_epoch": 2.0, "steps": 60,
                       "reason": "epochs", "minutes": 2.0}
    assert R.log_summary(read[:3])["reason"] is None  # a run still going


def test_per_image_scores_average_to_the_corpus_cider():
    references = {"a": ["a dog runs on the grass", "a brown dog is running"],
                  "b": ["two children play in the snow", "kids playing in snow"],
                  "c": ["a man rides a bike", "a cyclist on a road"]}
    candidates = {"a": "a dog runs on the grass", "b": "a dog plays in the snow", "c": "a woman in a red dress"}
    scores = R.per_image_scores(references, candidates, fast=True)
    corpus = score_captions(references, candidates, metrics=("CIDEr",), fast=True)["CIDEr"]
    assert sum(s["CIDEr"] for s in scores.values()) / 3 == pytest.approx(corpus, abs=1e-9)
    assert scores["a"]["Bleu_1"] == pytest.approx(1.0, abs=1e-6)  # identical to a reference
    assert scores["a"]["CIDEr"] > scores["b"]["CIDEr"] > scores["c"]["CIDEr"]


def test_unsupported_words_and_mistakes():
    assert R.normalise("dogs") == "dog" and R.normalise("men") == "man" and R.normalise("grass") == "grass"
    assert R.normalise("benches") == "bench" and R.normalise("bus") == "bus"
    refs = [["two", "dogs", "run", "on", "the", "sand"], ["a", "dog", "on", "a", "beach"]]
    assert R.unsupported_words("a dog swims in the snow".split(), refs) == ["swims", "snow"]
    assert R.unsupported_words("a dog runs".split(), refs) == []  # "runs" ~ "run"
    assert R.unsupported_words("two dogs on the beach".split(), refs) == []
    assert R.unsupported_words(["a", "dog", "on", "a", "<unk>"], refs) == []  # <unk> claims nothing
    assert R.content_words(["a", "dog", "is", "on", "the", "<unk>", "grass"]) == ["dog", "grass"]
    references = {"x": refs, "y": refs, "z": refs}
    captions = {"x": "a dog on the sand".split(), "y": "a cat in the snow".split(), "z": "a dog in snow".split()}
    scores = {"x": 0.1, "y": 0.5, "z": 0.3}
    mistakes = R.find_mistakes(references, captions, scores, n=5)
    assert [m.key for m in mistakes] == ["z", "y"]  # x is low but every word is supported
    assert mistakes[1].unsupported == ["cat", "snow"] and mistakes[0].caption == "a dog in snow"
    assert [m.key for m in R.find_mistakes(references, captions, scores, n=1, require_unsupported=False)] == ["x"]


def test_attention_entropy():
    L = 49
    uniform = torch.full((3, L), 1.0 / L)
    one_hot = torch.zeros(2, L)
    one_hot[:, 7] = 1.0
    torch.testing.assert_close(R.attention_entropy(uniform), torch.full((3,), math.log(L), dtype=torch.float64))
    torch.testing.assert_close(R.attention_entropy(one_hot), torch.zeros(2, dtype=torch.float64))
    assert R.attention_entropy(torch.softmax(torch.randn(4, 5, L), -1)).shape == (4, 5)


def test_bleu_without_brevity_penalty():
    references = {"a": ["a brown dog runs on the green grass"], "b": ["two children play in the white snow"]}
    short = {"a": "a dog runs", "b": "children play in the snow"}
    with_bp = score_captions(references, short, metrics=("Bleu",), fast=True)
    without = R.bleu_without_brevity_penalty(references, short, fast=True)
    assert without["length_ratio"] == pytest.approx(8 / 15)
    assert without["brevity_penalty"] == pytest.approx(math.exp(1 - 15 / 8))
    for n in range(1, 5):
        assert without[f"Bleu_{n}"] * without["brevity_penalty"] == pytest.approx(with_bp[f"Bleu_{n}"], rel=1e-9)
    assert without["Bleu_1"] == pytest.approx(1.0, abs=1e-6)  # every candidate word is in its reference
    long = {"a": "a brown dog runs on the green grass today", "b": "two children play in the white snow"}
    same = R.bleu_without_brevity_penalty(references, long, fast=True)
    assert same["brevity_penalty"] == 1.0
    assert same["Bleu_2"] == pytest.approx(score_captions(references, long, metrics=("Bleu",), fast=True)["Bleu_2"])


def test_table_digits_per_column_and_join_words():
    table = R.Table(["Model", "B-4", "METEOR"], [["x", 19.456, 18.931]], digits={"METEOR": 2})
    assert str(table).splitlines()[-1].split() == ["x", "19.5", "18.93"]
    assert ">18.93<" in table._repr_html_()
    assert R.join_words(["a"]) == "a" and R.join_words(["a", "b"]) == "a and b"
    assert R.join_words(["a", "b", "c"]) == "a, b and c"


def test_result_files(tmp_path):
    (tmp_path / "soft").mkdir()
    (tmp_path / "soft" / "metrics.json").write_text(json.dumps(METRICS))
    (tmp_path / "soft" / "captions.json").write_text(json.dumps([{"image_id": "a.jpg", "caption": "a dog"}]))
    assert R.load_metrics(tmp_path, ["soft"]) == {"soft": METRICS}
    assert R.load_captions(tmp_path / "soft" / "captions.json") == {"a.jpg": "a dog"}
    assert R.read_json(tmp_path / "soft" / "metrics.json")["beam_size"] == 3


def test_coarsen_attention_sums_blocks_of_locations():
    torch.manual_seed(0)
    alphas = torch.softmax(torch.randn(3, 5, 14 * 14), dim=-1)  # (3, 5, 196)
    coarse = R.coarsen_attention(alphas, (14, 14), (7, 7))  # (3, 5, 49)
    assert coarse.shape == (3, 5, 49)
    torch.testing.assert_close(coarse.sum(-1), torch.ones(3, 5))
    maps = alphas.reshape(3, 5, 14, 14)
    torch.testing.assert_close(coarse[..., 7 * 2 + 3], maps[..., 4:6, 6:8].sum(dim=(-2, -1)))  # coarse cell (2, 3)
    torch.testing.assert_close(R.coarsen_attention(alphas, (14, 14), (14, 14)), alphas)
    one_hot = torch.zeros(14 * 14)
    one_hot[14 * 13 + 13] = 1.0  # the bottom-right fine cell
    assert R.coarsen_attention(one_hot, (14, 14), (7, 7)).argmax() == 48
    # spreading over a 2×2 block costs log 4 nats on the fine grid and nothing on the coarse one
    block = torch.zeros(14, 14)
    block[:2, :2] = 0.25
    assert abs(float(R.attention_entropy(block.flatten())) - math.log(4)) < 1e-9
    assert float(R.attention_entropy(R.coarsen_attention(block.flatten(), (14, 14), (7, 7)))) < 1e-9
    with pytest.raises(ValueError, match="does not divide"):
        R.coarsen_attention(alphas, (14, 14), (4, 4))
    with pytest.raises(ValueError, match="not on a 7×7 grid"):
        R.coarsen_attention(alphas, (7, 7), (7, 7))
