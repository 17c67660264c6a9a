# `make test`: install what the tests need, lint (ruff, mypy), check the import graph and the
# public API first (they fail fast and name the problem), then run the whole suite.
# `make demo`: install gittrack and run the example training script on this repository.
PYTHON ?= python3
SUDO ?= $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: test demo install-test lint

# The UI's browser tests drive Debian's chromium through Playwright (never `playwright install`).
install-test:
	$(PYTHON) -m pip install -q -e '.[test]'
	command -v chromium >/dev/null || ($(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q chromium)

test: install-test lint
	$(PYTHON) -m pytest -q tests/test_import_graph.py tests/test_public_api.py
	$(PYTHON) -m pytest -n 2 -q

demo:
	$(PYTHON) -m pip install -q -e .
	bash examples/demo.sh

# lint: ruff (lint + format) on everything, mypy on the package (config in pyproject.toml)
lint:
	$(PYTHON) -m ruff check gittrack tests benchmarks
	$(PYTHON) -m ruff format --check gittrack tests benchmarks
	$(PYTHON) -m mypy
