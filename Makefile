# Perpetua — `make demo`, `make test`, `make ui`, `make bench`.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test lint ui bench bench-vectorbt-install clean

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "needs $(PYTHON) (see README: Python 3.11)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/perpetua demo

lint: $(STAMP)
	$(VENV)/bin/ruff check quant resources assets checks pipelines tests benchmarks
	$(VENV)/bin/lint-imports
	tmp=$$(mktemp -d) && touch $$tmp/dagster.yaml && DAGSTER_HOME=$$tmp $(PY) -m dagster definitions validate -w workspace.yaml; rc=$$?; rm -rf $$tmp; exit $$rc

test: $(STAMP) lint
	$(PY) -m pytest -q -p no:cacheprovider

ui: $(STAMP)
	$(VENV)/bin/perpetua ui

bench: $(STAMP)
	$(PY) -m benchmarks.bench_backtest_core
	$(PY) -m benchmarks.bench_microstructure
	$(PY) -m benchmarks.audit --whole
	$(PY) -m benchmarks.run
	$(PY) -m benchmarks.ml

# vectorbt for the backtest-core comparison, beside the project (.bench-vendor, git-ignored), never in .venv.
bench-vectorbt-install:
	$(PY) -m pip install --quiet --target .bench-vendor --no-deps -r benchmarks/requirements-vectorbt.txt

clean:
	rm -rf var benchmarks/out .pytest_cache
