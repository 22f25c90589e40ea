# sat — two commands on a fresh machine:
#
#   make book   execute every notebook with papermill (into _build/executed/) and build the HTML book (_build/html)
#   make test   `make book`, then the whole pytest suite: unit tests and the checks of the notebooks and of the HTML
#
# Both set everything up by themselves: a virtual environment in .venv (pinned by constraints.txt), the package in
# editable mode with its `dev` and `book` extras, a Jupyter kernel named `python3` inside the venv, a Java runtime
# (METEOR) and Debian's chromium (page rendering test), installed with apt-get when missing and we are root.
# Re-running does not reinstall: the install is keyed on the contents of pyproject.toml and constraints.txt.
#
# Other targets: make install | unit | execute | html | check | sync-notebooks | clean | distclean | help

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python

# Install stamp: one file per (pyproject.toml, constraints.txt) content.
INSTALL_KEY := $(shell cat pyproject.toml constraints.txt 2>/dev/null | sha256sum | cut -c1-16)
STAMP       := $(VENV)/.sat-install-$(INSTALL_KEY)

# Data: ../shared/data when it exists (development and CI read Flickr8k there; never copy images into the repo).
ifeq ($(origin SAT_DATA),undefined)
  ifneq ($(wildcard $(CURDIR)/../shared/data),)
    SAT_DATA := $(abspath $(CURDIR)/../shared/data)
  endif
endif
ifdef SAT_DATA
  export SAT_DATA
endif
SAT_CACHE ?= $(CURDIR)/.cache
export SAT_CACHE

# Notebooks: papermill options (see `$(PY) tools/execute_notebooks.py --help`); e.g. make book NOTEBOOKS=notebooks/02_data.ipynb
NOTEBOOKS ?=
EXECUTE_FLAGS ?=
PYTEST_FLAGS ?=

# Kernel and libraries: no stray GUI backends, no debugger warnings in cell output, tqdm without widgets.
export PYDEVD_DISABLE_FILE_VALIDATION := 1
export JUPYTER_PLATFORM_DIRS := 1
export PYTHONHASHSEED := 0

APT := DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600

.PHONY: help install sysdeps features unit execute html book check test sync-notebooks clean distclean

help:
	@sed -n '1,12p' Makefile | sed 's/^# \{0,1\}//'

# ---------------------------------------------------------------------------------------------------------------- install
$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml constraints.txt | $(PY)
	$(BIN)/pip install -c constraints.txt -e '.[dev,book]'
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (sat)"
	rm -f $(VENV)/.sat-install-*
	touch $@

install: $(STAMP) sysdeps

# Java for METEOR (pycocoevalcap); chromium for the headless page test. Installed only when missing and root.
sysdeps:
	@missing=""; \
	command -v java >/dev/null 2>&1 && java -version >/dev/null 2>&1 || missing="$$missing default-jre-headless"; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "sysdeps: installing$$missing"; \
	    $(APT) update -qq && $(APT) install -y -qq --no-install-recommends $$missing >/dev/null; \
	  else \
	    echo "sysdeps: WARNING: missing$$missing and not root; install them (apt-get install$$missing)" >&2; \
	  fi; \
	fi

# ------------------------------------------------------------------------------------------------------------------ tests
# For development: the unit tests only (everything not marked `book`).
unit: install
	$(BIN)/pytest -m "not book" $(PYTEST_FLAGS)

# The checks of the notebooks and of the built book (tests/test_book*.py, tests/test_notebooks*.py); SAT_BOOK_BUILT=1
# turns their "not built yet" skips into failures.
check: install
	SAT_BOOK_BUILT=1 $(BIN)/pytest $(PYTEST_FLAGS) tests/test_book*.py tests/test_notebooks*.py

# The whole suite: build the book (a failure there is reported, and the suite still runs so that every failing test is
# listed), then one pytest run over everything with SAT_BOOK_BUILT=1; the exit status is non-zero if either failed.
test: install
	rm -rf _build/html
	status=0; \
	$(MAKE) --no-print-directory book || { status=$$?; echo "make test: make book FAILED (see above)" >&2; }; \
	SAT_BOOK_BUILT=1 $(BIN)/pytest $(PYTEST_FLAGS) || status=$$?; \
	exit $$status

# ------------------------------------------------------------------------------------------------------------------- book
# papermill: notebooks/*.ipynb -> _build/executed/notebooks/*.ipynb (never over the sources); fails on any cell error.
execute: install features
	$(PY) tools/execute_notebooks.py $(EXECUTE_FLAGS) $(NOTEBOOKS)

# The chapters read Flickr8k's EfficientNet-Lite0 annotation vectors from the feature cache, of the images and of their
# mirror images: extract whatever is missing (all 8000 images twice the first time, several minutes each; nothing on
# later runs). Without Flickr8k, say so and go on. A model on another grid (the committed hard attention reads the
# 14×14 grid of efficientnet-lite0-os16) needs only the test split's features, which its chapters extract themselves.
features: install
	@if [ -n "$${SAT_DATA:-}" ] && [ -d "$${SAT_DATA}/flickr8k" ]; then \
	  $(BIN)/sat features --dataset flickr8k --quiet; \
	  $(BIN)/sat features --dataset flickr8k --hflip --quiet; \
	else \
	  echo "features: Flickr8k not found (set SAT_DATA to the folder holding flickr8k/); the chapters need it" >&2; \
	fi

# Jupyter Book 1.x from a staging copy that holds the executed notebooks; -W -n --keep-going: zero warnings.
html: install
	$(PY) tools/build_book.py

book: execute
	$(MAKE) --no-print-directory html

# Copy the executed notebooks back over the sources, outputs kept, volatile metadata stripped (commit the result).
sync-notebooks: install
	$(PY) tools/sync_notebooks.py $(NOTEBOOKS)

clean:
	rm -rf _build .pytest_cache

distclean: clean
	rm -rf $(VENV) .cache
