# The course's commands. `make lab` opens the course, `make test` runs every test.
# The virtualenv (.venv) is created on first use and reused afterwards.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PORT ?= 8888

# nbgrader runs `alembic` by name, and Jupyter finds its kernels through PATH:
# every recipe below sees the virtualenv's bin/ first.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export MPLBACKEND ?= Agg

# JupyterLab refuses to run as root (Docker, Colab-like machines) unless told it may.
LAB_ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root)
# No display (a server, a container): do not try to open a browser; the URL is printed.
LAB_BROWSER_FLAG := $(if $(or $(DISPLAY),$(filter Darwin,$(shell uname -s))),,--no-browser)

.PHONY: help venv lab test release bench bench-grading course formgrader clean-venv

help:
	@echo "make lab      - create .venv if needed, then start JupyterLab on the course"
	@echo "make test     - run the whole test suite (creates .venv if needed)"
	@echo "make release  - regenerate notebooks/ from solutions/ with nbgrader"
	@echo "make bench    - benchmark one training epoch: dlcourse data path vs torchvision"
	@echo "make bench-grading - grading 50 submissions: ours (--jobs 2) vs stock serial nbgrader autograde"
	@echo "make course   - run every chapter in full mode and print each notebook's run time"
	@echo "make formgrader DIR=grading/02 - grade the written answers of a graded batch in nbgrader's formgrader"

venv: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found: install Python 3.11, or run 'make PYTHON=/path/to/python3.11 ...'"; exit 1; }
	test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install --upgrade --quiet pip
	$(VPY) -m pip install -r requirements.txt
	$(VPY) -m pip install --no-deps --quiet -e .
	touch $@

lab: $(STAMP)
	$(VENV)/bin/jupyter lab --ServerApp.root_dir="$(CURDIR)" --port=$(PORT) \
		--LabApp.default_url=/lab/tree/notebooks $(LAB_BROWSER_FLAG) $(LAB_ROOT_FLAG)

test: $(STAMP)
	$(VPY) -m pytest

release: $(STAMP)
	$(VPY) -m autograder release

bench: $(STAMP)
	$(VPY) benchmarks/bench_epoch.py

bench-grading: $(STAMP)
	$(VPY) benchmarks/bench_grading.py

course: $(STAMP)
	$(VPY) tests/notebook_runner.py solutions

# The written answers to each chapter's questions are graded by hand, in nbgrader's formgrader,
# on the gradebook a `python -m autograder grade ... --out DIR` run made.
formgrader: $(STAMP)
	@test -n "$(DIR)" -a -f "$(DIR)/nbgrader/nbgrader_config.py" || { echo "usage: make formgrader DIR=<the --out folder of a grade run>"; exit 1; }
	cd "$(DIR)/nbgrader" && $(CURDIR)/$(VENV)/bin/jupyter lab --port=$(PORT) \
		--LabApp.default_url=/formgrader $(LAB_BROWSER_FLAG) $(LAB_ROOT_FLAG)

clean-venv:
	rm -rf $(VENV)
