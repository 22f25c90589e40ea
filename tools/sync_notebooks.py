#!/usr/bin/env python
"""Copy executed notebooks back over their sources, outputs kept, volatile metadata stripped — then commit them.

For each ``notebooks/X.ipynb`` (default: all) whose executed copy ``_build/executed/notebooks/X.ipynb`` exists:

* refuse if the sources differ (the notebook was edited after it was executed: run ``make execute`` first, or the edit
  would be lost) or if the executed copy holds an error output;
* drop papermill's ``injected-parameters`` cell (only present when parameters were passed);
* run ``nbstripout --keep-output --extra-keys "<booktools.VOLATILE_KEYS>"``: outputs stay (GitHub and Colab show them),
  papermill timestamps, execution timings, execution counts and the Python patch version go.

``tests/test_notebooks.py`` fails when a committed notebook's outputs are missing or stale relative to CI's run.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import booktools as bt  # noqa: E402


def sources_of(nb: dict) -> list[tuple[str, str]]:
    return [(c["cell_type"], bt.text_of(c.get("source"))) for c in nb["cells"] if bt.INJECTED_TAG not in bt.tags(c)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: notebooks/*.ipynb")
    args = parser.parse_args(argv)

    sources = [p.resolve() for p in args.notebooks] or bt.source_notebooks()
    nbstripout = Path(sys.executable).with_name("nbstripout")
    problems, synced = [], []
    for source in sources:
        executed = bt.EXECUTED_NOTEBOOKS / source.name
        if not executed.is_file():
            problems.append(f"{source.name}: not executed yet (run `make execute`)")
            continue
        nb = bt.load(executed)
        if sources_of(nb) != sources_of(bt.load(source)):
            problems.append(f"{source.name}: edited since it was executed (run `make execute` first)")
            continue
        if any(o.get("output_type") == "error" for c in nb["cells"] for o in c.get("outputs", []) or []):
            problems.append(f"{source.name}: its executed copy holds an error output")
            continue
        nb["cells"] = [c for c in nb["cells"] if bt.INJECTED_TAG not in bt.tags(c)]
        source.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        subprocess.run([str(nbstripout), "--keep-output", "--extra-keys", " ".join(bt.VOLATILE_KEYS), str(source)],
                       check=True)
        synced.append(source.name)
    if synced:
        print("sync_notebooks: outputs copied into " + ", ".join(synced))
    for problem in problems:
        print(f"sync_notebooks: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
