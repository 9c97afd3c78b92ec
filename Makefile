# The two commands of the README: `make run` (the whole stack) and `make test`;
# `make run-sentinel` runs the stack on a local Redis Sentinel setup (docs/operations.md).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run run-sentinel test bench clean

$(VENV)/.installed: requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

run: $(VENV)/.installed
	$(BIN)/python manage.py runstack

run-sentinel: $(VENV)/.installed
	$(BIN)/python manage.py runstack --sentinel

# The browser tests drive Debian's chromium (browser downloads do not work here).
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	apt-get update -qq && apt-get install -y -qq chromium

test: $(VENV)/.installed $(CHROMIUM)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

bench: $(VENV)/.installed
	$(BIN)/python bench/load.py

clean:
	rm -rf $(VENV) var test-artifacts
