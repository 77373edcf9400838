# Development and CI entry points (GNU make; recipes run with /bin/sh).
#
#   make run        create the venv, migrate, bootstrap demo data, serve on 127.0.0.1:5000
#   make test       ruff, mypy, the suite on SQLite, then again on a throwaway PostgreSQL
#   make bench      the benchmarks (bench/)
#   make translations  extract the pages' messages, update and compile the catalogs
#   make federated-demo   Flower on loopback: synthetic retailer, bank and brands (docs/federated.md)
#   make migration m="what it does"   draft the next Alembic revision from the models
#                                     (empty=1: a blank one, for hand-written DDL)
#   make migration-initial            rewrite 0001_initial.py from the models
#   make clean      caches and build output (keeps .venv and instance/); distclean: .venv too
#
# GOVERNANCE_* environment variables configure the app as usual (see README). Variables:
# VENV, PYTHON (the interpreter that creates the venv), HOST, PORT, PYTEST_ARGS.

SHELL := /bin/sh
.DEFAULT_GOAL := help
# Steps run in the order written; their output would interleave anyway.
.NOTPARALLEL:

VENV ?= .venv
PYTHON ?= python3
HOST ?= 127.0.0.1
PORT ?= 5000
PYTEST_ARGS ?=

BIN := $(VENV)/bin
PY := $(BIN)/python
# The stamp is named by the hash of pyproject.toml: pip runs again only when it changes.
DEPS_HASH := $(shell sha256sum pyproject.toml 2>/dev/null | cut -c1-16)
STAMP := $(VENV)/.installed-$(DEPS_HASH)
PIP := $(PY) -m pip --quiet --disable-pip-version-check --no-input
# What `make test` runs, in order (.ci/run times each one: `make -s print-test-steps`).
TEST_STEPS := lint typecheck test-sqlite test-postgres

.PHONY: help install run test $(TEST_STEPS) postgres-server bench federated-demo migration \
	migration-initial clean distclean print-test-steps

help:
	@sed -n 's/^#   //p' Makefile

# -- environment ---------------------------------------------------------------------------

$(PY):
	$(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); \
	  echo "could not create $(VENV) with $(PYTHON) (Debian: apt-get install python3-venv)" >&2; \
	  exit 1; }

$(STAMP): | $(PY)
	@echo "installing the project and its dev tools into $(VENV) (pip)"
	rm -f $(VENV)/.installed-*
	$(PIP) install --editable '.[dev]'
	touch $@

install: $(STAMP)

# -- run -----------------------------------------------------------------------------------

# Links printed by the bootstrap point at the server started here, unless set otherwise.
run: export GOVERNANCE_PUBLIC_BASE_URL ?= http://$(HOST):$(PORT)
run: $(STAMP)
	$(BIN)/governance db upgrade
	$(BIN)/governance demo bootstrap
	$(BIN)/governance run --host $(HOST) --port $(PORT)

# -- checks --------------------------------------------------------------------------------

test: $(TEST_STEPS)

print-test-steps:
	@echo $(TEST_STEPS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

# pytest exits 5 when it collected nothing; that is a failure here, and says so. The browser
# tests (tests/browser) run in this pass only.
test-sqlite: $(STAMP) browser
	@echo "== pytest on SQLite"
	env -u GOVERNANCE_TEST_DATABASE_URL $(PY) -m pytest $(PYTEST_ARGS) || { rc=$$?; \
	  [ $$rc -ne 5 ] || echo "make: pytest collected no tests (SQLite)" >&2; exit $$rc; }

test-postgres: $(STAMP) postgres-server
	@echo "== pytest on PostgreSQL"
	bash .ci/pg run $(PY) -m pytest $(PYTEST_ARGS) || { rc=$$?; \
	  [ $$rc -ne 5 ] || echo "make: pytest collected no tests (PostgreSQL)" >&2; exit $$rc; }

# The server binaries, from Debian's package when we may install it (root with apt-get).
postgres-server:
	@if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1; \
	then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing PostgreSQL (apt-get install postgresql)"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get install -y -q postgresql >/dev/null 2>&1 || \
	  { apt-get update -q && apt-get install -y -q postgresql; }; \
	else \
	  echo "PostgreSQL's initdb and pg_ctl were not found: install PostgreSQL" \
	    "(Debian: apt-get install postgresql), or run make test-sqlite" >&2; \
	  exit 1; \
	fi

# Debian's Chromium and CJK fonts for the browser tests (Playwright never downloads a
# browser here), installed like PostgreSQL above when we may.
browser:
	@if [ -x /usr/bin/chromium ] && fc-list 2>/dev/null | grep -q "Noto Sans CJK"; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing Chromium and CJK fonts (apt-get install chromium fonts-noto-cjk)"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get install -y -q --no-install-recommends chromium fonts-noto-cjk >/dev/null 2>&1 || \
	  { apt-get update -q && apt-get install -y -q --no-install-recommends chromium fonts-noto-cjk; }; \
	else \
	  echo "Chromium (/usr/bin/chromium) or the Noto CJK fonts were not found: install them" \
	    "(Debian: apt-get install chromium fonts-noto-cjk); the browser tests will fail" >&2; \
	fi

# -- other ---------------------------------------------------------------------------------

translations: $(STAMP)
	$(PY) scripts/translations.py

bench: $(STAMP)
	$(PY) -m bench

federated-demo: $(STAMP)
	$(PY) -m federated.demo

migration: $(STAMP)
	@[ -n "$(m)" ] || { echo 'usage: make migration m="what the revision does"' >&2; exit 2; }
	$(PY) scripts/new_migration.py $(if $(empty),--empty) "$(m)"

migration-initial: $(STAMP)
	$(PY) scripts/new_migration.py --initial

clean:
	rm -rf build dist .pytest_cache .mypy_cache .ruff_cache .hypothesis *.egg-info bench/results
	find . -path ./.venv -prune -o -path './$(VENV)' -prune -o -name __pycache__ -type d \
	  -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
