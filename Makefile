# One task runner. `make run` and `make test` do all the set-up on a fresh machine.
VENV ?= .venv
PY := $(VENV)/bin/python
export TONGTU_DATA_DIR ?= ./tongtu-data

.PHONY: venv run test test-fast lint format bench bench-quality bench-dedup clean

venv:
	@scripts/bootstrap.sh

run: venv
	$(VENV)/bin/tongtu serve

test: venv lint
	$(PY) -m pytest -q

test-fast: venv
	$(PY) -m pytest -q -m "not slow"

lint: venv
	$(VENV)/bin/ruff check tongtu tests bench
	$(VENV)/bin/ruff format --check tongtu tests bench
	$(VENV)/bin/mypy tongtu

format: venv
	$(VENV)/bin/ruff format tongtu tests bench
	$(VENV)/bin/ruff check --fix tongtu tests bench

bench: bench-quality bench-dedup

bench-quality: venv
	$(PY) -m bench.quality

bench-dedup: venv
	$(PY) -m bench.dedup

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
