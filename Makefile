# Two commands for a newcomer: `make demo` (ingest the bundled samples) and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export PREFECT_HOME ?= $(CURDIR)/.prefect

.PHONY: demo test test-all lint bench fuzz samples clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/gazette ingest raw/samples --out output
	$(BIN)/gazette tables --out output
	$(BIN)/gazette validate --out output

test: $(STAMP)
	$(BIN)/pytest -q

test-all: $(STAMP)
	$(BIN)/pytest -q -m ''

lint: $(STAMP)
	$(BIN)/ruff check pipeline flows tests bench

bench: $(STAMP)
	$(BIN)/python bench/run.py

fuzz: $(STAMP)
	FUZZ_EXAMPLES=10000 $(BIN)/pytest -q -m fuzz tests/test_fuzz.py

samples: $(STAMP)
	$(BIN)/python -m tests.fixtures.build_gazette tests/data/seeds/002_5861feff4b853c8c.txt raw/samples/gz-2021-29.pdf

clean:
	rm -rf output/* .prefect .pytest_cache
