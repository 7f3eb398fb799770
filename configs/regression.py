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
from ml_collections.config_dict import placeholder

from icl import sharding

PRESETS = ("cpu", "paper")


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  preset = arg or "cpu"
  if preset not in PRESETS:
    raise ValueError(f"configs/regression.py preset must be one of {PRESETS}, "
                     f"got {preset!r}")
  c = ml_collections.ConfigDict()
  c.seed = 0

  num_points = ml_collections.FieldReference(16)
  c.task = ml_collections.ConfigDict(dict(
      name="regression",
      dim=8,
      num_points=num_points,  # K, context examples per sequence
      noise_var=0.25,  # sigma^2
      task_var=1.0,  # tau^2
      num_tasks=256,  # M, the task diversity; -1 means infinite
      pool_seed=0,
  ))

  c.model = ml_collections.ConfigDict(dict(
      num_layers=4,
      d_model=64,
      num_heads=2,
      mlp_ratio=4,
      positional="learned",
      max_len=num_points * 2,  # one x- and one y-token per example
      length_temperature=0.0,  # beta: logits x (1 + beta log n); 0 is off
      learn_temperature=False,
      randomized_positions=0,  # L_max of randomized positions; 0 is off
      randomized_positions_at_eval=False,
      dropout_rate=0.0,
      kernel_init="lecun",  # or "gpt2": N(0, 0.02^2)
      dtype="float32",
  ))

  c.optimizer = ml_collections.ConfigDict(dict(
      name="adam",
      learning_rate=1e-3,
      schedule="warmup_cosine",  # or "triangle", "constant"
      warmup_fraction=0.1,
      weight_decay=0.0,
      b1=0.9,
      b2=0.999,
      grad_clip_norm=1.0,  # 0 disables clipping
  ))

  c.train = ml_collections.ConfigDict(dict(
      steps=4000,  # ~7 min on 2 CPU cores
      batch_size=128,
      log_every=200,
      eval_every=1000,
      checkpoint_every=1000,
      keep_checkpoints=3,
  ))

  c.eval = ml_collections.ConfigDict(dict(
      batch_size=1024,
  ))

  # Device mesh and logical-axis rules (icl/sharding.py). The default is data
  # parallel over every device, which is also right for one device.
  c.mesh = ml_collections.ConfigDict(dict(
      shape=sharding.default_shape(),  # {data: -1, fsdp: 1, tensor: 1}
      rules=sharding.default_rules(),  # logical axis -> "mesh,axes" or ""
  ))

  # Train K models in one vmapped program (icl/ensemble.py): give one value
  # per member, e.g. --config.ensemble.num_tasks="(4,16,64)".
  c.ensemble = ml_collections.ConfigDict(dict(
      seed=placeholder(tuple),
      num_tasks=placeholder(tuple),
      pool_seed=placeholder(tuple),
  ))

  if preset == "paper":
    c.model.update(num_layers=8, d_model=128, num_heads=2)
    c.optimizer.update(schedule="triangle", warmup_fraction=0.5,
                       grad_clip_norm=0.0)
    c.train.update(steps=500_000, batch_size=256, log_every=1000,
                   eval_every=25_000, checkpoint_every=10_000)
    c.eval.batch_size = 4096
  return c
