# trackerhub: `make run` runs the hub, `make test` runs the suite. Both set everything up first.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
APT_PACKAGES := redis-server wrk

.PHONY: run test lint fmt setup system-deps bench reliability clean

run: setup
	$(VENV)/bin/trackerhub up

# The suite in TEST_PROCESSES processes (pytest-xdist; each starts its own redis-server and PostgreSQL,
# and a file's tests stay in one process, so a module's hub is started once). TEST_PROCESSES=0: one.
TEST_PROCESSES ?= 2

test: setup
	$(MAKE) lint
	$(PY) -m pytest -q -p no:cacheprovider -n $(TEST_PROCESSES) --dist loadfile --durations=15

# The last step audits constraints.txt's pins for known vulnerabilities (pip-audit) when its data can be
# reached, and says in one line that it skipped when not (tools/audit_deps.py).
lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports
	$(PY) tools/audit_deps.py

fmt: setup
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: setup
	$(PY) bench/ingest.py
	$(PY) bench/bad_input.py
	$(PY) bench/memory.py
	$(PY) bench/memory.py --node
	$(PY) bench/pipeline.py
	$(PY) bench/growth.py
	$(PY) bench/console_memory.py

# The fault suite alone (also part of `make test`, the two-node scenarios there at 50 messages), then
# RELIABILITY.md from its results.
reliability: setup
	rm -rf var/reliability
	status=0; RELIABILITY_NODES_N=$${RELIABILITY_NODES_N:-200} $(PY) -m pytest -q -p no:cacheprovider -m reliability tests/reliability/test_faults.py tests/reliability/test_automation_faults.py tests/reliability/test_nodes.py || status=$$?; \
	$(PY) -m tests.reliability.report; exit $$status

# Coverage-guided fuzzing of the e-mail and Telegram parsers (atheris), FUZZ_SECONDS in all; see FUZZING.md.
.PHONY: fuzz
FUZZ_SECONDS ?= 300
FUZZ_STAMP := $(VENV)/.fuzz-installed

fuzz: setup $(FUZZ_STAMP)
	$(PY) fuzz/run.py --seconds $(FUZZ_SECONDS)

$(FUZZ_STAMP): pyproject.toml constraints.txt
	$(PIP) install -q -c constraints.txt -e '.[test,fuzz]'
	touch $(FUZZ_STAMP)

setup: system-deps $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -c constraints.txt -e '.[test]'
	touch $(STAMP)

# Debian packages the hub and its tests run for real: installed with apt-get when missing and we are root.
# PostgreSQL is found by its initdb, which Debian keeps off PATH under /usr/lib/postgresql/<version>/bin.
# Chromium is the browser Playwright drives in the routing page's tests (Playwright's own download is
# not used: tests/browser.py launches this one by its path).
system-deps:
	@missing=""; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	command -v wrk >/dev/null || missing="$$missing wrk"; \
	command -v dovecot >/dev/null || missing="$$missing dovecot-imapd"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || missing="$$missing postgresql"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "missing:$$missing. Install them, e.g.: sudo apt-get install$$missing" >&2; exit 1; \
	  fi; \
	fi

clean:
	rm -rf $(VENV) var/*.sqlite3* var/redis var/outbox
