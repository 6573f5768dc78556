# Two commands for a fresh machine (see README):
#   make run    run the daemon on ./feeds.yaml with SQLite state
#   make test   install everything the tests need, lint, type-check, run the whole suite
VENV    ?= .venv
PYTHON  ?= python3
BIN     := $(VENV)/bin
PDS_DIR := tests/pds
CONSUMERS_DIR := tests/consumers

.PHONY: run test lint bench browser postgres clean

$(BIN)/.runtime: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip "setuptools>=77"
	$(BIN)/pip install --quiet -e .
	touch $@

$(BIN)/.test: $(BIN)/.runtime pyproject.toml
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

# The reference Bluesky PDS for the tests (npm; better-sqlite3 built from source).
$(PDS_DIR)/node_modules/.built: $(PDS_DIR)/package.json $(PDS_DIR)/package-lock.json
	cd $(PDS_DIR) && npm ci --no-audit --no-fund --loglevel=error \
	  && { node -e "new (require('better-sqlite3'))(':memory:')" 2>/dev/null || npm rebuild better-sqlite3 --loglevel=error; }
	touch $@

# A second, independent feed parser (npm's feedsmith) that the output-feed tests read with.
$(CONSUMERS_DIR)/node_modules/.installed: $(CONSUMERS_DIR)/package.json $(CONSUMERS_DIR)/package-lock.json
	cd $(CONSUMERS_DIR) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Debian's Chromium for the editors' page test (a browser download cannot be fetched here).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium missing: sudo apt-get install chromium" >&2; exit 1; fi; }

# A PostgreSQL server for the store's tests: the one SYNDICATE_TEST_POSTGRES names, or the one on
# 127.0.0.1:5432; if neither, Debian's postgresql installed (as root) and a trust-auth cluster started.
postgres:
	@sh tests/servers/postgres.sh

run: $(BIN)/.runtime
	$(BIN)/syndicate run

lint: $(BIN)/.test
	$(BIN)/ruff check .

test: $(BIN)/.test $(PDS_DIR)/node_modules/.built $(CONSUMERS_DIR)/node_modules/.installed browser postgres lint
	$(BIN)/mypy --strict syndicate
	$(BIN)/pytest -q

bench: $(BIN)/.test
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) $(PDS_DIR)/node_modules $(CONSUMERS_DIR)/node_modules .pytest_cache .hypothesis
