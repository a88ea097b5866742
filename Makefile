# Two commands set up everything on a fresh machine:
#   make book   create .venv, install, build the book into _build/html (executing every notebook)
#   make test   create .venv if needed, run the tests and execute every notebook
# Re-running is fast: the install step re-runs only when requirements.txt or pyproject.toml change.
# The book reads offline: MathJax and 3Dmol.js come from the npm registry into _build/_static_vendor
# (`make vendor`) and are served from the book's own _static; without npm it falls back to a CDN.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
JB     := $(VENV)/bin/jupyter-book
STAMP  := $(VENV)/.installed
# torch-scatter has no wheel on PyPI; it is built against the installed torch (about 4 min on 2 cores,
# then cached by pip). minignn works without it: `make TORCH_SCATTER= test` skips it.
TORCH_SCATTER ?= torch-scatter==2.1.2
NOTEBOOKS := $(filter-out %.nbmake.ipynb,$(wildcard book/*.ipynb))

# The book's own Sphinx extensions (book/_ext, see _config.yml): on the path whichever config file
# the build reads (Jupyter Book resolves local_extensions relative to the config file, and CI's is
# under _build/).
BOOK_ENV := PYTHONPATH=book/_ext$${PYTHONPATH:+:$$PYTHONPATH}
# MathJax 3 (TeX input, CHTML output, its own woff fonts) and 3Dmol.js of the version py3Dmol embeds.
MATHJAX_VERSION   ?= 3.2.2
# reveal.js for the slides (`make slides`), copied from npm with them.
REVEAL_VERSION    ?= 5.2.1
THREEDMOL_VERSION := $(shell sed -n 's/^py3Dmol==//p' requirements.txt)
VENDOR_DIR        := _build/_static_vendor
# Execution time of each notebook, measured by `make test` (nbmake), shown under each chapter title.
RUNTIMES          := _build/runtimes.json
# The browser test drives Debian's Chromium (/usr/bin/chromium, or CHROMIUM=...) with Playwright;
# it never downloads a browser of its own.  Its accessibility check runs axe-core from the axe.min.js
# that the axe-playwright-python wheel ships.
PLAYWRIGHT ?= playwright==1.65.2
AXE_PLAYWRIGHT ?= axe-playwright-python==0.1.8
BROWSER_STAMP := $(VENV)/.installed-$(PLAYWRIGHT)-$(AXE_PLAYWRIGHT)

.PHONY: help install vendor book book-ci slides test test-notebooks browser-test workshop check-setup clean

help:
	@echo "make book            build the book into _build/html (creates .venv on first use)"
	@echo "make test            run tests/ and execute every notebook of the book (timing each one)"
	@echo "make test-notebooks  only execute (and time) every notebook"
	@echo "make slides          _build/slides/<chapter>.html: a reveal.js deck per chapter, offline"
	@echo "make browser-test    open every page of the built book and every deck in Chromium with no"
	@echo "                     network, and axe-core's accessibility rules on each (screenshots in"
	@echo "                     _build/screenshots)"
	@echo "make workshop        workshop/<chapter>.ipynb: the exercises with stubs, the checks kept, no MyST"
	@echo "make check-setup     is everything the book needs here? (offline, seconds; python -m minignn.doctor)"
	@echo "make clean           remove _build (keeps .venv)"

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): requirements.txt pyproject.toml | $(PY)
	$(PIP) install $$(grep -E '^torch==' requirements.txt)
	$(PIP) install setuptools wheel $$(grep -E '^numpy==' requirements.txt)
	@if [ -n "$(TORCH_SCATTER)" ]; then \
		echo "Building $(TORCH_SCATTER) against the installed torch (about 4 minutes the first time)"; \
		$(PIP) install --no-build-isolation $(TORCH_SCATTER); \
	fi
	$(PIP) install -r requirements.txt
	$(PIP) install --no-deps -e .
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3"
	touch $@

install: $(STAMP)

# MathJax, 3Dmol.js and reveal.js for offline reading (git-ignored copy; needs npm, else the book
# uses a CDN and `make slides` stops, saying so).
vendor:
	@bash .ci/vendor_assets.sh $(VENDOR_DIR) $(MATHJAX_VERSION) $(THREEDMOL_VERSION) $(REVEAL_VERSION) $(VENDOR_REQUIRED)

book: $(STAMP) vendor
	$(BOOK_ENV) $(JB) build .
	@echo "The book is at file://$(CURDIR)/_build/html/index.html"

# CI: the notebooks were already executed (in place) by `make test NBMAKE_FLAGS=--overwrite`;
# build from those outputs with warnings as errors. The offline copy of MathJax and 3Dmol.js is
# required here (CI has npm): a book that would need a CDN fails.
book-ci: $(STAMP)
	@$(MAKE) --no-print-directory vendor VENDOR_REQUIRED=--required
	@mkdir -p _build
	sed -e 's/^\(\s*execute_notebooks:\).*/\1 "off"/' _config.yml > _build/_config_ci.yml
	$(BOOK_ENV) $(JB) build . --config _build/_config_ci.yml -W -n --keep-going
	@echo "The book is at file://$(CURDIR)/_build/html/index.html"

# One reveal.js deck per chapter (tools/slides.py), from the notebooks' outputs (CI: executed in place
# by `make test NBMAKE_FLAGS=--overwrite`), else from _build/jupyter_execute (`make book`), else executing
# them. reveal.js and MathJax come from `make vendor` and are copied into _build/slides/_assets.
# SLIDES_CHAPTERS="book/graphs.ipynb ..." builds only those decks.
SLIDES_CHAPTERS ?=
slides: $(STAMP)
	@$(MAKE) --no-print-directory vendor
	$(BOOK_ENV) $(PY) tools/slides.py --out _build/slides $(SLIDES_CHAPTERS)

NBMAKE_FLAGS ?=
test: $(STAMP)
	$(PY) -m pytest tests --ignore=tests/browser
	MINIGNN_NO_TORCH_SCATTER=1 $(PY) -m pytest -q $(wildcard tests/test_scatter.py tests/test_mpnn.py)
	@$(MAKE) --no-print-directory test-notebooks

# Every notebook executed by nbmake; the plugin book/_ext/nb_runtimes.py writes how long each took.
test-notebooks: $(STAMP)
	$(BOOK_ENV) $(PY) -m pytest -p nb_runtimes --nb-runtimes=$(RUNTIMES) --nbmake --nbmake-timeout=300 $(NBMAKE_FLAGS) $(NOTEBOOKS)

$(BROWSER_STAMP): $(STAMP)
	$(PIP) install $(PLAYWRIGHT) $(AXE_PLAYWRIGHT)
	touch $@

# After `make book` or `make book-ci`, and `make slides`: every page of _build/html and every deck of
# _build/slides in Chromium with no network, and axe-core on each (no serious or critical violation).
browser-test: $(BROWSER_STAMP)
	MINIGNN_BROWSER_TEST_REQUIRED=1 $(PY) -m pytest tests/browser --confcutdir=tests/browser

# One notebook per chapter for participants: solution cells replaced by stubs, check cells kept.
workshop: $(STAMP)
	$(PY) tools/workshop.py --out workshop

# Before a workshop: imports, data and checkpoints, checked offline; says what is missing and how to fix it.
check-setup: $(STAMP)
	$(PY) -m minignn.doctor

clean:
	rm -rf _build
