"""README.md: the quick start names the two make commands, and its results table is generated from results/."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_quick_start_is_the_two_make_commands():
    readme = (REPO / "README.md").read_text()
    quick = readme.split("## Quick start", 1)[1].split("##", 1)[0]
    commands = [line.split("#")[0].strip() for line in quick.split("```bash", 1)[1].split("```", 1)[0].splitlines()]
    assert [c for c in commands if c] == ["make book", "make test"]
    assert "make test" in (REPO / ".ci" / "run").read_text()


def test_results_table_matches_the_committed_results():
    run = subprocess.run([sys.executable, str(REPO / "tools" / "readme_results.py"), "--check"],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
