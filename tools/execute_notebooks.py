#!/usr/bin/env python
"""Execute the book's notebooks with papermill: ``notebooks/X.ipynb`` -> ``_build/executed/notebooks/X.ipynb``.

Never writes over the sources. The kernel is the venv's ``python3`` and runs in ``_build/executed/notebooks/`` (files
a notebook writes land next to its executed copy, where the book build finds them; the static files committed next to
the sources are copied there first). Cells tagged ``skip-execution`` (the Colab set-up cell) are not run.

Exit status 1 if any cell of any notebook raises (every notebook is still attempted), with the failing cell's traceback
printed. An executed notebook is reused when nothing it depends on changed (its source, the parameters, the ``sat``
package, ``configs/``, ``checkpoints/``, ``results/``, this script, SAT_DATA); ``--force`` re-runs everything.

Parameters: none by default (notebooks run as committed). ``-p NAME VALUE`` passes one to every notebook;
``-f FILE.yaml`` maps notebook stems to parameter dicts (``{02_data: {n_samples: 4}}``, or ``'*'`` for all).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import booktools as bt  # noqa: E402

DEPENDENCIES = ("sat", "configs", "checkpoints", "results", "pyproject.toml", "tools/execute_notebooks.py")


def parse_value(text: str):
    import yaml

    return yaml.safe_load(text)


def cache_key(source: Path, parameters: dict, kernel: str, deps_hash: str) -> str:
    """What an execution depends on: the cells' sources and tags (not their outputs, so that syncing outputs back
    into the source does not invalidate the run), the parameters, the kernel, the package and data folder."""
    cells = [(c["cell_type"], bt.text_of(c.get("source")), bt.tags(c)) for c in bt.load(source)["cells"]]
    payload = json.dumps({"cells": cells, "parameters": parameters, "kernel": kernel, "deps": deps_hash,
                          "data": os.environ.get("SAT_DATA", "")}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


def copy_static_files() -> None:
    """Mirror the non-notebook files of notebooks/ (figures, small inputs) into the kernel's working folder."""
    for path in bt.NOTEBOOKS.rglob("*"):
        rel = path.relative_to(bt.NOTEBOOKS)
        if path.is_file() and path.suffix != ".ipynb" and ".ipynb_checkpoints" not in rel.parts:
            target = bt.EXECUTED_NOTEBOOKS / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)


def run_one(source: str, target: str, parameters: dict, kernel: str, timeout: int) -> dict:
    """Execute one notebook; returns ``{"ok", "seconds", "error"}`` (never raises: worker processes report)."""
    import papermill as pm

    start = time.monotonic()
    error = None
    try:
        pm.execute_notebook(
            source, target, parameters=parameters or None, kernel_name=kernel, cwd=str(Path(target).parent),
            progress_bar=False, log_output=False, request_save_on_cell_execute=False, execution_timeout=timeout,
            start_timeout=120,
        )
    except pm.PapermillExecutionError as err:
        tb = bt.normalise_text("\n".join(err.traceback)) if err.traceback else ""
        error = f"cell {err.exec_count} raised {err.ename}: {err.evalue}\n{tb}"
    except Exception as err:  # kernel died, timeout, bad notebook JSON...
        error = f"{type(err).__name__}: {err}"
    if error is None:  # belt and braces: an error output that papermill let through
        nb = bt.load(Path(target))
        for index, cell in enumerate(nb["cells"]):
            for out in cell.get("outputs", []) or []:
                if out.get("output_type") == "error":
                    error = f"cell {index} has an error output: {out.get('ename')}: {out.get('evalue')}"
    return {"ok": error is None, "seconds": round(time.monotonic() - start, 1), "error": error}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: notebooks/*.ipynb")
    parser.add_argument("-k", "--kernel", default="python3")
    parser.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"))
    parser.add_argument("-f", "--parameters-file", type=Path)
    parser.add_argument("-j", "--jobs", type=int, default=int(os.environ.get("SAT_NOTEBOOK_JOBS", "1")))
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per cell (default 1800)")
    parser.add_argument("--force", action="store_true", default=bool(os.environ.get("SAT_FORCE_EXECUTE")),
                        help="re-run notebooks whose executed copy is up to date (env SAT_FORCE_EXECUTE=1)")
    args = parser.parse_args(argv)

    sources = [p.resolve() for p in args.notebooks] or bt.source_notebooks()
    if not sources:
        print("execute_notebooks: no notebooks in notebooks/")
        return 0
    for path in sources:
        if not path.is_file() or path.parent != bt.NOTEBOOKS:
            parser.error(f"{path}: not a notebook in {bt.NOTEBOOKS}")

    per_notebook: dict = {}
    if args.parameters_file:
        per_notebook = parse_value(args.parameters_file.read_text()) or {}
    common = {name: parse_value(value) for name, value in args.parameter}

    bt.EXECUTED_NOTEBOOKS.mkdir(parents=True, exist_ok=True)
    if not args.notebooks:  # forget executed copies of notebooks that no longer exist
        for old in bt.EXECUTED_NOTEBOOKS.glob("*.ipynb"):
            if not (bt.NOTEBOOKS / old.name).is_file():
                old.unlink()
    copy_static_files()
    keys_dir = bt.EXECUTED / ".keys"
    keys_dir.mkdir(exist_ok=True)
    deps_hash = bt.sha256_of(bt.files_under(*DEPENDENCIES))

    todo, results = [], {}
    for source in sources:
        parameters = {**(per_notebook.get("*") or {}), **(per_notebook.get(source.stem) or {}), **common}
        target = bt.EXECUTED_NOTEBOOKS / source.name
        key = cache_key(source, parameters, args.kernel, deps_hash)
        key_file = keys_dir / f"{source.stem}.key"
        if (not args.force and target.is_file() and key_file.is_file() and key_file.read_text() == key):
            print(f"  {source.name}: up to date (reused {target.relative_to(bt.ROOT)}; --force to re-run)")
            continue
        key_file.unlink(missing_ok=True)
        todo.append((source, target, parameters, key, key_file))

    timings_file = bt.EXECUTED / "timings.json"
    timings = json.loads(timings_file.read_text()) if timings_file.is_file() else {}
    started = time.monotonic()
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = {}
        for source, target, parameters, key, key_file in todo:
            print(f"  {source.name}: executing -> {target.relative_to(bt.ROOT)}", flush=True)
            futures[source.name] = (pool.submit(run_one, str(source), str(target), parameters, args.kernel,
                                                args.timeout), key, key_file)
        for name, (future, key, key_file) in futures.items():
            result = future.result()
            results[name] = result
            timings[name] = result["seconds"]
            if result["ok"]:
                key_file.write_text(key)
                print(f"  {name}: ok in {result['seconds']:.0f} s", flush=True)
            else:
                print(f"  {name}: FAILED after {result['seconds']:.0f} s\n{result['error']}", file=sys.stderr, flush=True)
    timings_file.write_text(json.dumps(timings, indent=1, sort_keys=True))

    failed = [name for name, r in results.items() if not r["ok"]]
    print(f"execute_notebooks: {len(todo)} executed, {len(sources) - len(todo)} reused, {len(failed)} failed "
          f"in {time.monotonic() - started:.0f} s")
    if failed:
        print("execute_notebooks: FAILED: " + ", ".join(failed) + f" (executed copies with the error cells are in "
              f"{bt.EXECUTED_NOTEBOOKS.relative_to(bt.ROOT)})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
