# partnerkit: `make report` and `make test` are all a fresh machine needs (Python 3.10+, make).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PK     := $(BIN)/partnerkit
QUARTER ?= 2026Q3

.PHONY: help install report test test-spark lab sample figures bench clean-venv

help:
	@echo "make report      create .venv, install, run the quarterly report on data/sample"
	@echo "make test        create .venv if needed, install test extras, run the whole suite"
	@echo "make test-spark  the telemetry rollup on Spark (needs Java; installs the spark extra)"
	@echo "make lab         JupyterLab on notebooks/"
	@echo "make figures     PNGs of the dashboard and stack walks in figures/<quarter>/"
	@echo "make bench       speed and memory ratios, written to benchmarks/results.json"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# One stamp per set of extras, redone when pyproject.toml changes.
# The venv's own "python3" kernel is registered inside the venv, so papermill, nbval
# and JupyterLab run notebooks with this interpreter, whatever kernels the machine has.
KERNEL := $(BIN)/python -m ipykernel install --sys-prefix --name python3 \
	--display-name "Python 3 (partnerkit)" >/dev/null

$(VENV)/.installed-base: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[notebooks]'
	$(KERNEL)
	@touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	$(KERNEL)
	@touch $@ $(VENV)/.installed-base

$(VENV)/.installed-spark: pyproject.toml $(VENV)/.installed-test
	$(BIN)/python -m pip install --quiet -e '.[test,spark]'
	@touch $@

install: $(VENV)/.installed-base

# The quarterly report of the sample company into reports/$(QUARTER)/. An archive is never
# overwritten: when the quarter is archived already (exit 4), say where it is and succeed.
report: $(VENV)/.installed-base
	@$(PK) report --data data/sample --quarter $(QUARTER) --out reports; rc=$$?; \
	if [ $$rc -eq 4 ]; then \
		echo "$(QUARTER) is already archived: reports/$(QUARTER)/"; \
		echo "exec view: reports/$(QUARTER)/html/03_exec_dashboard.html"; \
		echo "(a new revision beside it: $(PK) report --quarter $(QUARTER) --revision)"; \
		exit 0; \
	fi; exit $$rc

# The suite, then every notebook executed on data/sample by nbval with this venv's kernel.
test: $(VENV)/.installed-test
	$(BIN)/python -m pytest -q
	$(BIN)/python -m pytest -q --nbval-lax --nbval-current-env notebooks/

test-spark: $(VENV)/.installed-spark
	@command -v java >/dev/null 2>&1 || { echo "installing Java (Debian's default-jre-headless)"; \
		apt-get update -qq && apt-get install -y -qq default-jre-headless >/dev/null; }
	$(BIN)/python -m pytest -q -m spark tests/test_telemetry_spark.py

lab: $(VENV)/.installed-base
	$(BIN)/jupyter lab notebooks/

# The performance claims as ratios in one run (generates ~220 MB in benchmarks/data/ once).
bench: $(VENV)/.installed-base
	$(BIN)/python benchmarks/run.py $(BENCH_ARGS)

# PNGs of the exec dashboard, the stack walks and the health panels, for a person to look at.
figures: $(VENV)/.installed-base
	$(PK) plots --data data/sample --quarter $(QUARTER) --out figures/$(QUARTER)

sample: $(VENV)/.installed-base
	$(PK) sample --out data/sample --seed 7 --overwrite

clean-venv:
	rm -rf $(VENV)
