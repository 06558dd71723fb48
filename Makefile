# Two commands on a fresh machine (Python 3.11, pip, a C compiler): `make demo`, `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
ROWS   ?= 10000

.PHONY: demo test bench clean

$(BIN)/smart360-etl: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

demo: $(BIN)/smart360-etl
	$(BIN)/smart360-etl demo --rows $(ROWS)

test: $(BIN)/smart360-etl
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy src/smart360_etl
	$(BIN)/python -m pytest

bench: $(BIN)/smart360-etl
	$(BIN)/python bench/bench_run.py

clean:
	rm -rf $(VENV) reports .pytest_cache
