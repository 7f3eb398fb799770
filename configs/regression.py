"""In-context linear regression with task diversity M (Raventós et al. 2023).

Launch:
    python -m icl.main --config=configs/regression.py --workdir=runs/reg
    python -m icl.main --config=configs/regression.py:paper \
        --config.task.num_tasks=1024 --workdir=runs/m1024

    python -m icl.main --config=configs/regression.py \
        --config.ensemble.num_tasks="(4,16,64,-1)" --workdir=runs/sweep

Presets (the ``:arg``): ``cpu`` (default; 4 layers x 64, about 7 minutes on
2 CPU cores) and
``paper`` (the paper's base setup: D=8, K=16, sigma^2=0.25, 8 layers x 128,
2 heads, batch 256, Adam 1e-3 on the triangle schedule, 500k steps).
"""

import ml_collections

from icl.configs import PRESETS, parse_arg, run_config
from icl import evaluators, models, optimizers, schema
from icl.tasks.regression import RegressionTask

__all__ = ["PRESETS", "get_config"]


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  preset, _ = parse_arg(arg, "configs/regression.py")
  num_points = ml_collections.FieldReference(16)  # K, pairs per sequence
  c = run_config(
      RegressionTask.section("regression", num_points=num_points,
                             num_tasks=256),  # M; -1 is infinite
      evaluators.section(RegressionTask, batch_size=1024),
      # One x- and one y-token per example.
      model=models.section(max_len=num_points * 2),
      optimizer=optimizers.section(),
      train=schema.train_section(steps=4000))  # ~7 min on 2 CPU cores

  if preset == "paper":
    c.model.update(num_layers=8, d_model=128, num_heads=2)
    c.optimizer.update(schedule="triangle", warmup_fraction=0.5,
                       grad_clip_norm=0.0)
    c.train.update(steps=500_000, batch_size=256, log_every=1000,
                   eval_every=25_000, checkpoint_every=10_000)
    c.eval.batch_size = 4096
  return c
