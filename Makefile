# `make test`: install what the tests need, then run them (the README's test command).
# `make demo`: install gittrack and run the example training script on this repository.
PYTHON ?= python3
SUDO ?= $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: test demo install-test lint

# The UI's browser tests drive Debian's chromium through Playwright (never `playwright install`).
install-test:
	$(PYTHON) -m pip install -q -e '.[test]'
	command -v chromium >/dev/null || ($(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q chromium)

test: install-test
	$(PYTHON) -m ruff check gittrack tests benchmarks
	$(PYTHON) -m ruff format --check gittrack tests benchmarks
	$(PYTHON) -m pytest -n 2 -q

demo:
	$(PYTHON) -m pip install -q -e .
	bash examples/demo.sh

lint:
	$(PYTHON) -m ruff check gittrack tests benchmarks
	$(PYTHON) -m ruff format --check gittrack tests benchmarks
