# The two commands of the README: `make run` (the whole stack) and `make test`;
# `make run-sentinel` runs the stack on a local Redis Sentinel setup (docs/operations.md).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run run-sentinel test bench clean front-door

$(VENV)/.installed: requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

run: $(VENV)/.installed front-door
	$(BIN)/python manage.py runstack

run-sentinel: $(VENV)/.installed front-door
	$(BIN)/python manage.py runstack --sentinel

# The front door of make run is Debian's HAProxy (issue 12): installed when
# missing; where it cannot be (no root, no apt), make run says so and runs
# without it. make test needs it (tests/browser/test_front_door.py).
HAPROXY := /usr/sbin/haproxy
$(HAPROXY):
	apt-get update -qq && apt-get install -y -qq haproxy

front-door:
	@test -x $(HAPROXY) || command -v haproxy >/dev/null 2>&1 || $(MAKE) --no-print-directory $(HAPROXY) \
		|| echo "haproxy could not be installed: make run goes on without its front door"

# The browser tests drive Debian's chromium (browser downloads do not work here).
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	apt-get update -qq && apt-get install -y -qq chromium

test: $(VENV)/.installed $(CHROMIUM) $(HAPROXY)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

bench: $(VENV)/.installed
	$(BIN)/python bench/load.py

clean:
	rm -rf $(VENV) var test-artifacts
