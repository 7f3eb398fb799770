# Two entry points: `make demo` (train the default CPU regression run and print
# its results table) and `make test` (the whole suite). Each builds .venv first.
# `make test-minimum` runs the suite on the oldest dependencies setup.cfg
# allows (.ci/minimum.txt), in .venv-minimum; CI runs both. It leaves out
# the README commands (smoke runs of code the other tests cover): with them
# it took 9:39 on 2 cores, against about 6 minutes for `make test`.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed
MINIMUM := .venv-minimum
PYTEST := -m pytest -q -n 2 --dist worksteal tests

.PHONY: demo test test-minimum clean

$(STAMP): setup.cfg setup.py pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[test,notebooks]'
	touch $(STAMP)

$(MINIMUM)/.installed: setup.cfg setup.py pyproject.toml .ci/minimum.txt
	$(PYTHON) -m venv $(MINIMUM)
	$(MINIMUM)/bin/pip install --quiet --upgrade pip
	$(MINIMUM)/bin/pip install --quiet -c .ci/minimum.txt -e '.[test,notebooks]'
	touch $@

demo: $(STAMP)
	$(VENV)/bin/python -m icl.main --config=configs/regression.py --workdir=runs/demo

test: $(STAMP)
	$(VENV)/bin/python $(PYTEST)

test-minimum: $(MINIMUM)/.installed
	$(MINIMUM)/bin/python $(PYTEST) --ignore=tests/test_readme.py

clean:
	rm -rf $(VENV) $(MINIMUM) runs
