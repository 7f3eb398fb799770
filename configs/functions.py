"""In-context learning of function classes (Garg et al. 2022).

Launch:
    python -m icl.main --config=configs/functions.py --workdir=runs/linear
    python -m icl.main --config=configs/functions.py:cpu,decision_tree --workdir=runs/tree
    python -m icl.main --config=configs/functions.py:cpu,noisy_linear \
        --config.task.probabilistic=True --config.evals="('functions','uncertainty')" \
        --workdir=runs/linear_nll

The ``:arg`` is ``PRESET[,CLASS]``. CLASS is a function class of
``icl/tasks/functions`` (linear, sparse_linear, noisy_linear,
linear_classification, quadratic, relu_2nn, decision_tree, sparse_parity;
default linear). PRESET is ``cpu`` (default: Garg et al.'s toy setup, d =
5 and 11 points, with their tiny model, 3 layers x 64 and 2 heads; Adam
1e-4, batch 64, about 5000 steps on 2 CPU cores) or ``paper`` (d = 20, 41
points, 12 layers x 256 and 8 heads, 500k steps, with the curriculum: the
dimension from 5 and the points from 11, raised by 1 and 2 every 2000
steps).

``results.json`` holds the error at every context position for the model
and the class's baselines (``eval.baselines`` chooses others); the
``shift_*`` evaluators test distribution shifts, and ``uncertainty`` a
probabilistic head (``task.probabilistic=True``).
"""

import ml_collections

from icl.configs import PRESETS, parse_arg, run_config
from icl import evaluators, models, optimizers, schema, tasks
from icl.tasks import functions

__all__ = ["PRESETS", "get_config"]


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  preset, name = parse_arg(arg, "configs/functions.py", "function class",
                           functions.TASKS, "linear")
  task_cls = tasks.REGISTRY[name]
  points = ml_collections.FieldReference(11)
  c = run_config(
      task_cls.section(name, dim=5, num_points=points),
      evaluators.section(task_cls, batch_size=256),
      model=models.section(num_layers=3, d_model=64, num_heads=2,
                           max_len=points * 2),
      optimizer=optimizers.section(learning_rate=1e-4, schedule="constant",
                                   warmup_fraction=0.0, grad_clip_norm=0.0),
      train=schema.train_section(steps=5000, batch_size=64, log_every=250,
                                 eval_every=1000, checkpoint_every=1000))
  if preset == "paper":
    points.set(41)
    c.task.update(dim=20, curriculum_every=2000,
                  curriculum_dims=(5, 1), curriculum_points=(11, 2))
    c.model.update(num_layers=12, d_model=256, num_heads=8)
    c.train.update(steps=500_000, log_every=1000, eval_every=25_000,
                   checkpoint_every=10_000)
  return c
