"""The book tools themselves: papermill execution fails on a cell error, syncing keeps outputs and strips volatile
metadata, and the normalisation used by the staleness test masks only volatile bits."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
import booktools as bt  # noqa: E402
import execute_notebooks  # noqa: E402
import sync_notebooks  # noqa: E402


def write(nb, path: Path) -> Path:
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def test_normalise_masks_volatile_bits_only():
    a = "model at 0x7f3a2b1c9d10 took 3.2 s\r 10%|#   | 1/10 [00:01<00:09, 1.00it/s]\rdone\nloss 0.123456"
    b = "model at 0x7f00deadbeef took 12 s\r 90%|########| 9/10 [00:09<00:01, 1.00it/s]\rdone\nloss 0.123449"
    assert bt.normalise_text(a) == bt.normalise_text(b)
    assert bt.normalise_text("loss 0.1234") != bt.normalise_text("loss 0.1244")
    assert bt.normalise_text("6000 images") != bt.normalise_text("6001 images")
    assert bt.normalise_text("/a/.venv/lib/python3.11/site-packages/x.py:3: W") == \
        bt.normalise_text("/b/env/lib/python3.11/site-packages/x.py:3: W")


def test_toc_entries_lists_root_and_chapters():
    entries = bt.toc_entries()
    assert entries[0] == "book/intro"
    assert "book/references" in entries


def test_glue_references_and_glued_values():
    nb = new_notebook(cells=[
        new_markdown_cell("We have {glue:text}`n:,d` images and {glue}`name` and {glue:text}`other.ipynb::k:.1f`."),
        new_code_cell("glue('n', 6000)", outputs=[new_output(
            "display_data", data={"application/papermill.record/text/plain": "6000"},
            metadata={"scrapbook": {"name": "n", "mime_prefix": "application/papermill.record/"}})]),
    ])
    assert list(bt.glue_references(nb)) == [
        ("text", "n:,d", "{glue:text}`n:,d`"), ("any", "name", "{glue}`name`"),
        ("text", "other.ipynb::k:.1f", "{glue:text}`other.ipynb::k:.1f`")]
    assert bt.glued(nb) == {"n": "6000"}


@pytest.mark.slow
def test_execution_fails_on_a_cell_error_and_skips_tagged_cells(tmp_path):
    good = write(new_notebook(cells=[
        new_code_cell("raise SystemExit('the Colab cell must not run')", metadata={"tags": ["skip-execution"]}),
        new_code_cell("x = 1", metadata={"tags": ["parameters"]}),
        new_code_cell("print(x + 1)"),
    ]), tmp_path / "good.ipynb")
    result = execute_notebooks.run_one(str(good), str(tmp_path / "good.out.ipynb"), {"x": 41}, "python3", 60)
    assert result["ok"], result["error"]
    out = json.loads((tmp_path / "good.out.ipynb").read_text())
    assert "42" in "".join(out["cells"][-1]["outputs"][0]["text"])  # the parameter was injected
    assert not out["cells"][0].get("outputs")  # the skip-execution cell did not run

    bad = write(new_notebook(cells=[new_code_cell("assert 1 + 1 == 3, 'arithmetic'")]), tmp_path / "bad.ipynb")
    result = execute_notebooks.run_one(str(bad), str(tmp_path / "bad.out.ipynb"), {}, "python3", 60)
    assert not result["ok"] and "AssertionError" in result["error"] and "arithmetic" in result["error"]
    assert (tmp_path / "bad.out.ipynb").is_file()  # papermill's copy with the error, not the source


def test_sync_keeps_outputs_and_strips_volatile_metadata(tmp_path, monkeypatch):
    executed_dir, source_dir = tmp_path / "executed", tmp_path / "notebooks"
    executed_dir.mkdir(), source_dir.mkdir()
    monkeypatch.setattr(bt, "EXECUTED_NOTEBOOKS", executed_dir)
    cells = [new_code_cell("n = 3", metadata={"tags": ["parameters"]}), new_code_cell("print(n)")]
    source = write(new_notebook(cells=cells), source_dir / "01_x.ipynb")

    ran = new_notebook(cells=[new_code_cell(c.source, metadata=dict(c.metadata)) for c in cells])
    ran.metadata["papermill"] = {"start_time": "2025-01-01T00:00:00", "duration": 1.5}
    ran.metadata["language_info"] = {"name": "python", "version": "3.11.7"}
    for count, cell in enumerate(ran.cells, start=1):
        cell.execution_count = count
        cell.metadata["papermill"] = {"duration": 0.1, "status": "completed"}
        cell.metadata["execution"] = {"iopub.execute_input": "2025-01-01T00:00:00"}
    ran.cells[1].outputs = [new_output("stream", name="stdout", text="3\n")]
    write(ran, executed_dir / "01_x.ipynb")

    assert sync_notebooks.main([str(source)]) == 0
    synced = json.loads(source.read_text())
    assert bt.text_of(synced["cells"][1]["outputs"][0]["text"]) == "3\n"
    assert "papermill" not in synced["metadata"] and "version" not in synced["metadata"]["language_info"]
    for cell in synced["cells"]:
        assert "papermill" not in cell["metadata"] and "execution" not in cell["metadata"]
        assert cell["execution_count"] is None

    # an edit made after the run is never overwritten
    edited = json.loads(source.read_text())
    edited["cells"][1]["source"] = "print(n * 2)"
    source.write_text(json.dumps(edited))
    assert sync_notebooks.main([str(source)]) == 1
    assert bt.text_of(json.loads(source.read_text())["cells"][1]["source"]) == "print(n * 2)"
