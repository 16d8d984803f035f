# OneDoor: `make up` runs the whole system, `make test` runs every test. Both install what they
# need into .venv first (Python 3.11+).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml requirements-dev.lock | cksum | cut -d' ' -f1)

.PHONY: install lock browser compose promtool up demo test test-unit lint bench soak clean

# Every package at the version in requirements-dev.lock (what was tested), then OneDoor itself.
$(STAMP): pyproject.toml requirements-dev.lock
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "OneDoor needs Python 3.11 or newer")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements-dev.lock
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps -e .
	@rm -f $(VENV)/.installed-*
	@touch $@

install: $(STAMP)

# The lock files again, from pyproject.toml's ranges as pip resolves them today
# (deploy/lockfile.py); then `make test`, and commit them with what they were tested with.
lock:
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m deploy.lockfile

# The browser tests drive Debian's chromium (Playwright's own download does not work here);
# fonts-noto-cjk so that Chinese renders in screenshots. Needs root and apt; CI calls it.
browser:
	@test -x /usr/bin/chromium || apt-get install -y -q chromium fonts-noto-cjk \
		|| (apt-get update -q && apt-get install -y -q chromium fonts-noto-cjk)

# `promtool`, for the check of the Prometheus configuration and the alert rules
# (tests/unit/test_deployment.py): Debian's prometheus package; nothing of it is started. CI
# calls it.
promtool:
	@command -v promtool >/dev/null || apt-get install -y -q prometheus \
		|| (apt-get update -q && apt-get install -y -q prometheus)

# `docker compose`, for the check of deploy/compose.yaml (tests/unit/test_deployment.py; no
# Docker engine is needed for it). Docker's release downloads cannot be reached here, so the
# client plugin is built from its Go module, once per machine (about 5 minutes, most of it
# fetching modules). Needs Go and the docker client; CI calls it.
COMPOSE_VERSION := v5.6.0
COMPOSE_PLUGIN  := $(HOME)/.docker/cli-plugins/docker-compose
compose:
	@docker compose version >/dev/null 2>&1 || { \
		dir=$$(go mod download -json github.com/docker/compose/v5@$(COMPOSE_VERSION) \
			| $(PYTHON) -c 'import json, sys; print(json.load(sys.stdin)["Dir"])') \
		&& mkdir -p $(dir $(COMPOSE_PLUGIN)) \
		&& cd "$$dir" && go build -trimpath -o $(COMPOSE_PLUGIN) \
			-ldflags "-X github.com/docker/compose/v5/internal.Version=$(COMPOSE_VERSION)" ./cmd; }
	@docker compose version

up: install
	$(BIN)/onedoor up

demo: install
	$(BIN)/onedoor demo

test: install
	$(BIN)/python -m pytest -q -ra

test-unit: install
	$(BIN)/python -m pytest -q tests/unit

# ruff, then the import contracts in pyproject.toml ([tool.importlinter]): services apart but for
# their published seams, each service's layers, domain code free of frameworks; then mypy, strict,
# over services, shared, deploy and bench ([tool.mypy]; the tests are not type-checked).
lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy

# Issue 24's idle figures (bench/idle.py): each process's CPU over a quiet minute, then how soon
# an event moves again after 5 s of quiet; about 3 minutes per broker.
# Issue 5's figure; setup and run at 1,000,000 take several minutes, so it can be lowered:
# make bench PAYMENT_RECIPIENTS=100000
PAYMENT_RECIPIENTS ?= 1000000
# Issue 7's figures (archive, then verify N events, about 4 minutes at 1,000,000; then N events
# of case histories archived and replayed, about 6 minutes): AUDIT_EVENTS=100000
AUDIT_EVENTS ?= 1000000
# Issue 4's figure: a partner's bulk file of N records ingested (about 1 minute at 1,000,000):
# PARTNER_RECORDS=100000
PARTNER_RECORDS ?= 1000000
# Issue 4's reassessment sweep: a wage file about every member of N recipient households, then the
# next month's with 10% changed (reports and warnings): SWEEP_RECIPIENTS=20000
SWEEP_RECIPIENTS ?= 100000

bench: install
	$(BIN)/python -m bench.run --broker embedded
	$(BIN)/python -m bench.run --broker kafka
	$(BIN)/python -m bench.run --broker kafka-cluster
	$(BIN)/python -m bench.idle --broker embedded
	$(BIN)/python -m bench.idle --broker kafka
	$(BIN)/python -m bench.payment_cycle --recipients $(PAYMENT_RECIPIENTS)
	$(BIN)/python -m bench.audit_verify --events $(AUDIT_EVENTS)
	$(BIN)/python -m bench.audit_replay --events $(AUDIT_EVENTS)
	$(BIN)/python -m bench.partner_ingest --records $(PARTNER_RECORDS)
	$(BIN)/python -m bench.reassessment_sweep --recipients $(SWEEP_RECIPIENTS)
	$(BIN)/python -m bench.recalculation --recipients $(or $(RECALC_RECIPIENTS),100000)

# Issue 24's memory item (bench/soak.py): the stack at 100 cases/s for SOAK_MINUTES, each
# process's RSS sampled every 10 s. Not part of `make bench`: it takes the machine for the whole
# soak. make soak SOAK_MINUTES=5 for a short look.
SOAK_MINUTES ?= 30

soak: install
	$(BIN)/python -m bench.soak --minutes $(SOAK_MINUTES)

clean:
	rm -rf var .pytest_cache
