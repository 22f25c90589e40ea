"""The book's sources agree with each other (no build needed): _toc.yml, notebooks/, book/, _config.yml, the Makefile."""
from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
import booktools as bt  # noqa: E402

CONFIG = yaml.safe_load((bt.ROOT / "_config.yml").read_text())


def test_every_notebook_is_in_the_toc_and_every_toc_entry_exists():
    entries = bt.toc_entries()
    notebooks = {f"notebooks/{p.stem}" for p in bt.source_notebooks()}
    listed = {e for e in entries if e.startswith("notebooks/")}
    assert not notebooks - listed, f"notebooks missing from _toc.yml: {sorted(notebooks - listed)}"
    missing = [e for e in entries if bt.source_of(e) is None]
    assert not missing, f"_toc.yml lists files that do not exist: {missing}"
    assert len(entries) == len(set(entries)), "an entry is listed twice in _toc.yml"


def test_every_prose_page_is_in_the_toc():
    # only_build_toc_files: a page left out of the toc would silently vanish from the book
    entries = set(bt.toc_entries())
    pages = {f"book/{p.stem}" for p in (bt.ROOT / "book").glob("*.md")}
    assert not pages - entries, f"book/ pages missing from _toc.yml: {sorted(pages - entries)}"


def test_chapters_are_in_order_and_titled_with_their_number():
    chapters = [e for e in bt.toc_entries() if e.startswith("notebooks/")]
    numbers = []
    for entry in chapters:
        match = re.fullmatch(r"notebooks/(\d\d)_[a-z0-9_]+", entry)
        assert match, f"{entry}: chapter notebooks are named NN_name.ipynb (lower case)"
        number = int(match.group(1))
        numbers.append(number)
        nb = bt.load(bt.source_of(entry))
        first_md = next(c for c in nb["cells"] if c["cell_type"] == "markdown")
        title = bt.text_of(first_md["source"]).splitlines()[0]
        assert title.startswith(f"# {number} · "), f"{entry}: first markdown line should be '# {number} · Title'"
    assert numbers == sorted(numbers), f"chapters out of order in _toc.yml: {numbers}"


def test_no_jupytext_twin_next_to_a_notebook():
    # a .md with the same stem as a .ipynb is a duplicate document (a fatal warning under -W)
    twins = [p.name for p in bt.source_notebooks() if p.with_suffix(".md").exists()]
    assert not twins


def test_config_is_offline_and_strict():
    assert CONFIG["execute"]["execute_notebooks"] == "off", "papermill executes the notebooks, not jupyter-book"
    assert CONFIG["only_build_toc_files"] is True
    assert CONFIG["author"] == "the sat developers"
    assert "book/references.bib" in CONFIG["bibtex_bibfiles"]
    assert CONFIG["launch_buttons"]["colab_url"].startswith("https://colab.research.google.com")
    extensions = set(CONFIG["parse"]["myst_enable_extensions"])
    assert {"dollarmath", "amsmath", "colon_fence"} <= extensions


def test_repository_url_is_the_same_everywhere():
    url = CONFIG["repository"]["url"].rstrip("/")
    assert re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", url)
    for path in bt.source_notebooks():
        setup = bt.text_of(bt.load(path)["cells"][0]["source"])
        assert f"git+{url}" in setup, f"{path.name}: the Colab cell should install from {url}"
    env = (bt.ROOT / "environment.yml").read_text()
    assert "jupyter-book<2" in env.replace(" ", "") or "jupyter-book>=1,<2" in env.replace(" ", "")


def test_bibliography_has_every_cited_key():
    bib = (bt.ROOT / "book" / "references.bib").read_text()
    keys = set(re.findall(r"@\w+\{([^,\s]+),", bib))
    cited = set()
    sources = list((bt.ROOT / "book").glob("*.md")) + bt.source_notebooks()
    for path in sources:
        text = path.read_text()
        for group in re.findall(r"\{cite(?::[a-z]+)?\}`([^`]+)`", text):
            cited.update(k.strip() for k in group.split(","))
    assert cited, "no citations found at all"
    assert not cited - keys, f"cited but not in book/references.bib: {sorted(cited - keys)}"
    assert len(keys) >= 17


def test_ci_runs_make_test_and_nothing_else():
    lines = [ln.strip() for ln in (bt.ROOT / ".ci" / "run").read_text().splitlines()]
    code = [ln for ln in lines if ln and not ln.startswith("#")]
    assert lines[0] == "#!/usr/bin/env bash"
    assert "set -euo pipefail" in code
    assert code[-1] in ("make test", "exec make test")
    assert all(ln == "set -euo pipefail" or ln.startswith("cd ") or ln == code[-1] for ln in code)


@pytest.mark.parametrize("target", ["book", "test", "sync-notebooks", "clean"])
def test_makefile_has_target(target):
    assert re.search(rf"^{re.escape(target)}:", (bt.ROOT / "Makefile").read_text(), re.M)
