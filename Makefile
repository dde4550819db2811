# Quick start: `make run` serves with embedded defaults; `make test` runs lint and the suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install install-run run test test-soak soak test-durations lint docs eval bench load migrate clean

RUN_STAMP := $(VENV)/.installed-run
# Python keeps the bytecode it compiles (an inherited PYTHONDONTWRITEBYTECODE would have each
# of the suite's processes compile the project and pytest rewrite every test module again).
export PYTHONDONTWRITEBYTECODE :=
# uv installs the pinned requirements in seconds where pip takes a minute; pip only installs
# uv itself (into the project's environment, which has no pip of its own).
UV := uv==0.13.10

# `make run` needs only what the service runs on; the tests and the tools add the rest.
$(RUN_STAMP): requirements_production.txt
	test -x $(BIN)/python || $(PYTHON) -m venv --without-pip $(VENV)
	test -x $(BIN)/uv || $(PYTHON) -m pip --python $(BIN)/python install --quiet $(UV) \
		|| ($(PYTHON) -m venv $(VENV) && $(BIN)/python -m pip install --quiet $(UV))
	$(BIN)/uv pip install --python $(BIN)/python --quiet -r requirements_production.txt
	touch $(RUN_STAMP)

# The tests start many Python processes (servers, workers, CLI commands): the installed packages
# are compiled to bytecode once here rather than in each process.
$(STAMP): $(RUN_STAMP) requirements_dev.txt
	$(BIN)/uv pip install --python $(BIN)/python --quiet --compile-bytecode -r requirements_dev.txt
	touch $(STAMP)

install-run: $(RUN_STAMP)

install: $(STAMP)

migrate: install-run
	$(BIN)/flask --app server db upgrade

# The server applies the migrations itself as it starts.
run: install-run
	$(BIN)/python server/api_server.py

# lint-imports keeps the layers and the absence of import cycles ([tool.importlinter]).
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	PYTHONPATH=. $(BIN)/lint-imports

# The documentation site (docs/, mkdocs.yml) into site/; --strict fails on any warning (a
# broken link or anchor, a page missing from the nav).
docs: install
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

# The suite in parallel: TEST_WORKERS processes (pytest-xdist), each with its own PostgreSQL and
# Redis databases (tests/conftest.py). A worker runs a test file (or an xdist_group) at a time,
# the longest first; a long file is split by test function (tests/unit_durations.json).
TEST_WORKERS ?= 5

# The load runs and the fault drills with several processes (`-m soak`) are left to `make soak`.
test: lint
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadgroup --durations=30 -m "not soak"

# The evaluation: parse accuracy over the real-resume corpus (fields exact), the verifier against
# a lying model over real resumes (fabrications caught, true rephrasings kept) and the eval set
# of tailorings; prints its figures at the end.
eval: install
	$(BIN)/pytest tests/eval -q -p no:randomly

# The load runs and the fault drills (`@pytest.mark.soak`): the queue soak, the load test, the
# failover, rolling-restart, two-machine and multi-process drills, the benchmarks' own runs.
# SOAK_JOBS=20000 make soak for a longer queue soak (default 2,000 jobs).
test-soak soak: install
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadgroup -m soak

# The seconds each test file took, which `make test` and `make soak` use to start the longest
# first (tests/unit_durations.json); run it after adding or changing a slow test.
test-durations: install
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadgroup --record-unit-durations tests/unit_durations.json

# The HTTP benchmark loads the service with wrk (Debian package `wrk`).
bench: install
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(BIN)/python -m benchmarks

# Load test of the scaled service (locust journeys + wrk on the status endpoint, ~1.5 min);
# LOAD_ARGS="--users 200 --seconds 60" to change it (python -m benchmarks.load --help).
load: install
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(BIN)/python -m benchmarks.load $(LOAD_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .import_linter_cache site
