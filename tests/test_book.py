"""Checks of the built book in ``_build/html`` (``make book`` builds it; ``make test`` builds it first and sets
``SAT_BOOK_BUILT=1`` so that these tests fail, instead of skipping, when the build is missing)."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from functools import lru_cache
from pathlib import Path

import pytest
from bs4 import BeautifulSoup

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
import booktools as bt  # noqa: E402

pytestmark = pytest.mark.book

ENTRIES = bt.toc_entries()
NOTEBOOK_ENTRIES = [e for e in ENTRIES if e.startswith("notebooks/")]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def require_build() -> None:
    if not (bt.HTML / "index.html").is_file():
        message = "_build/html not built: run `make book` (or `make test`)"
        if os.environ.get("SAT_BOOK_BUILT") == "1":
            pytest.fail(message)
        pytest.skip(message)


def page_path(entry: str) -> Path:
    return bt.HTML / f"{entry}.html"


@lru_cache(maxsize=None)
def parse(path: Path) -> BeautifulSoup:
    return BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")


def soup(entry: str) -> BeautifulSoup:
    require_build()
    path = page_path(entry)
    assert path.is_file(), f"no page for {entry}"
    return parse(path)


def article(entry: str):
    node = soup(entry).find("article")
    assert node is not None, f"{entry}: no <article> (chapter body) in the page"
    return node


def source_text(entry: str) -> str:
    path = bt.source_of(entry)
    if path.suffix == ".ipynb":
        return "\n".join(bt.text_of(c["source"]) for c in bt.load(path)["cells"] if c["cell_type"] == "markdown")
    return path.read_text(encoding="utf-8")


def executed(entry: str) -> dict:
    path = bt.EXECUTED / f"{entry}.ipynb"
    if not path.is_file():
        pytest.fail(f"{path} missing although the book was built")
    return bt.load(path)


# ---------------------------------------------------------------------------------------------------- structure
@pytest.mark.parametrize("entry", ENTRIES)
def test_every_toc_entry_has_a_page_with_a_title(entry):
    require_build()
    assert page_path(entry).is_file(), f"{entry} is in _toc.yml but has no page in _build/html"
    heading = article(entry).find("h1")
    assert heading is not None and heading.get_text(strip=True), f"{entry}: no title"


def test_landing_page_redirects_to_the_intro():
    require_build()
    index = (bt.HTML / "index.html").read_text()
    assert f"{ENTRIES[0]}.html" in index


@pytest.mark.parametrize("entry", ENTRIES)
def test_no_error_output_or_markup_problem(entry):
    body = article(entry)
    assert not body.select("div.output.traceback"), f"{entry}: a traceback is shown"
    assert not body.select(".system-message, .problematic"), f"{entry}: a MyST/reST problem is rendered"
    for node in body.select("div.output.stderr"):
        text = node.get_text()
        assert not re.search(r"Traceback|\w*Error\b|\w*Warning\b", text), f"{entry}: stderr shows {text[:300]!r}"
    text = body.get_text()
    assert "Traceback (most recent call last)" not in text
    assert "{glue" not in text and "{cite" not in text and "{eq}" not in text, f"{entry}: an unrendered role"


@pytest.mark.parametrize("entry", ENTRIES)
def test_every_image_file_exists(entry):
    page = page_path(entry)
    for img in soup(entry).find_all("img"):
        src = img.get("src", "")
        if src.startswith(("data:", "http://", "https://")):
            continue
        target = (page.parent / src.split("#")[0].split("?")[0]).resolve()
        assert target.is_file() and target.stat().st_size > 0, f"{entry}: <img src={src!r}> missing"


@pytest.mark.parametrize("entry", NOTEBOOK_ENTRIES)
def test_every_plot_is_shown_as_a_captioned_figure(entry):
    nb = executed(entry)
    expected = 0
    for cell in nb["cells"]:
        if cell["cell_type"] != "code" or {"remove-cell", "remove-output"} & set(bt.tags(cell)):
            continue
        expected += sum(1 for o in cell.get("outputs", []) or []
                        if o.get("output_type") in ("display_data", "execute_result")
                        and any(m in o.get("data", {}) for m in bt.IMAGE_MIMES))
    body = article(entry)
    images = body.select("div.cell_output img")
    assert len(images) == expected, f"{entry}: {expected} image outputs executed, {len(images)} on the page"
    for img in images:
        figure = img.find_parent("figure")
        caption = figure.find("figcaption") if figure else None
        assert caption and caption.get_text(strip=True), (
            f"{entry}: an output image without caption (give the cell mystnb.figure caption/name metadata)")


# ------------------------------------------------------------------------------------ equations and citations
def math_labels(text: str) -> tuple[set[str], set[str]]:
    defined = set(re.findall(r"^\$\$\s*\((eq-[\w-]+)\)", text, re.M))
    defined |= set(re.findall(r":label:\s*(\S+)", text))
    referenced = set(re.findall(r"\{eq\}`([^`]+)`", text))
    return defined, referenced


@pytest.mark.parametrize("entry", ENTRIES)
def test_equations_are_rendered_and_numbered(entry):
    text = source_text(entry)
    body = article(entry)
    defined, _ = math_labels(text)
    if "$$" in text or "{math}" in text or "\\begin{" in text:
        assert body.select("div.math"), f"{entry}: display math in the source, no math container on the page"
    for label in defined:
        node = soup(entry).find(id=f"equation-{label}")
        assert node is not None, f"{entry}: equation {label} has no anchor"
        assert node.select_one("span.eqno"), f"{entry}: equation {label} is not numbered"


@pytest.mark.parametrize("entry", ENTRIES)
def test_equation_references_resolve(entry):
    _, referenced = math_labels(source_text(entry))
    links = [a.get("href", "") for a in article(entry).find_all("a")]
    for label in referenced:
        hits = [h for h in links if h.endswith(f"#equation-{label}")]
        assert hits, f"{entry}: {{eq}}`{label}` did not become a link"
        target_page = (page_path(entry).parent / hits[0].split("#")[0]).resolve() if hits[0].split("#")[0] \
            else page_path(entry)
        target = parse(target_page)
        assert target.find(id=f"equation-{label}"), f"{entry}: {{eq}}`{label}` points at no equation"


def test_there_are_numbered_equations():
    require_build()
    assert sum(len(article(e).select("span.eqno")) for e in ENTRIES) >= 5


@pytest.mark.parametrize("entry", ENTRIES)
def test_citations_resolve(entry):
    text = source_text(entry)
    keys = [k.strip() for group in re.findall(r"\{cite(?::[a-z]+)?\}`([^`]+)`", text) for k in group.split(",")]
    body = article(entry)
    assert "[?]" not in body.get_text() and "??" not in body.get_text()
    assert not body.select("span.xref.cite"), f"{entry}: unresolved citation"
    cites = [a for a in body.find_all("a", href=True) if "references.html#" in a["href"] or
             (entry == "book/references" and a["href"].startswith("#"))]
    if keys:
        assert cites, f"{entry}: cites {keys} but no citation links"
    for a in cites:
        page, _, anchor = a["href"].partition("#")
        target = (page_path(entry).parent / page).resolve() if page else page_path(entry)
        assert parse(target).find(id=anchor), f"{entry}: {a['href']} dangles"


def test_bibliography_lists_the_cited_works():
    require_build()
    body = article("book/references")
    entries = body.select("div.citation, dl.citation > dt, .bibliography > *")
    assert len(entries) >= 10, "the bibliography page lists too few works"
    text = body.get_text()
    for needle in ("Show, attend and tell", "Deep visual-semantic alignments", "ranking task"):
        assert needle.lower() in text.lower()


# ----------------------------------------------------------------------------------------------------- glue
TYPOGRAPHIC_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'})


@pytest.mark.parametrize("entry", ENTRIES)
def test_glued_values_appear_in_the_prose(entry):
    from myst_nb.core.variables import format_plain_text

    if entry.startswith("notebooks/"):
        references = list(bt.glue_references(executed(entry)))
        here = executed(entry)
    else:
        references, here = list(bt.glue_references(source_text(entry))), None
    # Sphinx's smartquotes set the page's apostrophes and quotes typographically; compare them as typed
    text = " ".join(article(entry).get_text().split()).translate(TYPOGRAPHIC_QUOTES)
    for kind, body, raw in references:
        if "::" in body:  # another notebook, relative to this page; its executed copy holds the values
            path, _, body = body.partition("::")
            values = bt.glued(bt.load(Path(os.path.normpath(bt.EXECUTED / Path(entry).parent / path))))
        else:
            assert here is not None, f"{entry}: {raw} in a markdown page needs a path:: prefix"
            values = bt.glued(here)
        key, fmt = body.rsplit(":", 1) if kind == "text" and ":" in body else (body, "")
        assert key in values, f"{entry}: {raw} names no glued value"
        shown = format_plain_text(values[key], fmt) if kind == "text" else values[key].strip("'\"")
        assert shown.translate(TYPOGRAPHIC_QUOTES) in text, f"{entry}: {raw} should show {shown!r}"
    spans = article(entry).select(".pasted-text, .pasted-inline")
    assert len(spans) >= len([r for r in references if r[0] in ("text", "any")])


# -------------------------------------------------------------------------------------- launch and download
@pytest.mark.parametrize("entry", NOTEBOOK_ENTRIES)
def test_launch_and_download_buttons(entry):
    import yaml

    config = yaml.safe_load((bt.ROOT / "_config.yml").read_text())
    repo = config["repository"]["url"].removeprefix("https://github.com/").rstrip("/")
    branch = config["repository"].get("branch", "main")
    hrefs = [a.get("href", "") for a in soup(entry).find_all("a")]
    colab = f"https://colab.research.google.com/github/{repo}/blob/{branch}/{entry}.ipynb"
    assert colab in hrefs, f"{entry}: no Colab launch button to {colab}"
    assert any(h.endswith(f"{Path(entry).name}.ipynb") and "_sources" in h for h in hrefs), "no .ipynb download"
    assert bt.source_of(entry).is_file()  # the launch button points at a committed notebook


@pytest.mark.parametrize("entry", NOTEBOOK_ENTRIES)
def test_colab_setup_cell_is_hidden(entry):
    assert "sat data download" not in article(entry).get_text()


# ----------------------------------------------------------------------------------------------------- links
def test_internal_links_with_linkchecker():
    require_build()
    linkchecker = Path(sys.executable).with_name("linkchecker")
    with tempfile.TemporaryDirectory() as home:
        result = subprocess.run(
            [str(linkchecker), "--no-warnings", "--no-status", "--ignore-url=^https?:", "--ignore-url=^mailto:",
             "--recursion-level=3", "--threads=2", "-o", "text", str(bt.HTML / "index.html")],
            capture_output=True, text=True, timeout=600, env={**os.environ, "HOME": home},
        )
    assert result.returncode == 0, f"broken internal links:\n{result.stdout[-4000:]}\n{result.stderr[-2000:]}"
    assert "0 errors found" in result.stdout or "no errors" in result.stdout.lower(), result.stdout[-2000:]


@pytest.mark.parametrize("entry", ENTRIES)
def test_in_page_anchors_exist(entry):
    # LinkChecker does not check #fragments: every same-site fragment must name an id on its target page.
    page = page_path(entry)
    for a in article(entry).find_all("a", href=True):
        href = a["href"]
        if href.startswith(("http:", "https:", "mailto:")) or "#" not in href:
            continue
        path, _, anchor = href.partition("#")
        target = (page.parent / path).resolve() if path else page
        if not anchor:
            continue
        assert target.is_file(), f"{entry}: {href} -> missing page"
        assert parse(target).find(id=anchor), f"{entry}: {href} -> no #{anchor}"


# ---------------------------------------------------------------------------------------------- real browser
def dump_dom(url: str, profile: str) -> str:
    result = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
         f"--user-data-dir={profile}", "--virtual-time-budget=15000", "--dump-dom", url],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, f"chromium failed on {url}: {result.stderr[-1500:]}"
    return result.stdout


@pytest.mark.parametrize("entry", ENTRIES)
def test_page_renders_in_headless_chromium(entry, tmp_path):
    require_build()
    if CHROMIUM is None:
        pytest.fail("chromium is not installed (`make test` installs Debian's chromium when root)")
    dom = BeautifulSoup(dump_dom(page_path(entry).as_uri(), str(tmp_path / "profile")), "html.parser")
    main = dom.find("article") or dom.find("main")
    assert main is not None, f"{entry}: the browser shows no chapter body"
    body = " ".join(main.get_text().split())
    assert len(body) > 200, f"{entry}: chapter body nearly empty in the browser ({len(body)} characters)"
    title = article(entry).find("h1").get_text(strip=True).rstrip("#")
    assert title[:30] in body
    if article(entry).select("div.math, span.math"):
        # MathJax (vendored, offline) replaced the TeX source with rendered equations
        assert dom.find("mjx-container") is not None, f"{entry}: MathJax did not render the equations"
