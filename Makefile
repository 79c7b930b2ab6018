# OpenSPC: `make run` starts the service, `make test` runs the whole suite.
# Both create the virtual environment ($(VENV)) and install the project first when needed.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: install run migrate test lint bench clean

install: $(INSTALLED)

$(INSTALLED): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	# Sparkplug interoperability tests: pysparkplug's encoders only (its client pins paho 1.x)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps 'pysparkplug>=0.6'
	touch $(INSTALLED)

# Applies pending migrations, creates the first admin (password printed once, or taken from
# OPENSPC_ADMIN_PASSWORD), then serves http://127.0.0.1:8000 with Swagger UI at /docs.
run: install
	$(BIN)/openspc serve

migrate: install
	$(BIN)/openspc migrate

# Unit and integration tests. Services (PostgreSQL, MariaDB, Redis, Mosquitto) are expected
# on their usual local ports; one that is missing is skipped with the reason (-rs), or fails
# the run under CI=true. Nothing is started here: .ci/run does that for CI.
test: install
	$(BIN)/pytest -m "integration or not integration" -rs

lint: install
	$(BIN)/ruff check .

bench: install
	@set -e; for script in bench/bench_*.py; do \
		echo "== $$script"; $(BIN)/python "$$script"; \
	done

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .ruff_cache
