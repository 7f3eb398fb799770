"""icl: a JAX framework for in-context learning and length generalization."""

__version__ = "0.1.0"


def load_run(workdir: str, step: int | None = None):
  """Config, validated run, model, params and results of a run directory
  (``icl.train.reopen``); imported on first use, so ``import icl`` stays
  light."""
  from icl.train.reopen import load_run as load
  return load(workdir, step)
