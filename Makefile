# Two commands for a newcomer: `make demo` (ingest the bundled samples) and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# every package of the runtime and the dev extra, pinned with hashes; `make lock` writes it
LOCK := requirements.lock
PIP_VERSION := 26.3
UV_VERSION := 0.13.8
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export PREFECT_HOME ?= $(CURDIR)/.prefect

.PHONY: demo test test-all lint bench fuzz samples clean lock lock-upgrade

# A fresh venv (--clear) holding exactly the lock: nothing left over from an older set.
# The project itself goes in without dependencies, so only the lock's versions are installed;
# pip check fails the install when pyproject.toml asks for something the lock lacks.
$(STAMP): $(LOCK) pyproject.toml
	$(PY) -m venv --clear $(VENV)
	$(BIN)/pip install --quiet pip==$(PIP_VERSION)
	$(BIN)/pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/pip install --quiet --no-deps -e .
	$(BIN)/pip check
	touch $(STAMP)

# Re-resolve the lock from pyproject.toml, keeping the pinned versions that still fit;
# `make lock-upgrade` moves every package to the newest version allowed. uv runs from a
# throwaway venv so the project's own venv stays exactly the lock; the lock is rewritten
# only when it changed (a rewrite rebuilds the venv). Run `make test` after.
lock:
	tools=$$(mktemp -d) && trap 'rm -rf "$$tools"' EXIT && \
	$(PY) -m venv "$$tools" && "$$tools/bin/pip" install --quiet uv==$(UV_VERSION) && \
	{ [ ! -f $(LOCK) ] || cp $(LOCK) "$$tools/lock"; } && \
	"$$tools/bin/uv" pip compile pyproject.toml --extra dev --python-version 3.11 --generate-hashes \
	  --custom-compile-command 'make lock' --quiet $(LOCK_FLAGS) -o "$$tools/lock" && \
	{ cmp -s "$$tools/lock" $(LOCK) || cp "$$tools/lock" $(LOCK); }

lock-upgrade:
	$(MAKE) lock LOCK_FLAGS=--upgrade

demo: $(STAMP)
	$(BIN)/gazette ingest raw/samples --out output
	$(BIN)/gazette tables --out output
	$(BIN)/gazette validate --out output

test: $(STAMP)
	$(BIN)/lint-imports
	$(BIN)/deptry .
	$(BIN)/pytest -q

test-all: $(STAMP)
	$(BIN)/pytest -q -m ''

lint: $(STAMP)
	$(BIN)/ruff check gazette pipeline flows tests bench

bench: $(STAMP)
	$(BIN)/python bench/run.py

fuzz: $(STAMP)
	FUZZ_EXAMPLES=10000 $(BIN)/pytest -q -m fuzz tests/test_fuzz.py

samples: $(STAMP)
	$(BIN)/python -m tests.fixtures.build_gazette tests/data/seeds/002_5861feff4b853c8c.txt raw/samples/gz-2021-29.pdf

clean:
	rm -rf output/* .prefect .pytest_cache
