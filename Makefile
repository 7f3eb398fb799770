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

# $(call install,DIR,PIP_OPTIONS): a venv in DIR with icl and its extras.
define install
	$(PYTHON) -m venv $(1)
	$(1)/bin/pip install --quiet --upgrade pip
	$(1)/bin/pip install --quiet $(2) -e '.[test,notebooks]'
	touch $(1)/.installed
endef

$(STAMP): setup.cfg setup.py pyproject.toml
	$(call install,$(VENV),)

$(MINIMUM)/.installed: setup.cfg setup.py pyproject.toml .ci/minimum.txt
	$(call install,$(MINIMUM),-c .ci/minimum.txt)

demo: $(STAMP)
	$(VENV)/bin/python -m icl.main --config=configs/regression.py --workdir=runs/demo

test: $(STAMP)
	$(VENV)/bin/python $(PYTEST)

test-minimum: $(MINIMUM)/.installed
	$(MINIMUM)/bin/python $(PYTEST) --ignore=tests/test_readme.py

clean:
	rm -rf $(VENV) $(MINIMUM) runs
