"""The Flickr8k results of the book (chapters 8 and 9): the published numbers this project is compared with, the
comparison table, the training logs read per epoch, per-image scores, the mistakes a model makes, and how peaked its
attention is.

Published numbers are ×100, as printed in the papers; ``sat.evaluation`` scores are fractions, so :func:`percent`
converts them. A score a paper does not report is absent from its row (shown as "—").

* ``PAPER_ROWS``: Table 1 of Xu et al. (2015), Flickr8k — soft and hard attention, and Google NIC (Vinyals et al.,
  2015, as quoted there) — and the multimodal RNN of Karpathy & Fei-Fei (2015, Table 2, Flickr8k), whose numbers were
  not independently verified here.
* :func:`comparison_table`: those rows next to this project's models, as one :class:`Table` (HTML in the book).
* :func:`relation`: "1.3 points above" / "0.4 points below" / "level with" — the words the prose uses, chosen by code.
* :func:`per_epoch`: a ``train_log.jsonl`` (``sat.training.log``) summarised per epoch: mean training loss and NLL per
  word over the epoch's steps, and the validation scores after it.
* :func:`per_image_scores`: BLEU and CIDEr-D of every caption on its own (coco-caption's scorers return them along
  with the corpus score; the corpus CIDEr-D is their mean).
* :func:`bleu_without_brevity_penalty`: BLEU as the paper reports it (§5.2: no brevity penalty).
* :func:`unsupported_words`, :func:`find_mistakes`: content words of a caption that no reference uses, and the
  captions that score worst among those that have such a word.
* :func:`attention_entropy`: H(α_t) = −Σ_i α_ti log α_ti per generated word (nats); exp(H) is the number of locations
  a uniform distribution with the same entropy would spread over.
"""
from __future__ import annotations

import html
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..evaluation.metrics import SCORE_NAMES
from ..plots.curves import read_log  # noqa: F401  (the one JSONL log reader; chapters import it from here)

# ---------------------------------------------------------------------------------------------- published numbers

COLUMNS = ("Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4", "METEOR", "CIDEr")  # the columns of the comparison table
LABELS = {"Bleu_1": "B-1", "Bleu_2": "B-2", "Bleu_3": "B-3", "Bleu_4": "B-4", "METEOR": "METEOR",
          "ROUGE_L": "ROUGE-L", "CIDEr": "CIDEr"}


@dataclass(frozen=True)
class PublishedRow:
    """One model's Flickr8k scores as a paper prints them (×100); a score the paper does not report is absent."""

    model: str
    source: str  # where the numbers are printed
    scores: Mapping[str, float]
    verified: bool = True  # False: quoted from a table this project could not check (e.g. a supplement)


PAPER_ROWS: dict[str, PublishedRow] = {
    "soft": PublishedRow("Soft-Attention", "Xu et al. 2015, Table 1",
                         {"Bleu_1": 67.0, "Bleu_2": 44.8, "Bleu_3": 29.9, "Bleu_4": 19.5, "METEOR": 18.93}),
    "hard": PublishedRow("Hard-Attention", "Xu et al. 2015, Table 1",
                         {"Bleu_1": 67.0, "Bleu_2": 45.7, "Bleu_3": 31.4, "Bleu_4": 21.3, "METEOR": 20.30}),
    "nic": PublishedRow("Google NIC", "Xu et al. 2015, Table 1 (from Vinyals et al. 2015)",
                        {"Bleu_1": 63.0, "Bleu_2": 41.0, "Bleu_3": 27.0}),
    "mrnn": PublishedRow("Multimodal RNN", "Karpathy & Fei-Fei 2015, Table 2",
                         {"Bleu_1": 57.9, "Bleu_2": 38.3, "Bleu_3": 24.5, "Bleu_4": 16.0, "METEOR": 16.7,
                          "CIDEr": 31.8}, verified=False),
}
MODELS = ("soft", "hard", "nic", "mrnn")  # this project's Flickr8k models, in the book's order
MODEL_NAMES = {"soft": "Soft attention", "hard": "Hard attention", "nic": "Show and Tell (NIC)",
               "mrnn": "Multimodal RNN"}
MODEL_PHRASES = {"soft": "soft attention", "hard": "hard attention", "nic": "Show and Tell",
                 "mrnn": "the multimodal RNN"}  # as they read inside a sentence


def join_words(items: Sequence[str]) -> str:
    """"a", "a and b", "a, b and c"."""
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def percent(metrics: Mapping[str, Any]) -> dict[str, float]:
    """The coco-caption scores of a ``metrics.json`` (fractions) ×100, in :data:`SCORE_NAMES` order."""
    return {name: 100.0 * float(metrics[name]) for name in SCORE_NAMES if name in metrics}


def max_score_difference(a: Mapping[str, Any], b: Mapping[str, Any], names: Sequence[str] = SCORE_NAMES) -> float:
    """The largest |a[name] − b[name]| over ``names``; a name missing from either side is an error."""
    missing = [name for name in names if name not in a or name not in b]
    if missing:
        raise KeyError(f"scores missing on one side: {missing}")
    return max(abs(float(a[name]) - float(b[name])) for name in names)


def load_metrics(results_dir: str | Path, models: Sequence[str] = MODELS) -> dict[str, dict[str, Any]]:
    """``RESULTS_DIR/MODEL/metrics.json`` of each model → ``{model: metrics}``."""
    return {model: read_json(Path(results_dir) / model / "metrics.json") for model in models}


def read_json(path: str | Path) -> Any:
    """The content of a JSON file (``metrics.json``, ``dev_beam_selection.json``...)."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def load_captions(path: str | Path) -> dict[str, str]:
    """A ``captions.json`` (COCO results format) → ``{image_id: caption}``."""
    return {str(row["image_id"]): row["caption"] for row in read_json(path)}


# ------------------------------------------------------------------------------------------------------ the table

@dataclass
class Table:
    """A small table that IPython shows as HTML (the book) and as aligned text (``print``, plain outputs).

    ``rows`` hold the values of ``columns`` (``None`` → "—"); floats are printed with ``digits`` decimals, or with
    ``digits[column]`` (default 1) when ``digits`` is a mapping.
    ``groups`` names a group per row (e.g. "paper" / "this project"): a rule separates consecutive groups.
    """

    columns: list[str]
    rows: list[list[Any]]
    groups: list[str] = field(default_factory=list)
    digits: int | Mapping[str, int] = 1
    caption: str | None = None

    def cell(self, value: Any, column: str | None = None) -> str:
        if value is None:
            return "—"
        if isinstance(value, float):
            digits = self.digits.get(column, 1) if isinstance(self.digits, Mapping) else self.digits
            return f"{value:.{digits}f}"
        return str(value)

    def _cells(self) -> list[list[str]]:
        return [[self.cell(value, column) for value, column in zip(row, self.columns)] for row in self.rows]

    def __str__(self) -> str:
        text = self._cells()
        widths = [max([len(name)] + [len(row[i]) for row in text]) for i, name in enumerate(self.columns)]

        def line(values: Sequence[str]) -> str:
            return "  ".join(v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in enumerate(zip(values, widths)))

        out = [line(self.columns), "  ".join("-" * w for w in widths)]
        for index, row in enumerate(text):
            if self.groups and index and self.groups[index] != self.groups[index - 1]:
                out.append("  ".join("-" * w for w in widths))
            out.append(line(row))
        return "\n".join(out)

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{html.escape(name)}</th>" for name in self.columns)
        body = []
        for index, row in enumerate(self._cells()):
            rule = bool(self.groups) and index > 0 and self.groups[index] != self.groups[index - 1]
            style = ' style="border-top: 2px solid #888"' if rule else ""
            cells = "".join(f'<td style="text-align: {"left" if i == 0 else "right"}">{html.escape(v)}</td>'
                            for i, v in enumerate(row))
            body.append(f"<tr{style}>{cells}</tr>")
        caption = f"<caption>{html.escape(self.caption)}</caption>" if self.caption else ""
        return (f'<table class="table">{caption}<thead><tr>{head}</tr></thead>'
                f"<tbody>{''.join(body)}</tbody></table>")


def comparison_table(ours: Mapping[str, Mapping[str, Any]], columns: Sequence[str] = COLUMNS,
                     paper_rows: Mapping[str, PublishedRow] = PAPER_ROWS) -> Table:
    """The published Flickr8k rows, then this project's models (``ours``: model → ``metrics.json``, fractions).

    Every number is ×100. Published rows that were not independently verified are marked with an asterisk.
    """
    rows, groups = [], []
    for row in paper_rows.values():
        name = row.model + ("*" if not row.verified else "")
        rows.append([name, row.source] + [row.scores.get(column) for column in columns])
        groups.append("paper")
    for model, metrics in ours.items():
        scores = percent(metrics)
        rows.append([MODEL_NAMES.get(model, model), "this project"] + [scores.get(column) for column in columns])
        groups.append("ours")
    return Table(["Model", "Source"] + [LABELS[column] for column in columns], rows, groups,
                 digits={"METEOR": 2})


def relation(ours: float, theirs: float, unit: str = "points", digits: int = 1) -> str:
    """How ``ours`` stands to ``theirs`` in words: "1.3 points above", "0.4 points below" or "level with" (when the
    difference rounds to zero at ``digits`` decimals). Fits "… is {relation} the paper's …"."""
    difference = ours - theirs
    rounded = round(abs(difference), digits)
    if rounded == 0:
        return "level with"
    return f"{rounded:.{digits}f} {unit} {'above' if difference > 0 else 'below'}"


# --------------------------------------------------------------------------------------------- training logs

def per_epoch(rows: Sequence[Mapping[str, Any]], train_keys: Sequence[str] = ("loss", "nll"),
              eval_keys: Sequence[str] = ("Bleu_4",)) -> list[dict[str, Any]]:
    """One dict per validation: ``epoch`` (fractional, from the training rows), ``step``, the mean of each of
    ``train_keys`` over the epoch's steps (each ``"train"`` row stands for the steps since the previous one) and the
    ``eval_keys`` of its ``"eval"`` row.

    Expects one validation per epoch (``eval_every: 0``), as in this project's Flickr8k configs.
    """
    train = sorted((row for row in rows if row.get("type") == "train"), key=lambda row: row["step"])
    evals = sorted((row for row in rows if row.get("type") == "eval"), key=lambda row: row["step"])
    epochs, previous_eval, previous_step = [], 0, 0
    weighted = []  # (steps covered, row)
    for row in train:
        weighted.append((row["step"] - previous_step, row))
        previous_step = row["step"]
    for ev in evals:
        covered = [(steps, row) for steps, row in weighted if previous_eval < row["step"] <= ev["step"]]
        # the epoch as a fraction (a run stopped by its time limit is validated mid-epoch), from the train rows
        epoch = max((row["epoch"] for _, row in covered if isinstance(row.get("epoch"), (int, float))),
                    default=ev.get("epoch"))
        summary: dict[str, Any] = {"epoch": epoch, "step": ev["step"]}
        total = sum(steps for steps, _ in covered)
        for key in train_keys:
            values = [(steps, row[key]) for steps, row in covered if isinstance(row.get(key), (int, float))]
            weight = sum(steps for steps, _ in values)
            summary[key] = sum(steps * value for steps, value in values) / weight if weight else None
        summary["steps"] = total
        for key in eval_keys:
            value = ev.get(key)
            summary[key] = float(value) if isinstance(value, (int, float)) else None
        epochs.append(summary)
        previous_eval = ev["step"]
    return epochs


def log_summary(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """What a training log says about its run: epochs validated, the best validation BLEU-4 (fraction), its step and
    epoch (fractional, like :func:`per_epoch`), the number of steps, why it stopped and the minutes it took (``None``
    while the run is still going)."""
    evals = [row for row in rows if row.get("type") == "eval" and isinstance(row.get("Bleu_4"), (int, float))]
    end = next((row for row in reversed(rows) if row.get("type") == "end"), None)
    best = max(evals, key=lambda row: (row["Bleu_4"], -row["step"])) if evals else None
    last_step = max((row.get("step", 0) for row in rows), default=0)
    best_epoch = None
    if best is not None:  # as a fraction, from the last train row up to that step (as in per_epoch)
        before = [row["epoch"] for row in rows if row.get("type") == "train" and row.get("step", 0) <= best["step"]
                  and isinstance(row.get("epoch"), (int, float))]
        best_epoch = before[-1] if before else best.get("epoch")
    return {
        "evaluations": len(evals),
        "best_Bleu_4": float(best["Bleu_4"]) if best else None,
        "best_step": best["step"] if best else None,
        "best_epoch": best_epoch,
        "steps": last_step,
        "reason": end.get("reason") if end else None,
        "minutes": float(end["elapsed_s"]) / 60 if end and isinstance(end.get("elapsed_s"), (int, float)) else None,
    }


# ------------------------------------------------------------------------------------------- per-image scores

def per_image_scores(references: Mapping[str, Sequence[str]], candidates: Mapping[str, str],
                     fast: bool = False) -> dict[str, dict[str, float]]:
    """BLEU-1..4 and CIDEr-D of every candidate on its own → ``{key: {"Bleu_4": …, "CIDEr": …}}`` (fractions).

    The candidates are tokenised with the references as in :func:`sat.evaluation.score_captions` (PTB tokenizer on
    Java unless ``fast``); CIDEr-D's document frequencies come from the references of all candidates, so the mean of
    the per-image CIDEr-D is the corpus CIDEr-D. Per-image BLEU is coco-caption's sentence BLEU (zero when a caption
    shares no 4-gram with its references, which is common).
    """
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider

    from ..evaluation.metrics import _check, tokenize_all

    _check(references, candidates, ("Bleu", "CIDEr"))
    gts, res = tokenize_all(references, candidates, fast=fast)
    keys = list(gts)  # both scorers return per-image values in the order of gts' keys
    _, bleu = Bleu(4).compute_score(gts, res, verbose=0)  # 4 lists of per-image values
    _, cider = Cider().compute_score(gts, res)
    return {key: {**{f"Bleu_{n + 1}": float(bleu[n][i]) for n in range(4)}, "CIDEr": float(cider[i])}
            for i, key in enumerate(keys)}


def bleu_without_brevity_penalty(references: Mapping[str, Sequence[str]], candidates: Mapping[str, str],
                                 fast: bool = False) -> dict[str, float]:
    """Corpus BLEU-1..4 *without* the brevity penalty — the convention of Xu et al. (2015, §5.2) — next to what the
    penalty was: ``{"Bleu_1".."Bleu_4", "length_ratio", "brevity_penalty"}``.

    coco-caption multiplies BLEU by BP = exp(1 − r/c) when the candidates are shorter in total (c words) than the
    closest-length references (r words), and by 1 otherwise; dividing its scores by BP gives the geometric means of
    the n-gram precisions alone. Same tokenisation as :func:`sat.evaluation.score_captions`.
    """
    from ..evaluation.bootstrap import bleu_from_totals, bleu_statistics
    from ..evaluation.metrics import _check, tokenize_all

    _check(references, candidates, ("Bleu",))
    gts, res = tokenize_all(references, candidates, fast=fast)
    totals = bleu_statistics(gts, res).sum(axis=0)  # (10,): c, r, guesses and matches for n = 1..4
    with_penalty = bleu_from_totals(totals)  # (4,) coco-caption's corpus BLEU-1..4
    ratio = totals[0] / totals[1]  # c / r
    penalty = math.exp(1 - 1 / ratio) if ratio < 1 else 1.0
    return {**{f"Bleu_{n + 1}": float(value) / penalty for n, value in enumerate(with_penalty)},
            "length_ratio": float(ratio), "brevity_penalty": float(penalty)}


# ---------------------------------------------------------------------------------------------------- mistakes

# Words that say nothing about what is in the picture: articles, prepositions, pronouns, auxiliaries, numbers words,
# and the vaguest nouns and verbs of Flickr8k captions. Everything else counts as a content word.
STOPWORDS = frozenset("""
a an the and or but of in on at to into onto from with without by for as near next over under above below behind
through across along around up down out off while his her their its it they he she them him this that these those
there here who which what is are was were be being been has have having do does doing some one two three four several
many other another each very front top side its while back each other something someone person people
""".split())
_IRREGULAR = {"men": "man", "women": "woman", "children": "child", "people": "person", "feet": "foot",
              "teeth": "tooth", "mice": "mouse", "geese": "goose"}


def normalise(word: str) -> str:
    """A crude lemma, enough to match "dogs" with "dog": irregular plurals, then a plural ``-s``/``-es`` removed."""
    word = word.lower()
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    if len(word) > 4 and word.endswith(("ches", "shes", "sses", "xes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def content_words(tokens: Iterable[str]) -> list[str]:
    """The tokens that are neither :data:`STOPWORDS` nor special tokens such as ``<unk>`` (order and repeats kept)."""
    return [token for token in tokens if token.lower() not in STOPWORDS and not token.startswith("<")]


def unsupported_words(caption: Sequence[str], references: Sequence[Sequence[str]]) -> list[str]:
    """Content words of ``caption`` (tokens) that no reference (tokens) uses, up to plural endings: what the caption
    claims and none of the five annotators saw — a wrong object, colour or action, or an unusual synonym."""
    seen = {normalise(word) for reference in references for word in reference}
    out: list[str] = []
    for word in content_words(caption):
        if normalise(word) not in seen and word not in out:
            out.append(word)
    return out


@dataclass
class Mistake:
    """A caption with its per-image score and the words no reference supports."""

    key: str
    caption: str
    score: float
    unsupported: list[str]


def find_mistakes(references: Mapping[str, Sequence[Sequence[str]]], captions: Mapping[str, Sequence[str]],
                  scores: Mapping[str, float], n: int = 5, require_unsupported: bool = True) -> list[Mistake]:
    """The ``n`` worst captions by ``scores`` (e.g. per-image CIDEr-D), lowest first, ties broken by key.

    ``references`` and ``captions`` are tokenised (``key → [[tokens] × 5]`` and ``key → [tokens]``). With
    ``require_unsupported`` only captions that use a content word no reference uses are kept: captions that are
    wrong, not merely terse.
    """
    found = []
    for key in sorted(captions, key=lambda k: (scores[k], k)):
        words = unsupported_words(captions[key], references[key])
        if require_unsupported and not words:
            continue
        found.append(Mistake(key, " ".join(captions[key]), float(scores[key]), words))
        if len(found) == n:
            break
    return found


# --------------------------------------------------------------------------------------------------- attention

def attention_entropy(alphas: torch.Tensor) -> torch.Tensor:
    """H(α_t) = −Σ_i α_ti log α_ti in nats for every row of ``alphas`` (..., L) → (...). Zero for a one-hot map,
    log L for the uniform one."""
    alphas = alphas.double()
    return -(alphas * torch.log(alphas.clamp_min(1e-300))).sum(dim=-1)


def coarsen_attention(alphas: torch.Tensor, grid: tuple[int, int], coarse: tuple[int, int]) -> torch.Tensor:
    """Attention maps ``alphas`` (..., rows·columns) on ``grid``, summed over blocks into the ``coarse`` grid → (...,
    coarse rows·coarse columns), so that maps on grids of different resolution over the same image compare.

    Each side of ``grid`` must be a multiple of ``coarse``'s; 14×14 → 7×7 sums 2×2 blocks of locations. The weights of
    each map still sum to one; ``coarse`` equal to ``grid`` returns the maps as they are.
    """
    (rows, columns), (coarse_rows, coarse_columns) = grid, coarse
    if alphas.shape[-1] != rows * columns:
        raise ValueError(f"attention maps of {alphas.shape[-1]} locations are not on a {rows}×{columns} grid")
    if rows % coarse_rows or columns % coarse_columns:
        raise ValueError(f"a {rows}×{columns} grid does not divide into a {coarse_rows}×{coarse_columns} one")
    blocks = alphas.reshape(*alphas.shape[:-1], coarse_rows, rows // coarse_rows, coarse_columns,
                            columns // coarse_columns)  # (..., R, r, C, c)
    return blocks.sum(dim=(-3, -1)).reshape(*alphas.shape[:-1], coarse_rows * coarse_columns)  # (..., R·C)


__all__ = ["COLUMNS", "PAPER_ROWS", "MODELS", "MODEL_NAMES", "MODEL_PHRASES", "join_words", "PublishedRow", "Table",
           "percent", "max_score_difference", "read_json", "load_metrics", "load_captions", "comparison_table",
           "relation", "read_log", "per_epoch", "log_summary", "per_image_scores", "bleu_without_brevity_penalty",
           "STOPWORDS", "normalise", "content_words", "unsupported_words", "Mistake", "find_mistakes",
           "attention_entropy", "coarsen_attention"]
