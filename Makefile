# `make test`: install what the tests need, then run them (the README's test command).
# `make demo`: install gittrack and run the example training script on this repository.
# Both install into a project virtual environment, $(VENV) (made on first use, reused after), so
# they never touch the packages of the Python that made it. BASE_PYTHON makes the venv.
BASE_PYTHON ?= python3
VENV ?= .venv
PYTHON := $(VENV)/bin/python
export PATH := $(abspath $(VENV))/bin:$(PATH)
export VIRTUAL_ENV := $(abspath $(VENV))
SUDO ?= $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: test demo install-test lint

$(PYTHON):
	$(BASE_PYTHON) -m venv $(VENV)

# The UI's browser tests drive Debian's chromium through Playwright (never `playwright install`).
# The Azure tests run Azurite, the Azure Storage emulator, from a project-local npm install.
install-test: $(PYTHON)
	$(PYTHON) -m pip install -q -e '.[test]'
	command -v chromium >/dev/null || ($(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q chromium)
	[ -x .cache/azurite/node_modules/.bin/azurite ] || npm install -q --no-audit --no-fund --prefix .cache/azurite azurite

test: install-test
	$(PYTHON) -m ruff check gittrack tests benchmarks
	$(PYTHON) -m ruff format --check gittrack tests benchmarks
	$(PYTHON) -m pytest -n 2 -q

demo: $(PYTHON)
	$(PYTHON) -m pip install -q -e .
	bash examples/demo.sh

lint: install-test
	$(PYTHON) -m ruff check gittrack tests benchmarks
	$(PYTHON) -m ruff format --check gittrack tests benchmarks
