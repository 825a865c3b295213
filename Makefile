# The two commands of the README: `make demo` and `make test`.
# Each creates or updates .venv from pyproject.toml before it runs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
ARGS ?=

.PHONY: demo test deps lint venv clean bench fuzz

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/shailoo demo $(ARGS)

# The Debian packages the tests use: installed where this machine allows, or
# the one command to run is printed and make stops.
deps:
	scripts/system-deps

test: deps $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n 2 $(ARGS)

# The decoders' generated hostile input, long: 20,000 examples each instead of the
# suite's short run.
fuzz: $(STAMP)
	SHAILOO_FUZZ_PROFILE=long $(BIN)/python -m pytest -n 2 --timeout 7200 tests/fuzz $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
