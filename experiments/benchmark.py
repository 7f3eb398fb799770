"""Training-step throughput for a config, against the measured matmul peak.

    python -m experiments.benchmark                       # paper-size regression
    python -m experiments.benchmark --config=configs/regression.py:cpu

Prints steps/s, tokens/s, model FLOP/s and their fraction of the float32
matmul peak measured in the same process, and the share of step time spent
generating data (the task's ``sample`` alone, jitted, timed the same way).

Model FLOPs count the matmuls of forward + backward (3x forward):
6 * (matmul parameters) * tokens + 12 * layers * T^2 * width * sequences for
attention scores and mixing. Elementwise work is not counted, as is usual for
MFU. XLA's own count of the compiled step is printed beside it.
"""

from __future__ import annotations

import time

from absl import app, flags
import jax
import jax.numpy as jnp
from ml_collections import config_flags

from icl import configs, models, optimizers, rng, train

_CONFIG = config_flags.DEFINE_config_file(
    "config", "configs/regression.py:paper", "Config to benchmark.")
_TIMED_STEPS = flags.DEFINE_integer("timed_steps", 20, "Timed training steps.")
_REPEATS = flags.DEFINE_integer("repeats", 3, "Timing repeats (best is kept).")


def best_time(fn, repeats: int) -> float:
  """Best wall time of ``fn()`` over ``repeats`` runs (fn must block)."""
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    fn()
    times.append(time.perf_counter() - start)
  return min(times)


def matmul_peak(n: int = 2048, repeats: int = 5) -> float:
  """Achieved float32 FLOP/s of one large square matmul."""
  a = jax.random.normal(jax.random.key(0), (n, n), jnp.float32)
  mm = jax.jit(lambda x: x @ x)
  mm(a).block_until_ready()
  return 2 * n**3 / best_time(lambda: mm(a).block_until_ready(), repeats)


def step_flops(config, task, params) -> float:
  seq = task.sequence_length()
  tokens = config.train.batch_size * seq
  matmul_params = sum(
      p.size for path, p in jax.tree_util.tree_leaves_with_path(params)
      if getattr(path[-1], "key", None) == "kernel")
  attention = (12 * config.model.num_layers * seq**2 * config.model.d_model
               * config.train.batch_size)
  return 6 * matmul_params * tokens + attention


def main(argv):
  del argv
  config = _CONFIG.value
  task = configs.validate(config)
  model = models.build(config.model, task)
  optimizer = optimizers.build(config.optimizer, config.train.steps)
  state = train.init_state(model, task, optimizer, config.seed)
  step_fn = jax.jit(train.make_train_step(
      model, task, optimizer, config.train.batch_size, config.seed),
      donate_argnums=0)

  compiled = step_fn.lower(state).compile()
  cost = compiled.cost_analysis()
  cost = cost[0] if isinstance(cost, list) else cost
  xla_flops = float(cost.get("flops", float("nan"))) if cost else float("nan")

  holder = {"state": state}

  def run_steps():
    s = holder["state"]
    for _ in range(_TIMED_STEPS.value):
      s, metrics = step_fn(s)
    jax.block_until_ready((s, metrics))
    holder["state"] = s

  run_steps()  # warm-up (compilation, allocator)
  step_time = best_time(run_steps, _REPEATS.value) / _TIMED_STEPS.value

  data_key = rng.stream(config.seed, "data")
  sample = jax.jit(lambda i: task.sample(jax.random.fold_in(data_key, i),
                                         config.train.batch_size))
  jax.block_until_ready(sample(0))

  def run_sampling():
    out = None
    for i in range(_TIMED_STEPS.value):
      out = sample(i)
    jax.block_until_ready(out)

  data_time = best_time(run_sampling, _REPEATS.value) / _TIMED_STEPS.value
  peak = matmul_peak()
  flops = step_flops(config, task, holder["state"].params)
  tokens = config.train.batch_size * task.sequence_length()
  n_params = sum(p.size for p in jax.tree.leaves(holder["state"].params))

  print(f"device: {jax.devices()[0].device_kind} x{jax.device_count()} "
        f"({jax.default_backend()})")
  print(f"model: {config.model.num_layers} layers x {config.model.d_model}, "
        f"{config.model.num_heads} heads, {n_params:,} params; batch "
        f"{config.train.batch_size} x {task.sequence_length()} tokens")
  print(f"steps/s:            {1 / step_time:.3f}")
  print(f"tokens/s:           {tokens / step_time:,.0f}")
  print(f"model FLOP/step:    {flops / 1e9:.2f} G (XLA count: "
        f"{xla_flops / 1e9:.2f} G)")
  print(f"model FLOP/s:       {flops / step_time / 1e9:.1f} G")
  print(f"matmul peak:        {peak / 1e9:.1f} GFLOP/s (float32, 2048^2)")
  print(f"fraction of peak:   {flops / step_time / peak:.1%}")
  print(f"data generation:    {data_time * 1e3:.2f} ms/step = "
        f"{data_time / step_time:.1%} of step time")


if __name__ == "__main__":
  app.run(main)
