"""Regenerate the results tables of README.md from the committed ``results/`` files (no number is typed by hand).

    python tools/readme_results.py          # rewrite the blocks between the markers
    python tools/readme_results.py --check  # exit 1 if README.md is out of date (tests/test_readme.py runs this)
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from sat.analysis.results import PAPER_ROWS
from sat.dvsa.retrieval import PUBLISHED_RETRIEVAL

REPO = Path(__file__).resolve().parent.parent
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"
RETRIEVAL_BEGIN, RETRIEVAL_END = "<!-- retrieval:begin -->", "<!-- retrieval:end -->"

# The published numbers live in the package (one copy each); the README labels say where they come from.
PAPER_LABELS = {"soft": "Soft-Attention (Xu et al.)", "hard": "Hard-Attention (Xu et al.)",
                "nic": "Google NIC (as reported by Xu et al.)", "mrnn": "Multimodal RNN (Karpathy & Fei-Fei, Table 2)"}
OURS = [("soft", "Soft attention"), ("hard", "Hard attention"), ("nic", "Show and Tell"), ("mrnn", "Multimodal RNN")]
RETRIEVAL_KEYS = ("R@1", "R@5", "R@10", "medr")


def _cell(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def results_table(results_dir: Path = REPO / "results" / "flickr8k") -> str:
    from functools import cache

    from sat.encoders import build_encoder  # (here: the retrieval table does not need it)

    @cache
    def grid_of(encoder: str, image_size: int) -> tuple[int, int]:
        return build_encoder(encoder, image_size).grid(image_size)

    lines = ["| Model | B-1 | B-2 | B-3 | B-4 | B-4 95% interval | METEOR | CIDEr | beam (P) | grid |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for key, label in PAPER_LABELS.items():
        scores = PAPER_ROWS[key].scores
        lines.append(f"| {label} | " + " | ".join(_cell(scores.get(f"Bleu_{n}")) for n in range(1, 5))
                     + f" | — | {_cell(scores.get('METEOR'), 2)} | {_cell(scores.get('CIDEr'))} | — | "
                     + ("14×14 (VGG-19)" if key in ("soft", "hard") else "—") + " |")
    for key, label in OURS:
        path = results_dir / key / "metrics.json"
        if not path.is_file():
            continue
        m = json.loads(path.read_text())
        bleu = [100 * m[f"Bleu_{n}"] for n in range(1, 5)]
        intervals = results_dir / key / "intervals.json"  # sat evaluate --bootstrap
        b4 = json.loads(intervals.read_text())["scores"]["Bleu_4"] if intervals.is_file() else None
        lines.append(f"| **sat: {label}** (this repo) | " + " | ".join(_cell(b) for b in bleu)
                     + (f" | {100 * b4['low']:.1f}–{100 * b4['high']:.1f}" if b4 else " | —")
                     + f" | {_cell(100 * m['METEOR'], 2)} | {_cell(100 * m['CIDEr'])} | {m['beam_size']}"
                     + (f" ({m['length_normalization']:g})" if m.get("length_normalization") else "")
                     + (" + mirror" if m.get("mirror") else "")
                     + " | {}×{} |".format(*grid_of(m["encoder"], m["image_size"])))
    return "\n".join(lines)


def retrieval_table(path: Path = REPO / "results" / "flickr8k" / "dvsa" / "retrieval.json") -> str:
    header = "| Model | " + " | ".join(f"{side} {key}" for side in ("i2t", "t2i") for key in RETRIEVAL_KEYS) + " |"
    lines = [header, "|---" * 9 + "|"]
    brnn = PUBLISHED_RETRIEVAL["BRNN"]
    lines.append("| BRNN (Karpathy & Fei-Fei, supplementary Table 5) | "
                 + " | ".join(_cell(brnn[f"{side}_{key}"]) for side in ("i2t", "t2i") for key in RETRIEVAL_KEYS) + " |")
    if path.is_file():
        r = json.loads(path.read_text())
        lines.append("| **sat: alignment model** (this repo) | "
                     + " | ".join(_cell(r[f"{side}_{key}"]) for side in ("i2t", "t2i") for key in RETRIEVAL_KEYS) + " |")
    intervals = path.with_name("retrieval_intervals.json")  # sat evaluate-retrieval --bootstrap
    if intervals.is_file():
        scores = json.loads(intervals.read_text())["scores"]
        lines.append("| its 95% bootstrap interval | " + " | ".join(
            f"{_cell(scores[f'{side}_{key}']['low'])}–{_cell(scores[f'{side}_{key}']['high'])}"
            for side in ("i2t", "t2i") for key in RETRIEVAL_KEYS) + " |")
    return "\n".join(lines)


def replace_block(readme: str, begin: str, end: str, content: str) -> str:
    head, _, rest = readme.partition(begin)
    _, _, tail = rest.partition(end)
    if not rest:
        raise SystemExit(f"README.md has no {begin} marker")
    return f"{head}{begin}\n{content}\n{end}{tail}"


def render(readme: str) -> str:
    readme = replace_block(readme, BEGIN, END, results_table())
    return replace_block(readme, RETRIEVAL_BEGIN, RETRIEVAL_END, retrieval_table())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    path = REPO / "README.md"
    current = path.read_text()
    wanted = render(current)
    if args.check:
        if current != wanted:
            print("README.md results tables are out of date: run python tools/readme_results.py", file=sys.stderr)
            return 1
        return 0
    path.write_text(wanted)
    return 0


if __name__ == "__main__":
    sys.exit(main())
