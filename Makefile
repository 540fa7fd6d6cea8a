# EndoFuse: `make run` starts the viewer on the built-in demo pair, `make test` runs the tests.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

.PHONY: install run demo test lint bench clean reference-images

install: $(STAMP)

# torch 2.13.0 first (CPU build where available), then the project with its test extras.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "torch==2.13.0"
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $(STAMP)

run: install
	$(BIN)/endofuse-viewer --demo

demo: install
	$(BIN)/endofuse demo --out out/demo

test: install
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest

# rewrite tests/reference_images/*.png after a deliberate change of the window's design
reference-images: install
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m tests.rendered_states --update

lint: install
	$(BIN)/ruff check app engine tests bench

bench: install
	$(BIN)/python bench/palm.py

clean:
	rm -rf $(VENV) build dist out .pytest_cache
