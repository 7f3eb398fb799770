"""Function classes in context (Garg et al. 2022), at toy scale.

    python -m icl.experiments.run --sweep=function_classes:cpu --workdir=runs/function_classes

An arm is a function class of ``icl/tasks/functions``, trained from
``configs/functions.py``'s preset and evaluated every ``eval_every`` steps
against the class's baselines, so the report can follow the model's
distance to each baseline over training. Each arm's seeds train as one
ensemble.

``cpu``: Garg et al.'s toy setup (d = 5, 11 points, 3 layers x 64, 2 heads,
Adam 1e-4, batch 64), 5000 steps. Sparse linear regression keeps 2 of the
5 coordinates; decision trees (depth 4) get 41 points, as trees need
points to split. ``paper``: d = 20, 41 points (101 for trees), the 12 x
256 model and the curriculum, 500k steps.
"""

from icl.configs import functions
from icl.experiments.function_classes import report
from icl.sweep import Sweep

PRESETS = ("cpu", "paper")
ARMS = ("linear", "sparse_linear", "decision_tree")


def arm_config(preset: str, arm: str):
  config = functions.get_config(f"{preset},{arm}")
  if arm == "sparse_linear":
    config.task.sparsity = 2 if preset == "cpu" else 3
  if arm == "decision_tree":
    config.task.num_points = 41 if preset == "cpu" else 101
  if preset == "cpu":
    config.train.update(eval_every=250)
  return config


def get_sweep(preset: str = "cpu") -> Sweep:
  return Sweep("function_classes",
               {arm: arm_config(preset, arm) for arm in ARMS},
               seeds=(0, 1, 2), headline="mean", report=report.write,
               description=f"Garg et al. 2022, {preset} preset")
