# Two entry points: `make demo` (train the default CPU regression run and print
# its results table) and `make test` (the whole suite). Each builds .venv first.
# `make test-minimum` runs the suite on the oldest dependencies setup.cfg
# allows (.ci/minimum.txt), in .venv-minimum, and `make test-newest` on the
# newest that pip gives NEWEST_PYTHON (by default .ci/newest_python's: 3.13
# or 3.12), in .venv-newest: Python 3.12 and later (Colab's) get a newer JAX
# than 3.11. CI runs all three. The last two leave out the README commands
# (smoke runs of code the other tests cover): with them the minimum one took
# 9:39 on 2 cores, against about 6 minutes for `make test`.
PYTHON ?= python3
NEWEST_PYTHON ?= $(shell .ci/newest_python)
VENV := .venv
STAMP := $(VENV)/.installed
MINIMUM := .venv-minimum
NEWEST := .venv-newest
PYTEST := -m pytest -q -n 2 --dist worksteal tests

.PHONY: demo test test-minimum test-newest clean

# $(call install,DIR,PYTHON,PIP_OPTIONS): a venv in DIR with icl and its
# extras.
define install
	$(2) -m venv $(1)
	$(1)/bin/pip install --quiet --upgrade pip
	$(1)/bin/pip install --quiet $(3) -e '.[test,notebooks]'
	touch $(1)/.installed
endef

$(STAMP): setup.cfg setup.py pyproject.toml
	$(call install,$(VENV),$(PYTHON),)

$(MINIMUM)/.installed: setup.cfg setup.py pyproject.toml .ci/minimum.txt
	$(call install,$(MINIMUM),$(PYTHON),-c .ci/minimum.txt)

$(NEWEST)/.installed: setup.cfg setup.py pyproject.toml
	@test -n "$(NEWEST_PYTHON)" || { echo "no Python 3.13 or 3.12 found:" \
	  "set NEWEST_PYTHON=/path/to/python" >&2; exit 1; }
	$(call install,$(NEWEST),$(NEWEST_PYTHON),)

demo: $(STAMP)
	$(VENV)/bin/python -m icl.main --config=configs/regression.py --workdir=runs/demo

test: $(STAMP)
	$(VENV)/bin/python $(PYTEST)

test-minimum: $(MINIMUM)/.installed
	$(MINIMUM)/bin/python $(PYTEST) --ignore=tests/test_readme.py

test-newest: $(NEWEST)/.installed
	$(NEWEST)/bin/python -c "import jax, sys; print('Python', \
	  sys.version.split()[0], 'jax', jax.__version__)"
	$(NEWEST)/bin/python $(PYTEST) --ignore=tests/test_readme.py

clean:
	rm -rf $(VENV) $(MINIMUM) $(NEWEST) runs
