# Two entry points: `make demo` (train the default CPU regression run and print
# its results table) and `make test` (the whole suite). Each builds .venv first.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: demo test clean

$(STAMP): setup.cfg setup.py pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[test,notebooks]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/python -m icl.main --config=configs/regression.py --workdir=runs/demo

test: $(STAMP)
	$(VENV)/bin/python -m pytest -q -n 2 --dist worksteal tests

clean:
	rm -rf $(VENV) runs
