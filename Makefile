# `make test`: install what the tests need, then run them (the README's test command).
# `make demo`: install gittrack and run the example training script on this repository.
PYTHON ?= python3

.PHONY: test demo install-test lint

install-test:
	$(PYTHON) -m pip install -q -e '.[test]'

test: install-test
	$(PYTHON) -m ruff check gittrack tests benchmarks
	$(PYTHON) -m pytest -n 2 -q

demo:
	$(PYTHON) -m pip install -q -e .
	bash examples/demo.sh

lint:
	$(PYTHON) -m ruff check gittrack tests benchmarks
	$(PYTHON) -m ruff format --check gittrack tests benchmarks
