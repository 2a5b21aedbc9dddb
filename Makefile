# The course's commands. `make lab` opens the course, `make test` runs every test, `make quick` the fast ones.
# The virtualenv (.venv) is created on first use and reused afterwards.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PORT ?= 8888

# nbgrader runs `alembic` by name, and Jupyter finds its kernels through PATH:
# every recipe below sees the virtualenv's bin/ first.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: help venv lab test quick lint release bench bench-grading bench-cluster course formgrader clean-venv

help:
	@echo "make lab      - create .venv if needed, then start JupyterLab on the course"
	@echo "make test     - run the whole test suite (creates .venv if needed)"
	@echo "make quick    - the fast tests, for the inner loop: all but notebooks, servers, sandboxes and other slow ones"
	@echo "make lint     - ruff check . (settings in pyproject.toml)"
	@echo "make release  - regenerate notebooks/ from solutions/ with nbgrader"
	@echo "make bench    - benchmark one training epoch: dlcourse data path vs torchvision"
	@echo "make bench-grading - grading 50 submissions: ours (--jobs 2) vs stock serial nbgrader autograde"
	@echo "make bench-cluster - grading on a local Dask cluster of 1 and 2 workers vs local --jobs 1 and 2"
	@echo "make course   - run every chapter in full mode and print each notebook's run time"
	@echo "make formgrader DIR=grading/02 - grade the written answers of a graded batch in nbgrader's formgrader"

venv: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found: install Python 3.11, or run 'make PYTHON=/path/to/python3.11 ...'"; exit 1; }
	@test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	@echo "Installing the course's packages into $(VENV): a few minutes the first time (log: $(VENV)/install.log)"
	@{ $(VPY) -m pip install --upgrade pip && $(VPY) -m pip install -r requirements.txt \
	   && $(VPY) -m pip install --no-deps -e . ; } > $(VENV)/install.log 2>&1 \
	   || { tail -n 25 $(VENV)/install.log; echo "pip failed: the whole log is in $(VENV)/install.log"; exit 1; }
	@touch $@
	@echo "$(VENV) is ready."

# The student's lab (nbgrader's instructor tools hidden) on PORT, or the next free port; see dlcourse/lab.py.
lab: $(STAMP)
	@$(VPY) -m dlcourse.lab --port=$(PORT)

test: $(STAMP)
	$(VPY) -m pytest

# Everything but the tests marked notebook, lab or slow (markers in pyproject.toml): about two minutes.
quick: $(STAMP)
	$(VPY) -m pytest -q -m "not notebook and not lab and not slow"

lint: $(STAMP)
	$(VPY) -m ruff check .

release: $(STAMP)
	$(VPY) -m autograder release

bench: $(STAMP)
	$(VPY) benchmarks/bench_epoch.py

bench-grading: $(STAMP)
	$(VPY) benchmarks/bench_grading.py

bench-cluster: $(STAMP)
	$(VPY) benchmarks/bench_cluster.py

course: $(STAMP)
	$(VPY) tests/notebook_runner.py solutions

# The written answers to each chapter's questions are graded by hand, in nbgrader's formgrader,
# on the gradebook a `python -m autograder grade ... --out DIR` run made.
formgrader: $(STAMP)
	@test -n "$(DIR)" -a -f "$(DIR)/nbgrader/nbgrader_config.py" || { echo "usage: make formgrader DIR=<the --out folder of a grade run>"; exit 1; }
	@$(VPY) -m dlcourse.lab --port=$(PORT) --formgrader "$(DIR)"

clean-venv:
	rm -rf $(VENV)
