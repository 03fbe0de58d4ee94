# riskmon: `make run` shows the demo, `make test` runs everything CI runs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint typecheck unit bench lock clean

# ctrader-open-api is test only: Spotware's generated Open API message classes, the judge of every cTrader
# frame in the tests. Installed without its dependencies: it pins an old Twisted and protobuf, and only its
# message modules are used (with the protobuf pinned in constraints.txt).
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade "pip>=24"
	$(BIN)/pip install -q -c constraints.txt -e ".[dev]"
	$(BIN)/pip install -q --no-deps -c constraints.txt ctrader-open-api
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
	.lockvenv/bin/pip install -q --no-deps ctrader-open-api
	.lockvenv/bin/pip freeze --exclude riskmon > constraints.txt && rm -rf .lockvenv

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache
