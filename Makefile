# fxcrm: `make run` serves the embedded app with demo data; `make test` runs every test.
PORT ?= 5000
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.stamp-install
export FXCRM_DATABASE_URL ?= sqlite:///instance/fxcrm.db

.PHONY: install browser run test bench faults demo check clean lint screenshots

install: $(STAMP)

$(STAMP): setup.cfg pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] in ((3, 11), (3, 12)), "fxcrm needs Python 3.11 or 3.12 (durable-rules does not build on 3.13)"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,dev]' --config-settings editable_mode=compat
	touch $(STAMP)

run: install
	$(BIN)/fxcrm db upgrade
	$(BIN)/fxcrm rules activate rules/ --actor make-run
	$(BIN)/fxcrm demo
	@echo "serving on http://127.0.0.1:$(PORT) (demo logins above)"
	$(BIN)/fxcrm run --host 127.0.0.1 --port $(PORT) --no-reload

demo: install
	$(BIN)/fxcrm db upgrade
	$(BIN)/fxcrm rules activate rules/ --actor make-demo
	$(BIN)/fxcrm demo

# Two pytest workers by default (each on its own PostgreSQL database and SQLite files).
PYTEST_WORKERS ?= 2
test: install browser
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

# Screenshots of each role's pages at 1440x900 and 1280x800 (the accessibility test,
# tests/browser/test_roles_design.py) into docs/img/roles/; the few docs/ shows are copied to
# docs/img/ (committed; the rest of docs/img/roles/ is not).
DOC_SHOTS := admin/inbox-1280x800 admin/clients-C100-1280x800 compliance/tasks-1-1280x800 finance/withdrawals-1280x800 admin/reports-1280x800 admin/account-time-zone-1280x800
screenshots: install browser
	rm -rf docs/img/roles
	FXCRM_SCREENSHOTS_DIR=$(CURDIR)/docs/img/roles $(BIN)/python -m pytest -q -n 4 --dist load -p no:cacheprovider tests/browser/test_roles_design.py
	for shot in $(DOC_SHOTS); do cp docs/img/roles/$$shot.png docs/img/$$(echo $$shot | tr / -).png; done

# The browser tests drive Debian's chromium: installed here when missing (as root, or with
# passwordless sudo); otherwise this stops with the one command to run.
browser:
	@bash .ci/install-browser >/dev/null || { echo "The browser tests need Debian's chromium. Run: sudo bash .ci/install-browser" >&2; exit 1; }

# Lint (ruff), format (ruff, the whole tree), types (mypy: engine/ and connectors/, baseline in pyproject.toml), import
# contracts (.importlinter) and the package graph, which must have no cycle (see docs/architecture.md).
FORMATTED := engine connectors web tests tools bench
check: install
	$(BIN)/ruff check engine connectors web tests tools bench
	$(BIN)/ruff format --check $(FORMATTED)
	$(BIN)/mypy
	PYTHONPATH=$(CURDIR) $(BIN)/lint-imports
	PYTHONPATH=$(CURDIR) $(BIN)/python tools/import_graph.py --packages

# Every benchmark (JSON lines); BENCH_ARGS e.g. --only pipeline --pipeline-args "--clients 2000".
bench: install
	$(BIN)/python bench/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) instance .pytest_cache .hypothesis test-artifacts *.egg-info

# Restarts the local Redis and PostgreSQL during its runs: run it alone.
faults: install
	$(BIN)/python bench/faults.py $(FAULTS_ARGS)
