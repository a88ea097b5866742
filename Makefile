# Two commands set up everything on a fresh machine:
#   make book   create .venv, install, build the book into _build/html (executing every notebook)
#   make test   create .venv if needed, run the tests and execute every notebook
# Re-running is fast: the install step re-runs only when requirements.txt or pyproject.toml change.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.installed
# torch-scatter has no wheel on PyPI; it is built against the installed torch (about 4 min on 2 cores,
# then cached by pip). minignn works without it: `make TORCH_SCATTER= test` skips it.
TORCH_SCATTER ?= torch-scatter==2.1.2
NOTEBOOKS := $(filter-out %.nbmake.ipynb,$(wildcard book/*.ipynb))

.PHONY: help install book book-ci test test-notebooks clean

help:
	@echo "make book   build the book into _build/html (creates .venv on first use)"
	@echo "make test   run tests/ and execute every notebook of the book"
	@echo "make clean  remove _build (keeps .venv)"

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

book: $(STAMP)
	$(PY) -m jupyter_book build .
	@echo "The book is at file://$(CURDIR)/_build/html/index.html"

# CI: the notebooks were already executed (in place) by `make test NBMAKE_FLAGS=--overwrite`;
# build from those outputs with warnings as errors.
book-ci: $(STAMP)
	@mkdir -p _build
	sed -e 's/^\(\s*execute_notebooks:\).*/\1 "off"/' _config.yml > _build/_config_ci.yml
	$(PY) -m jupyter_book build . --config _build/_config_ci.yml -W -n --keep-going
	@echo "The book is at file://$(CURDIR)/_build/html/index.html"

NBMAKE_FLAGS ?=
test: $(STAMP)
	$(PY) -m pytest tests
	MINIGNN_NO_TORCH_SCATTER=1 $(PY) -m pytest -q $(wildcard tests/test_scatter.py tests/test_mpnn.py)
	$(PY) -m pytest --nbmake --nbmake-timeout=300 $(NBMAKE_FLAGS) $(NOTEBOOKS)

clean:
	rm -rf _build
