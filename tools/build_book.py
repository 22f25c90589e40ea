#!/usr/bin/env python
"""Build the HTML book from the executed notebooks: ``_build/stage/`` -> ``_build/html/``.

1. Stage: ``_config.yml``, ``_toc.yml``, ``book/`` and the executed ``_build/executed/notebooks/`` (papermill's output,
   plus every file the notebooks wrote) are copied to ``_build/stage/``. A notebook listed in ``_toc.yml`` without an
   executed copy is an error (run ``make execute``): the book never shows unexecuted sources.
2. MathJax 3 for offline reading: vendored once from npm (``mathjax@MATHJAX_VERSION``) into ``.cache/mathjax`` and
   staged as ``_static/mathjax/``; the staged ``_config.yml`` points ``mathjax_path`` at it. Without npm the book falls
   back to the CDN (a notice, not an error). ``SAT_MATHJAX=cdn`` skips the vendoring.
3. ``jupyter-book build _build/stage --path-output . --all -W -n --keep-going``: zero warnings, output ``_build/html``.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import booktools as bt  # noqa: E402

MATHJAX_VERSION = "3.2.2"
MATHJAX_ENTRY = "tex-mml-chtml.js"  # Sphinx 7's default component
# Parts of MathJax's es5/ folder that tex-mml-chtml.js may load (the other combined builds and the speech engine are
# left out: 24 MB -> about 6 MB).
MATHJAX_KEEP = (MATHJAX_ENTRY, "input/", "output/chtml", "output/chtml.js", "a11y/", "ui/", "adaptors/", "core.js",
                "loader.js", "startup.js")


def vendor_mathjax() -> Path | None:
    """``.cache/mathjax/<version>/`` holding MathJax's es5 files, fetched with ``npm pack`` if missing; None if it fails."""
    cache = Path(os.environ.get("SAT_CACHE", bt.ROOT / ".cache")) / "mathjax" / MATHJAX_VERSION
    if (cache / MATHJAX_ENTRY).is_file():
        return cache
    npm = shutil.which("npm")
    if not npm:
        print("build_book: npm not found; the book loads MathJax from its CDN when read")
        return None
    download = cache.parent / "download"
    download.mkdir(parents=True, exist_ok=True)
    try:
        subprocess.run([npm, "pack", f"mathjax@{MATHJAX_VERSION}", "--silent"], cwd=download, check=True,
                       stdout=subprocess.DEVNULL, timeout=300)
        archive = download / f"mathjax-{MATHJAX_VERSION}.tgz"
        tmp = cache.with_name(cache.name + ".partial")
        shutil.rmtree(tmp, ignore_errors=True)
        with tarfile.open(archive) as tar:
            for member in tar.getmembers():
                name = member.name.removeprefix("package/es5/")
                if member.isfile() and name != member.name and name.startswith(MATHJAX_KEEP):
                    member.name = name
                    tar.extract(member, tmp, filter="data")
        tmp.rename(cache)
        archive.unlink()
        return cache
    except (subprocess.SubprocessError, OSError, tarfile.TarError) as err:
        print(f"build_book: could not vendor MathJax from npm ({err}); the book loads it from its CDN when read")
        return None


def sync_tree(src: Path, dst: Path, skip_suffix: tuple[str, ...] = ()) -> None:
    """Make ``dst`` a copy of ``src`` (files compared by size and mtime; extra files removed)."""
    dst.mkdir(parents=True, exist_ok=True)
    wanted = set()
    for path in src.rglob("*"):
        rel = path.relative_to(src)
        if path.is_dir() or path.suffix in skip_suffix or ".ipynb_checkpoints" in rel.parts or rel.parts[0] == ".keys":
            continue
        wanted.add(rel)
        target = dst / rel
        stat = path.stat()
        if target.is_file() and target.stat().st_size == stat.st_size and target.stat().st_mtime == stat.st_mtime:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    for path in sorted(dst.rglob("*"), reverse=True):
        rel = path.relative_to(dst)
        if path.is_file() and rel not in wanted:
            path.unlink()
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()


def stage(mathjax: Path | None) -> Path:
    bt.STAGE.mkdir(parents=True, exist_ok=True)
    missing = []
    for entry in bt.toc_entries():
        if entry.startswith("notebooks/"):
            if not (bt.EXECUTED / f"{entry}.ipynb").is_file():
                missing.append(f"{entry}.ipynb")
        elif bt.source_of(entry) is None:
            missing.append(f"{entry}(.md|.ipynb)")
    if missing:
        sys.exit("build_book: no executed copy / source for toc entries: " + ", ".join(missing)
                 + " (run `make execute`, or fix _toc.yml)")

    config = yaml.safe_load((bt.ROOT / "_config.yml").read_text())
    if mathjax is not None:
        sphinx_config = config.setdefault("sphinx", {}).setdefault("config", {}) or {}
        config["sphinx"]["config"] = sphinx_config
        sphinx_config["mathjax_path"] = f"mathjax/{MATHJAX_ENTRY}"
        sphinx_config["html_static_path"] = ["_vendor"]
    new_config = "# generated by tools/build_book.py from ../../_config.yml\n" + yaml.safe_dump(config, sort_keys=False)
    config_file = bt.STAGE / "_config.yml"
    if not config_file.is_file() or config_file.read_text() != new_config:
        config_file.write_text(new_config)
    shutil.copy2(bt.TOC, bt.STAGE / "_toc.yml")
    sync_tree(bt.ROOT / "book", bt.STAGE / "book")
    sync_tree(bt.EXECUTED_NOTEBOOKS, bt.STAGE / "notebooks")
    if mathjax is not None:
        sync_tree(mathjax, bt.STAGE / "_vendor" / "mathjax")
    else:
        shutil.rmtree(bt.STAGE / "_vendor", ignore_errors=True)
    return bt.STAGE


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--no-strict", action="store_true", help="drop -W -n (for a quick look while writing)")
    args = parser.parse_args(argv)

    start = time.monotonic()
    mathjax = None if os.environ.get("SAT_MATHJAX") == "cdn" else vendor_mathjax()
    stage(mathjax)
    jb = Path(sys.executable).with_name("jupyter-book")
    command = [str(jb), "build", str(bt.STAGE), "--path-output", str(bt.ROOT), "--builder", "html", "--all"]
    if not args.no_strict:
        command += ["-W", "-n", "--keep-going"]
    shutil.rmtree(bt.HTML, ignore_errors=True)  # no pages left over from chapters that were renamed or removed
    print("build_book: " + " ".join(command), flush=True)
    result = subprocess.run(command, cwd=bt.ROOT)
    if result.returncode:
        print("build_book: jupyter-book build FAILED (warnings are errors; see above)", file=sys.stderr)
        return result.returncode
    print(f"build_book: {bt.HTML.relative_to(bt.ROOT)}/index.html in {time.monotonic() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
