"""Task diversity (Raventós et al. 2023): one arm per pretraining pool size M.

    python -m icl.experiments.run --sweep=task_diversity:cpu --workdir=runs/task_diversity

Every arm is ``configs/regression.py``'s preset of the same name with
``task.num_tasks = M``; the arms differ only in M and the seed, so the
whole sweep trains as one vmapped ensemble (``--noensemble``: one run per
cell). Each seed draws its own pool too (``task.pool_seed``), so the
spread over seeds includes the draw of the M tasks. ``cpu``: the 4 x 64 model, 4000 steps, M = 4 .. 32768 and infinite,
3 seeds. ``paper``: the base model (8 x 128, 500k steps) over M = 2^1 ..
2^20 and infinite.
"""

from icl.configs import regression
from icl.experiments.task_diversity import report
from icl.sweep import Sweep

PRESETS = ("cpu", "paper")
POOLS = {"cpu": (4, 16, 64, 256, 1024, 32768, -1),
         "paper": tuple(2**i for i in range(1, 21)) + (-1,)}


def arm_name(m: int) -> str:
  return "M=inf" if m == -1 else f"M={m}"


def get_sweep(preset: str = "cpu") -> Sweep:
  arms = {}
  for m in POOLS[preset]:
    config = regression.get_config(preset)
    config.task.num_tasks = m
    if preset == "cpu":  # the training dynamics: 16 evaluations per run
      config.train.eval_every = 250
    arms[arm_name(m)] = config
  return Sweep("task_diversity", arms, seeds=(0, 1, 2), headline="mean",
               report=report.write, seed_fields=("task.pool_seed",),
               description=f"Raventós et al. 2023, {preset} preset")
