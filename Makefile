# The two commands of the README: `make demo` and `make test`.
# Each creates the virtual environment and installs what it needs on first use.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed-stamp

.PHONY: demo test lint bench tools clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

tools:
	@bash scripts/ensure-tools.sh

## Runs the embedded four-level exchange demo (local broker + SQLite under ./.edx).
demo: $(STAMP)
	$(BIN)/edx demo

## Runs every check: lint, types, layer contracts, then the whole test suite.
test: $(STAMP) tools
	bash scripts/run-tests.sh

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .edx .pytest_cache .mypy_cache .ruff_cache
