"""Training curves from ``train_log.jsonl`` files (``sat.training.log``): the loss of the ``"train"`` rows and the
validation scores of the ``"eval"`` rows, against the optimizer step, one line per run."""
from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

from matplotlib.figure import Figure


def read_log(path: str | Path) -> list[dict]:
    """The rows of one JSONL log; a line cut short (a killed run) is skipped."""
    rows = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows


def _series(rows: list[dict], kind: str, key: str) -> tuple[list[float], list[float]]:
    points = [(row["step"], row[key]) for row in rows
              if row.get("type") == kind and "step" in row and isinstance(row.get(key), (int, float))]
    points = [(s, v) for s, v in points if math.isfinite(v)]
    return [s for s, _ in points], [v for _, v in points]


def plot_training_curves(log_jsonl_paths: Sequence[str | Path], train_keys: Sequence[str] = ("nll",),
                         eval_keys: Sequence[str] = ("Bleu_4",), labels: Sequence[str] | None = None,
                         path: str | Path | None = None) -> Figure:
    """One panel per key — by default the training NLL per word and the validation BLEU-4 — with one line per log.

    ``train_keys`` are read from the ``"train"`` rows, ``eval_keys`` from the ``"eval"`` rows (shown ×100). A log's
    label defaults to its folder name (the run's name).
    """
    paths = [Path(p) for p in log_jsonl_paths]
    if not paths:
        raise ValueError("no training logs given")
    logs = [read_log(p) for p in paths]
    labels = list(labels) if labels is not None else [p.parent.name or p.stem for p in paths]
    panels = [("train", key) for key in train_keys] + [("eval", key) for key in eval_keys]
    figure = Figure(figsize=(4.5 * len(panels), 3.4))
    for index, (kind, key) in enumerate(panels):
        axis = figure.add_subplot(1, len(panels), index + 1)
        for rows, label in zip(logs, labels):
            steps, values = _series(rows, kind, key)
            if kind == "eval":
                values = [100 * v for v in values]
            if steps:
                axis.plot(steps, values, marker="o" if kind == "eval" else None, markersize=3, label=label)
        axis.set_xlabel("step")
        axis.set_title(f"{'validation ' if kind == 'eval' else 'training '}{key}{' ×100' if kind == 'eval' else ''}")
        axis.grid(alpha=0.3)
        if axis.lines:
            axis.legend(fontsize=8)
    figure.tight_layout()
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, dpi=100)
    return figure
