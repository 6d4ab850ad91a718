# The two commands of a fresh machine (README.md):
#   make bench   set up, then run a real benchmark on the embedded default
#   make test    set up, then run the test suite (what CI runs)
VENV ?= .venv
BENCH_ARGS ?=

.PHONY: bench test setup lint
bench:
	@bash scripts/setup.sh bench
	$(VENV)/bin/bench $(BENCH_ARGS)

test:
	@bash scripts/setup.sh test
	$(VENV)/bin/python -m pytest

setup:
	@bash scripts/setup.sh test

lint:
	$(VENV)/bin/python -m ruff check . && $(VENV)/bin/python -m ruff format --check .
