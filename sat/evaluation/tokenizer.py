"""The coco-caption tokenisation: Stanford's PTB tokenizer (Java), lower-cased, punctuation removed.

This is what ``pycocoevalcap``'s ``PTBTokenizer`` does, called directly on standard input so that nothing is written
into the installed package (which may be read-only) and the tokenizer's progress message stays off the terminal.
Without Java, :class:`JavaNotFoundError` says how to install it; :func:`simple_tokenize` is the pure-Python stand-in
used for fast BLEU during training.
"""
from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from ..data.records import tokenize

# pycocoevalcap/tokenizer/ptbtokenizer.py: tokens dropped after tokenisation (kept verbatim, case included: the
# lower-cased "-lrb-" stays in, exactly as in the official scorer).
PUNCTUATIONS = {"''", "'", "``", "`", "-LRB-", "-RRB-", "-LCB-", "-RCB-",
                ".", "?", "!", ",", ":", "-", "--", "...", ";"}
CORENLP_JAR = "stanford-corenlp-3.4.1.jar"


class JavaNotFoundError(RuntimeError):
    """No working ``java`` on the PATH; the message is one line saying what to install."""


def require_java(purpose: str) -> str:
    """The path of ``java``, or :class:`JavaNotFoundError` naming ``purpose`` and how to install a JRE."""
    java = shutil.which("java")
    if java is None:
        raise JavaNotFoundError(
            f"{purpose} needs Java, which is not installed: install a JRE (e.g. `apt-get install "
            f"default-jre-headless`, or `make install` as root), or score BLEU/ROUGE-L/CIDEr without it "
            "(fast=True, no METEOR)")
    return java


def _jar(name: str, package: str) -> Path:
    import importlib.util

    spec = importlib.util.find_spec(f"pycocoevalcap.{package}")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("the coco-caption scorer is missing: pip install pycocoevalcap")
    return Path(list(spec.submodule_search_locations)[0]) / name


def ptb_tokenize(sentences: Sequence[str]) -> list[str]:
    """Each sentence tokenised as coco-caption does: one Java run for all of them; returns space-joined tokens."""
    if not sentences:
        return []
    java = require_java("the PTB tokenizer of the coco-caption scorer")
    text = "\n".join(" ".join(s.split()) for s in sentences) + "\n"  # one sentence per line, no stray newlines
    command = [java, "-cp", str(_jar(CORENLP_JAR, "tokenizer")), "edu.stanford.nlp.process.PTBTokenizer",
               "-preserveLines", "-lowerCase", "-encoding", "utf-8"]
    done = subprocess.run(command, input=text.encode("utf-8"), capture_output=True, check=False)
    lines = done.stdout.decode("utf-8").split("\n")
    if done.returncode != 0 or len(lines) < len(sentences):
        reason = " ".join(done.stderr.decode("utf-8", "replace").split())[-300:]
        raise RuntimeError(f"the PTB tokenizer failed (exit {done.returncode}, {len(lines)} lines for "
                           f"{len(sentences)} sentences): {reason}")
    return [" ".join(w for w in line.split() if w not in PUNCTUATIONS) for line in lines[: len(sentences)]]


def simple_tokenize(sentences: Sequence[str]) -> list[str]:
    """Pure-Python stand-in for :func:`ptb_tokenize`: the lower-cased alphanumeric tokens of each sentence."""
    return [" ".join(tokenize(s)) for s in sentences]
