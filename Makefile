# Two commands for a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_ENV := env -u DATABASE_URL -u REDIS_URL MEDIA_ROOT=$(CURDIR)/var/media ENGINE_SQLITE_PATH=$(CURDIR)/var/demo.sqlite3
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/engine
TEST_REDIS_URL ?= redis://127.0.0.1:6379/0

.PHONY: demo test bench bench-trainer install system-deps services clean

system-deps:
	@bash scripts/system_deps.sh

$(STAMP): pyproject.toml scripts/system_deps.sh $(wildcard package.json package-lock.json)
	@bash scripts/system_deps.sh
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip setuptools wheel
	# The CPU build of torch, pinned: an unpinned torch pulls a multi-GB CUDA build.
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[test]'
	@if [ -f package.json ]; then npm ci --no-audit --no-fund --loglevel=error; fi
	@touch $(STAMP)

install: $(STAMP)

services:
	@bash scripts/services.sh

demo: install
	# A fresh demo database each time; the pretrained model stays cached in var/cache (make clean drops it).
	rm -rf var/demo.sqlite3 var/media var/runs var/exports
	mkdir -p var/media
	$(DEMO_ENV) $(BIN)/python manage.py migrate --noinput
	$(DEMO_ENV) $(BIN)/python manage.py seed_demo
	@echo "Serving on http://127.0.0.1:8000  (log in as demo-annotator, demo-artist or demo-engineer; password = user name)"
	$(DEMO_ENV) $(BIN)/python manage.py flywheel demo --serve 127.0.0.1:8000 --report var/flywheel-demo.json

test: install services
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) $(BIN)/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

# The whole engine under load on this machine: its own PostgreSQL and Redis, gunicorn, Celery `cpu` and
# `gpu` workers and an RQ trainer, simulated people at a scaled person's pace (engine/loadtest/engine_bench.py).
# The issue's figures are the defaults (64 annotators, 5,000 objects); on a 2-core machine try
# make bench BENCH_ARGS="--annotators 8 --objects 40 --factor 20 --seconds 600".
bench: install
	mkdir -p var
	$(BIN)/python -m engine.loadtest.engine_bench --out var/bench.json $(BENCH_ARGS)

# The trainer's cpu config end to end (trainer/bench.py; trainer/README.md says what it measures): the model
# suite's procedural shapes first, in a folder (the trainer does not import the suite), then the bench.
# Figures in var/bench-trainer/bench.json and bench.md; a smoke run, in a folder of its own:
# make bench-trainer TRAINER_BENCH_ARGS="--scale 0.05 --work var/bench-smoke".
bench-trainer: install
	test -f var/bench-trainer/shapes/captions.jsonl || \
		$(BIN)/python -m model_suite.procedural --out var/bench-trainer/shapes --count 1280 --seed 0
	$(BIN)/python -m trainer bench --work var/bench-trainer --shapes var/bench-trainer/shapes $(TRAINER_BENCH_ARGS)

clean:
	rm -rf $(VENV) var node_modules
