# Two commands on a fresh machine: `make demo` (the main job) and `make test`.
# Each creates the virtual environment it needs (.venv) on first use.
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin
STAMP = $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)
DEMO_DIR ?= campaigns/demo-$(shell date +%Y%m%d-%H%M%S)

.PHONY: install demo demo-fast test test-fast lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# the CPU build of torch (a looser spec pulls a multi-GB CUDA build)
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[dev,bench]"
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

# The main job: a closed-loop crystal campaign on the simulated synthesis + XRD lab.
# One BLAS/OpenMP thread per process: on 2 cores, threaded kernels oversubscribe.
demo: install
	OMP_NUM_THREADS=1 $(BIN)/crystaloop run experiments/crystal_demo.yaml --dir $(DEMO_DIR)
	$(BIN)/crystaloop report $(DEMO_DIR)

# The same loop on a fast analytic world (seconds, no potentials).
demo-fast: install
	$(BIN)/crystaloop run experiments/demo.yaml --dir $(DEMO_DIR)

test: install
	$(BIN)/pytest -q

test-fast: install
	$(BIN)/pytest -q -m "not slow"

lint: install
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) campaigns .pytest_cache
