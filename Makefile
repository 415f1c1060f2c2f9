# Every target creates .venv and installs pinned dependencies itself, so a
# fresh machine with only Python 3.11 can run `make demo` and `make test`.
# Bytecode is compiled at install (uv does not by default): with PYTHONDONTWRITEBYTECODE=1
# every start would otherwise compile each module from source, ~2x the start-up CPU
# (docs/performance.md, "Start-up").
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
UV_VERSION := 0.13.9

.PHONY: install test lint format typecheck pytest airflow-e2e demo serve sim bench clean

$(STAMP): pyproject.toml requirements-dev.txt constraints-airflow.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check uv==$(UV_VERSION)
	$(BIN)/uv pip install -q --compile-bytecode --python $(BIN)/python -c constraints-airflow.txt -r requirements-dev.txt -e .
	$(BIN)/python -m compileall -q src
	touch $(STAMP)

install: $(STAMP)

lint: install
	$(BIN)/ruff check src tests bench dags
	$(BIN)/ruff format --check src tests bench dags

typecheck: install
	$(BIN)/mypy

# In parallel (pytest-xdist): many tests wait on subprocesses, sockets and timers, so
# one worker more than the 2 cores keeps the CPU busy (4 starved tests of their
# time bounds at load 20, docs/performance.md "Test suite"). `loadfile` keeps each
# file on one worker: module-scoped stacks are built once and the Airflow deployment
# test's cases run in file order; --no-loadscope-reorder keeps the longest-first
# order of tests/conftest.py. PYTEST_WORKERS=0 runs serially in this process.
PYTEST_WORKERS ?= 3

pytest: install
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder

test: lint typecheck pytest

# The real Airflow deployment test alone (also part of `pytest`): api-server,
# scheduler, dag-processor, triggerer on a fresh PostgreSQL database.
airflow-e2e: install
	$(BIN)/pytest -q tests/airflow/test_airflow_deployment.py

format: install
	$(BIN)/ruff format src tests bench dags
	$(BIN)/ruff check --fix src tests bench dags

demo: install
	$(BIN)/maplecollect demo --keep

serve: install
	$(BIN)/maplecollect serve

sim: install
	$(BIN)/maplecollect sim

bench: install
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
