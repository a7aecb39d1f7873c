# Safe Report: `make run` starts everything, `make test` runs every test.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 5000
export PORT

.PHONY: run test install migrate browser clean bench

$(VENV)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

install: $(VENV)/.installed

migrate: install
	$(BIN)/flask --app app db upgrade

## run: migrate, seed an empty database, then web + worker + beat (Ctrl-C stops all)
run: install migrate
	$(BIN)/flask --app app seed-if-empty
	@echo "Safe Report on http://127.0.0.1:$(PORT)  (staff sign-in: /staff/login)"
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/honcho -f Procfile start -p $(PORT)

## browser: Debian's Chromium for the Playwright tests (installed when root)
browser:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing Debian's chromium for the browser tests"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "NOTE: /usr/bin/chromium is missing (apt-get install -y chromium); browser tests will be reported as skipped"; fi; \
	fi

## test: set up, then every test (PostgreSQL and Redis when reachable, else embedded)
test: install browser
	$(BIN)/python -m pytest

## bench: seed (10k, 100k, 1M cases; reused when present), measure, print a table, write
## bench/results/<time>.json (needs PostgreSQL and Redis; not part of `make test`)
bench: install
	@$(BIN)/python -c "import psycopg; psycopg.connect('postgresql://postgres@127.0.0.1:5432/test', connect_timeout=3).close()" \
	  || { echo "bench: PostgreSQL is not answering on 127.0.0.1:5432"; exit 1; }
	@$(BIN)/python -c "import redis,sys; redis.Redis(host='127.0.0.1', socket_timeout=2).ping()" \
	  || { echo "bench: Redis is not answering on 127.0.0.1:6379"; exit 1; }
	$(BIN)/python -m bench.run $(BENCH_ARGS)

clean:
	rm -rf $(VENV) instance/broker instance/*.sqlite*
