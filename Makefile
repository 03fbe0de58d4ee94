# riskmon: `make run` shows the demo, `make test` runs everything CI runs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint typecheck unit bench lock clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade "pip>=24"
	$(BIN)/pip install -q -c constraints.txt -e ".[dev]"
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/riskmon run

test: $(STAMP) lint typecheck
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check riskmon tests benchmarks
	$(BIN)/ruff format --check riskmon tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest tests/unit

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run

# Re-pin every dependency (direct and transitive) after changing pyproject.toml.
lock:
	rm -rf .lockvenv && $(PYTHON) -m venv .lockvenv
	.lockvenv/bin/pip install -q --upgrade "pip>=24" && .lockvenv/bin/pip install -q ".[dev]"
	.lockvenv/bin/pip freeze --exclude riskmon > constraints.txt && rm -rf .lockvenv

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache
