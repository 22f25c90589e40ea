"""Regenerate the results tables of README.md from the committed ``results/`` files (no number is typed by hand).

    python tools/readme_results.py          # rewrite the blocks between the markers
    python tools/readme_results.py --check  # exit 1 if README.md is out of date (tests/test_readme.py runs this)
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"
RETRIEVAL_BEGIN, RETRIEVAL_END = "<!-- retrieval:begin -->", "<!-- retrieval:end -->"

# Xu et al. (2015), Table 1, Flickr8k (BLEU and METEOR ×100; no CIDEr reported); Karpathy & Fei-Fei (2015), Table 2.
PAPER_ROWS = [
    ("Soft-Attention (Xu et al.)", [67, 44.8, 29.9, 19.5], 18.93, None),
    ("Hard-Attention (Xu et al.)", [67, 45.7, 31.4, 21.3], 20.30, None),
    ("Google NIC (as reported by Xu et al.)", [63, 41, 27, None], None, None),
    ("Multimodal RNN (Karpathy & Fei-Fei, Table 2)", [57.9, 38.3, 24.5, 16.0], 16.7, 31.8),
]
OURS = [("soft", "Soft attention"), ("hard", "Hard attention"), ("nic", "Show and Tell"), ("mrnn", "Multimodal RNN")]
# Karpathy & Fei-Fei (2015), Table 1, Flickr8k, BRNN: R@1, R@5, R@10 (%), median rank; image annotation, image search.
PAPER_RETRIEVAL = ([16.5, 40.6, 54.2, 7.6], [11.8, 32.1, 44.7, 12.4])
RETRIEVAL_KEYS = ("R@1", "R@5", "R@10", "medr")


def _cell(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def results_table(results_dir: Path = REPO / "results" / "flickr8k") -> str:
    lines = ["| Model | B-1 | B-2 | B-3 | B-4 | METEOR | CIDEr | beam (P) |", "|---|---|---|---|---|---|---|---|"]
    for name, bleu, meteor, cider in PAPER_ROWS:
        lines.append(f"| {name} | " + " | ".join(_cell(b) for b in bleu) + f" | {_cell(meteor, 2)} | {_cell(cider)} | — |")
    for key, label in OURS:
        path = results_dir / key / "metrics.json"
        if not path.is_file():
            continue
        m = json.loads(path.read_text())
        bleu = [100 * m[f"Bleu_{n}"] for n in range(1, 5)]
        lines.append(f"| **sat: {label}** (this repo) | " + " | ".join(_cell(b) for b in bleu)
                     + f" | {_cell(100 * m['METEOR'], 2)} | {_cell(100 * m['CIDEr'])} | {m['beam_size']}"
                     + (f" ({m['length_normalization']:g})" if m.get("length_normalization") else "") + " |")
    return "\n".join(lines)


def retrieval_table(path: Path = REPO / "results" / "flickr8k" / "dvsa" / "retrieval.json") -> str:
    header = "| Model | " + " | ".join(f"{side} {key}" for side in ("i2t", "t2i") for key in RETRIEVAL_KEYS) + " |"
    lines = [header, "|---" * 9 + "|"]
    lines.append("| BRNN (Karpathy & Fei-Fei, Table 1) | "
                 + " | ".join(_cell(value) for row in PAPER_RETRIEVAL for value in row) + " |")
    if path.is_file():
        r = json.loads(path.read_text())
        lines.append("| **sat: alignment model** (this repo) | "
                     + " | ".join(_cell(r[f"{side}_{key}"]) for side in ("i2t", "t2i") for key in RETRIEVAL_KEYS) + " |")
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
