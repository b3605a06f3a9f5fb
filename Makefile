# Interpreters: `make test` runs the newest dependencies on the newest Python (3.13 from pyenv when
# installed, else python3); `make test-min` runs the floor versions of constraints-min.txt on the
# oldest supported Python (3.10). Override with PYTHON=... / MIN_PYTHON=... .
PYENV_ROOT ?= $(HOME)/.pyenv
# $(call find_python,3.10): bin/python of `pyenv prefix 3.10`, else of the newest
# $(PYENV_ROOT)/versions/3.10.*, else empty
find_python = $(firstword $(wildcard $(addsuffix /bin/python,\
	$(shell pyenv prefix $(1) 2>/dev/null) \
	$(shell ls -d $(PYENV_ROOT)/versions/$(1).[0-9]* 2>/dev/null | grep -E '/$(subst .,\.,$(1))\.[0-9]+$$' | sort -V | tail -n 1))))

# $(call run_pytest,BIN,TARGET): pytest, its exit code 5 ("no tests collected") spelled out; it
# fails the target like any other non-zero code
run_pytest = $(1)/python -m pytest -q $(PYTEST_ARGS); rc=$$?; if [ $$rc -eq 5 ]; then echo "$(2): pytest collected no tests (exit 5)" >&2; fi; exit $$rc
# $(call versions,BIN,TARGET): the interpreter and library versions a run uses, printed first
versions = $(1)/python -c 'import platform; from importlib.metadata import version as v; print("$(2): python", platform.python_version(), *(f"{d} {v(d)}" for d in ("sqlalchemy", "flask", "werkzeug", "flask-sqlalchemy")))'
# $(call py_version,PYTHON): X.Y.Z of an interpreter (empty if it does not run); in the stamps'
# names, so that another interpreter rebuilds the venv
py_version = $(if $(1),$(shell $(1) -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])' 2>/dev/null))

ifeq ($(origin PYTHON),undefined)
PYTHON := $(or $(call find_python,3.13),python3)
endif
ifeq ($(origin MIN_PYTHON),undefined)
MIN_PYTHON := $(call find_python,3.10)
endif

VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(call py_version,$(PYTHON))

MIN_VENV := .venv-min
MIN_BIN := $(MIN_VENV)/bin
MIN_STAMP := $(MIN_VENV)/.installed-$(call py_version,$(MIN_PYTHON))
MIN_CONSTRAINTS := constraints-min.txt

.PHONY: install install-min test test-min lint demo bench clean

# The venv is made anew (--clear) when another interpreter than $(PYTHON) made it.
$(STAMP): pyproject.toml
	@want=$$($(PYTHON) -c 'import sys; print(sys.version)') || { echo "no interpreter $(PYTHON)" >&2; exit 1; }; \
	have=$$($(BIN)/python -c 'import sys; print(sys.version)' 2>/dev/null || true); \
	if [ "$$want" != "$$have" ]; then echo "creating $(VENV) with $(PYTHON)"; $(PYTHON) -m venv --clear $(VENV); fi
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --upgrade --upgrade-strategy eager -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

test: $(STAMP) lint
	@$(call versions,$(BIN),test)
	@$(call run_pytest,$(BIN),test)

# Floor environment: Python 3.10 and the lowest supported Flask / Werkzeug / SQLAlchemy /
# Flask-SQLAlchemy (constraints-min.txt); pytest only (lint runs once, in `make test`).
ifneq ($(MIN_PYTHON),)
$(MIN_STAMP): pyproject.toml $(MIN_CONSTRAINTS)
	@want=$$($(MIN_PYTHON) -c 'import sys; print(sys.version)') || { echo "no interpreter $(MIN_PYTHON)" >&2; exit 1; }; \
	have=$$($(MIN_BIN)/python -c 'import sys; print(sys.version)' 2>/dev/null || true); \
	if [ "$$want" != "$$have" ]; then echo "creating $(MIN_VENV) with $(MIN_PYTHON)"; $(MIN_PYTHON) -m venv --clear $(MIN_VENV); fi
	$(MIN_BIN)/python -m pip install --quiet --upgrade pip
	$(MIN_BIN)/python -m pip install --quiet -c $(MIN_CONSTRAINTS) -e ".[test]"
	touch $(MIN_STAMP)

install-min: $(MIN_STAMP)

test-min: $(MIN_STAMP)
	@$(call versions,$(MIN_BIN),test-min)
	@$(call run_pytest,$(MIN_BIN),test-min)
else
install-min test-min:
	@if [ "$(CI)" = "true" ]; then \
	  echo "$@: FAILED: no Python 3.10 interpreter (tried 'pyenv prefix 3.10' and $(PYENV_ROOT)/versions/3.10.*); CI must run the floor versions: install it (pyenv install 3.10) or set MIN_PYTHON=/path/to/python3.10" >&2; \
	  exit 1; \
	fi; \
	echo "$@: SKIPPED: no Python 3.10 interpreter (tried 'pyenv prefix 3.10' and $(PYENV_ROOT)/versions/3.10.*); set MIN_PYTHON=/path/to/python3.10 to run it"
endif

demo: $(STAMP)
	$(BIN)/python -m example_app.demo

bench: $(STAMP)
	$(BIN)/python -m bench.drift --sizes 50,200,1000 --db sqlite,postgresql,mysql
	$(BIN)/python -m bench.first_check --sizes 50,200,1000 --db sqlite,postgresql,mysql

clean:
	rm -rf $(VENV) $(MIN_VENV) .pytest_cache .ruff_cache .mypy_cache .hypothesis instance
