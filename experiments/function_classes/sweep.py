"""Function classes in context (Garg et al. 2022), at toy scale.

    python -m icl.experiments.run --sweep=function_classes:cpu --workdir=runs/function_classes

An arm is a function class of ``icl/tasks/functions``, trained from
``configs/functions.py``'s preset and evaluated every ``eval_every`` steps
against the class's baselines, so the report can follow the model's
distance to each baseline over training. Each arm's seeds train as one
ensemble.

``cpu``: Garg et al.'s toy setup (d = 5, 11 points, 3 layers x 64, 2 heads,
Adam 1e-4, batch 64), 5000 steps. An arm named ``{class}_lr{rate}`` trains
the class at that Adam learning rate instead: at the toy rate the model
had not converged by 5000 steps, so the ``_lr1e-3`` arms give it ten
times the rate for the same steps. Sparse linear regression keeps 2 of the
5 coordinates, or k in an arm named ``sparse_linear_k{k}[_lr{rate}]``: at 2
of 5, Lasso beats least squares only at n = 3 and 4 examples, by 0.02 to
0.03, too narrow a window for the paper's effect; ``sparse_linear_k1_lr1e-3``
opens it (the model uses it at four times the steps; see the README).
Decision trees (depth 4) get 41 points, as trees need points to split.
``paper``: d = 20, 41 points (101 for trees), the 12 x 256 model and the
curriculum, 500k steps.
"""

import re

from icl.configs import functions
from icl.errors import ConfigError
from icl.experiments.function_classes import report
from icl.sweep import Sweep

PRESETS = ("cpu", "paper")
CLASSES = ("linear", "sparse_linear", "decision_tree")
ARMS = CLASSES + tuple(f"{name}_lr1e-3" for name in CLASSES) + (
    "sparse_linear_k1_lr1e-3",)
# class, then optionally _k{nonzeros} (sparse linear) and _lr{rate}.
_ARM = re.compile(r"(?P<name>[a-z_]+?)(?:_k(?P<k>[^_]+))?(?:_lr(?P<rate>.*))?")


def arm_config(preset: str, arm: str):
  """The config an arm name describes (see the module docstring)."""
  match = _ARM.fullmatch(arm)
  if match is None:
    raise ConfigError(f"arm {arm!r} must be a function class (such as "
                      f"{', '.join(CLASSES)}), then optionally _k{{nonzeros}}"
                      " and _lr{rate}")
  name, k, rate = match.group("name", "k", "rate")
  config = functions.get_config(f"{preset},{name}")
  if rate is not None:
    try:
      config.optimizer.learning_rate = float(rate)
    except ValueError:
      raise ConfigError(f"arm {arm!r}: the learning rate after '_lr' must "
                        f"be a number, got {rate!r}") from None
  if name == "sparse_linear":
    config.task.sparsity = 2 if preset == "cpu" else 3
  if k is not None:
    if name != "sparse_linear" or not k.isdigit():
      raise ConfigError(f"arm {arm!r}: '_k' sets the nonzeros of "
                        f"sparse_linear, a positive int; got {k!r} on "
                        f"{name!r}")
    config.task.sparsity = int(k)
  if name == "decision_tree":
    config.task.num_points = 41 if preset == "cpu" else 101
  if preset == "cpu":
    config.train.update(eval_every=250)
  return config


def get_sweep(preset: str = "cpu") -> Sweep:
  return Sweep("function_classes",
               {arm: arm_config(preset, arm) for arm in ARMS},
               seeds=(0, 1, 2), headline="mean", report=report.write,
               description=f"Garg et al. 2022, {preset} preset")
