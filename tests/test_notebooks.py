"""The committed notebooks follow the book's conventions, carry their outputs without volatile metadata, and those
outputs are not stale relative to the run that CI does (``_build/executed/``).

Conventions (see ``notebooks/README.md``): the first cell is the Colab set-up, tagged ``skip-execution`` and
``remove-cell``; exactly one cell is tagged ``parameters``; no model code in notebooks (everything from ``sat``).
"""
from __future__ import annotations

import difflib
import os
import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
import booktools as bt  # noqa: E402

NOTEBOOKS = bt.source_notebooks()
IDS = [p.name for p in NOTEBOOKS]


def code_cells(nb: dict):
    return [(i, c) for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code"]


def test_there_are_notebooks():
    assert NOTEBOOKS, "notebooks/ holds no chapter"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_first_cell_is_the_hidden_colab_setup(path):
    first = bt.load(path)["cells"][0]
    assert first["cell_type"] == "code"
    assert {bt.SKIP_TAG, bt.REMOVE_TAG} <= set(bt.tags(first)), "tag it skip-execution and remove-cell"
    source = bt.text_of(first["source"])
    assert "pip install" in source and "sat data download flickr8k" in source
    assert not first.get("outputs"), "the Colab cell never runs here: it must have no outputs"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_one_parameters_cell(path):
    nb = bt.load(path)
    tagged = [c for c in nb["cells"] if bt.PARAMETERS_TAG in bt.tags(c)]
    assert len(tagged) == 1, f"{len(tagged)} cells tagged 'parameters' (papermill needs exactly one)"
    assert tagged[0]["cell_type"] == "code"
    assert not any(bt.INJECTED_TAG in bt.tags(c) for c in nb["cells"]), "papermill's injected cell was committed"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_kernel_is_python3(path):
    assert bt.load(path)["metadata"]["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_no_volatile_metadata(path):
    nb = bt.load(path)
    assert "papermill" not in nb["metadata"], "run `make sync-notebooks` (it strips papermill's metadata)"
    assert "version" not in nb["metadata"].get("language_info", {})
    for index, cell in enumerate(nb["cells"]):
        meta = cell.get("metadata", {})
        assert "papermill" not in meta and "execution" not in meta, f"cell {index}: timestamps committed"
        assert cell.get("execution_count") is None, f"cell {index}: execution count committed"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_outputs_are_committed(path):
    nb = bt.load(path)
    run = [c for _, c in code_cells(nb) if bt.SKIP_TAG not in bt.tags(c)]
    with_output = [c for c in run if c.get("outputs")]
    assert with_output, f"{path.name} has no outputs: run `make book` then `make sync-notebooks`"
    for cell in run:
        for out in cell.get("outputs", []):
            assert out.get("output_type") != "error", f"{path.name}: an error output is committed"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_no_model_code_in_notebooks(path):
    # Models, training loops and losses live in `sat`; notebooks import them.
    for index, cell in code_cells(bt.load(path)):
        source = bt.text_of(cell["source"])
        assert not re.search(r"^\s*class \w+\((nn\.|torch\.nn\.)?Module\)", source, re.M), f"cell {index}: nn.Module"
        assert not re.search(r"^\s*def forward\(", source, re.M), f"cell {index}: a forward() in a notebook"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_glue_roles_name_glued_keys(path):
    # Every {glue:*}`key` in the prose names a key that a code cell glues (checked on the committed outputs).
    nb = bt.load(path)
    values = bt.glued(nb)
    for kind, body, raw in bt.glue_references(nb):
        if "::" in body:
            continue  # another notebook's key: checked on the built page
        key = body.rsplit(":", 1)[0] if kind == "text" and ":" in body else body
        assert key in values, f"{raw}: nothing glued under {key!r} in the committed outputs"


# ------------------------------------------------------------------------------------- against CI's executed copies
def executed_copy(path: Path) -> dict:
    executed = bt.EXECUTED_NOTEBOOKS / path.name
    if not executed.is_file():
        message = f"{executed.relative_to(bt.ROOT)} missing: run `make book` (papermill) first"
        if os.environ.get("SAT_BOOK_BUILT") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return bt.load(executed)


@pytest.mark.book
@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_committed_outputs_match_the_executed_run(path):
    committed, executed = bt.load(path), executed_copy(path)
    # cells are matched by position (nbstripout renumbers cell ids); their sources must be the same
    ran = [c for c in executed["cells"] if bt.INJECTED_TAG not in bt.tags(c)]
    mine = committed["cells"]
    assert [(c["cell_type"], bt.text_of(c["source"])) for c in mine] == \
        [(c["cell_type"], bt.text_of(c["source"])) for c in ran], \
        "the notebook was edited after CI's run: run `make book`, then `make sync-notebooks`"
    stale = []
    for key, (cell, done) in enumerate(zip(mine, ran)):
        if cell["cell_type"] != "code" or bt.SKIP_TAG in bt.tags(cell):
            continue
        want, have = bt.output_summary(done), bt.output_summary(cell)
        if want["errors"]:
            pytest.fail(f"cell {key} raised in CI's run: {want['errors']}")
        if want["images"] != have["images"]:
            stale.append(f"cell {key}: {have['images']} images committed, {want['images']} in CI's run")
        if want["text"] != have["text"]:
            diff = difflib.unified_diff(have["text"].splitlines(), want["text"].splitlines(), "committed",
                                        "CI's run", lineterm="", n=1)
            stale.append(f"cell {key}: text output differs\n" + "\n".join(list(diff)[:40]))
    assert not stale, (f"{path.name}: committed outputs are stale (run `make book` then `make sync-notebooks`):\n"
                       + "\n".join(stale))


@pytest.mark.book
@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_executed_copy_has_no_stderr_warnings(path):
    # Warnings and tracebacks in cell output end up in the book; fix their cause in `sat` or in the notebook.
    bad = []
    for index, cell in code_cells(executed_copy(path)):
        for out in cell.get("outputs", []) or []:
            if out.get("output_type") == "stream" and out.get("name") == "stderr":
                text = bt.text_of(out.get("text"))
                if re.search(r"Traceback|\w*Error\b|\w*Warning\b", text):
                    bad.append(f"cell {index}: {text.strip()[:300]}")
    assert not bad, "\n".join(bad)
