"""Training-step throughput for a config, against the measured matmul peak.

    python -m icl.experiments.benchmark                       # paper-size regression
    python -m icl.experiments.benchmark --config=configs/regression.py:cpu
    python -m icl.experiments.benchmark --part=ensemble --ensemble_sizes=1,4,16
    python -m icl.experiments.benchmark --part=ensemble_eval --ensemble_sizes=21

Prints steps/s, tokens/s, model FLOP/s and their fraction of the float32
matmul peak measured in the same process, and the share of step time spent
generating data (the task's ``sample`` alone, jitted, timed the same way).

Model FLOPs count the matmuls of forward + backward (3x forward):
6 * (matmul parameters) * tokens + 12 * layers * T^2 * width * sequences for
attention scores and mixing. Elementwise work is not counted, as is usual for
MFU. XLA's own count of the compiled step is printed beside it.

The ensemble part trains K models of ``--ensemble_config`` (4 layers x 64 by
default) in one vmapped program and compares the model-steps per second with
K sequential runs of the single-model program (whose rate is that of one).
"""

from __future__ import annotations

import importlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

from absl import flags
import jax
import jax.numpy as jnp
import ml_collections
from ml_collections import config_flags

from icl import (cli, configs, evaluators, jax_events, metrics, rng, schema,
                 sharding, smoke)
from icl.train import program as step

_CONFIG = config_flags.DEFINE_config_file(
    "config", f"{configs.path('regression')}:paper", "Config to benchmark.")
_ENSEMBLE_CONFIG = config_flags.DEFINE_config_file(
    "ensemble_config", f"{configs.path('regression')}:cpu",
    "Member config for the ensemble comparison (the small 4 x 64 model).")
_ENSEMBLE_SIZES = flags.DEFINE_list("ensemble_sizes", ["1", "4", "16"],
                                    "Ensemble sizes K to compare.")
_PART = flags.DEFINE_enum(
    "part", "all", ["all", "single", "ensemble", "ensemble_eval", "presets",
                    "lengths", "startup"],
    "Which benchmarks to run (all: single and ensemble; ensemble_eval: the "
    "evaluations of a task-diversity ensemble of the largest "
    "--ensemble_sizes; presets: the step of every cpu preset; lengths: "
    "teacher-forced against decoded length evaluation; startup launches "
    "fresh processes).")
_PRESETS = flags.DEFINE_list(
    "presets", ["regression", "sequences", "sorting", "arithmetic"],
    "Config files (icl.configs) whose cpu preset the presets, lengths and "
    "startup parts run (lengths: those with a length evaluation).")
_TIMED_STEPS = flags.DEFINE_integer("timed_steps", 20, "Timed training steps.")
_REPEATS = flags.DEFINE_integer("repeats", 3, "Timing repeats (best is kept).")


def machine() -> str:
  """The CPU model, its widest vector ISA and the cores this process may
  use: why one machine's absolute figures say nothing about another's."""
  model, cpu_flags = platform.processor() or platform.machine(), set()
  try:
    with open("/proc/cpuinfo") as f:
      for line in f:
        key, _, value = line.partition(":")
        if key.strip() == "model name":
          model = value.strip()
        elif key.strip() == "flags":
          cpu_flags = set(value.split())
          break
  except OSError:  # not Linux: the model from platform, no ISA
    pass
  isa = next((name for flag, name in (("avx512f", "AVX-512"),
                                      ("avx2", "AVX2"), ("avx", "AVX"))
              if flag in cpu_flags), "ISA unknown")
  cores = (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
           else os.cpu_count())
  return f"{model}, {isa}, {cores} cores"


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


def build(config, devices=None):
  """(task, Program) of a config (or a validated Run) on all (or the
  given) devices."""
  run = schema.validate(config, None if devices is None else len(devices))
  program = step.Program(run, sharding.build_layout(run.config.mesh, devices))
  return run.task, program


def step_times(programs: dict, steps: int, repeats: int) -> dict:
  """Seconds per step of each program: the best of ``repeats`` rounds, in
  each of which every program runs ``steps`` steps in turn, so that the
  machine's drift (often 15% between runs here) hits every program alike."""
  states = {name: p.init() for name, p in programs.items()}

  def run_steps(name):
    s = states[name]
    for _ in range(steps):
      s, metrics = programs[name].step(s)
    jax.block_until_ready((s, metrics))
    states[name] = s

  for name in programs:
    run_steps(name)  # warm-up (allocator, caches)
  times = {name: [] for name in programs}
  for _ in range(repeats):
    for name in programs:
      times[name].append(best_time(lambda: run_steps(name), 1))
  return {name: min(t) / steps for name, t in times.items()}


def time_steps(program, steps: int, repeats: int) -> float:
  """Seconds per step of ``program``, best of ``repeats`` runs of ``steps``."""
  return step_times({"": program}, steps, repeats)[""]


def chunking(run, program) -> tuple[int, int]:
  """(chunks, rows per chunk) of the program's training step, read off a
  trace of its batch (nothing runs)."""
  found = {}

  def trace():
    batch = run.task.sample(jax.random.key(0), run.train.batch_size)
    found["rows"] = step.chunk_rows(run.task, batch, run.train.chunk_tokens)
    return batch.positions

  with program.context():
    jax.eval_shape(trace)
  return run.train.batch_size // found["rows"], found["rows"]


def single_report(config, peak: float, label: str = "") -> list:
  """Prints the step's figures; returns the presets table's row. The step
  is timed against the same config with ``train.chunk_tokens=0`` (the
  whole batch at once, as every step ran before chunking), in turn."""
  run = schema.validate(config)
  config = run.config  # what runs (smoke mode shrinks)
  task, program = build(run)
  n_chunks, rows = chunking(run, program)
  programs = {"chunked": program}
  if n_chunks > 1:
    whole = ml_collections.ConfigDict(config.to_dict())
    whole.train.chunk_tokens = 0
    programs["whole"] = build(whole)[1]
  cost = program.step.cost_analysis()
  cost = cost[0] if isinstance(cost, list) else cost
  xla_flops = float(cost.get("flops", float("nan"))) if cost else float("nan")
  times = step_times(programs, _TIMED_STEPS.value, _REPEATS.value)
  step_time = times["chunked"]
  whole_time = times.get("whole", step_time)

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
  params = program.abstract_state.params
  flops = step_flops(config, task, params)
  tokens = config.train.batch_size * task.sequence_length()
  n_params = sum(p.size for p in jax.tree.leaves(params))
  print(f"model: {label + ', ' if label else ''}"
        f"{config.model.num_layers} layers x {config.model.d_model}, "
        f"{config.model.num_heads} heads, {n_params:,} params; batch "
        f"{config.train.batch_size} x {task.sequence_length()} tokens in "
        f"{n_chunks} chunk(s) of {rows} rows; mesh "
        f"{dict(program.layout.sizes)}")
  print(f"steps/s:            {1 / step_time:.3f}")
  print(f"tokens/s:           {tokens / step_time:,.0f}")
  print(f"model FLOP/step:    {flops / 1e9:.2f} G (XLA count: "
        f"{xla_flops / 1e9:.2f} G)")
  print(f"model FLOP/s:       {flops / step_time / 1e9:.1f} G")
  print(f"fraction of peak:   {flops / step_time / peak:.1%}")
  print(f"whole batch:        {1 / whole_time:.3f} steps/s "
        f"(train.chunk_tokens=0, timed in turn); chunked / whole = "
        f"{whole_time / step_time:.2f}x")
  print(f"data generation:    {data_time * 1e3:.2f} ms/step = "
        f"{data_time / step_time:.1%} of step time")
  return [label, f"{config.train.batch_size} x {task.sequence_length()}",
          n_chunks, 1 / step_time, f"{flops / step_time / peak:.1%}",
          1 / whole_time, f"{flops / whole_time / peak:.1%}",
          whole_time / step_time]


def _preset(name: str):
  return importlib.import_module(f"icl.configs.{name}").get_config("cpu")


def presets_report(presets: list[str], peak: float) -> None:
  rows = [single_report(_preset(name), peak, f"{name} cpu")
          for name in presets]
  print("every cpu preset's step, chunked (the default) and whole-batch, "
        "timed in turn in this process; fractions of the matmul peak above")
  print(metrics.markdown_table(
      ["preset", "batch x tokens", "chunks", "steps/s", "of peak",
       "whole-batch steps/s", "of peak", "chunked / whole"], rows))


def lengths_report(presets: list[str]) -> None:
  """Teacher-forced length evaluation against greedy decoding of the same
  examples, at each preset's evaluation lengths (fresh parameters: the
  time does not depend on their values)."""
  rows = []
  for name in presets:
    run = schema.validate(_preset(name))
    if "lengths" not in run.task.default_evals:
      continue
    model = run.model.build(run.task)
    layout = sharding.build_layout(run.config.mesh)
    program = step.Program(run, layout)
    params = program.init().params
    evals = evaluators.build(("lengths", "decoded_lengths"), model, run.task,
                             run.config.eval, rng.stream(run.seed, "eval"),
                             run.eval_positions)
    with program.context():
      for e in evals.values():  # compile
        e(params)
      times = {n: best_time(lambda: e(params), _REPEATS.value)
               for n, e in evals.items()}
    rows.append([f"{name} cpu", f"{run.config.eval.min_length}.."
                 f"{run.config.eval.max_length}", run.config.eval.batch_size,
                 times["lengths"], times["decoded_lengths"],
                 times["decoded_lengths"] / times["lengths"]])
  print("length evaluation, seconds per evaluation (best of "
        f"{_REPEATS.value}): teacher-forced against greedy KV-cache decoding")
  print(metrics.markdown_table(
      ["preset", "lengths", "examples per length", "teacher-forced s",
       "decoded s", "decoded / teacher-forced"], rows))


def ensemble_report(config, sizes: list[int], peak: float) -> None:
  """K vmapped models against K sequential single-model runs."""
  run = schema.validate(config)
  config = run.config  # what runs (smoke mode shrinks)
  task, single = build(run)
  sequential = time_steps(single, _TIMED_STEPS.value, _REPEATS.value)
  flops = step_flops(config, task, single.abstract_state.params)
  rows = []
  for k in sizes:
    ens = ml_collections.ConfigDict(config.to_dict())
    ens.ensemble.seed = tuple(range(k))
    start = time.perf_counter()
    _, program = build(ens)
    compile_s = time.perf_counter() - start
    step_time = time_steps(program, _TIMED_STEPS.value, _REPEATS.value)
    rows.append([k, 1 / step_time, k / step_time, 1 / sequential,
                 sequential * k / step_time, compile_s])
  print(f"ensembles of {config.model.num_layers} layers x "
        f"{config.model.d_model}, batch {config.train.batch_size} per model; "
        f"sequential = one single-model run after another")
  print(f"one model: {flops / 1e9:.2f} GFLOP/step; a sequential run reaches "
        f"{flops / sequential / 1e9:.1f} GFLOP/s = "
        f"{flops / sequential / peak:.1%} of the matmul peak")
  print(metrics.markdown_table(
      ["K", "ensemble steps/s", "model-steps/s (vmapped)",
       "model-steps/s (sequential)", "per-model speedup", "build+compile s"],
      rows))


# The task-diversity sweep's M values: members that differ in task fields.
_DIVERSITY = (4, 16, 64, 256, 1024, 32768, -1)


def ensemble_eval_report(config, k: int) -> None:
  """The first and a later evaluation of a K-member ensemble whose members
  differ in M and pool seed (the task-diversity sweep's shape), with the
  compiles each made: the members share one program per shape."""
  config = ml_collections.ConfigDict(config.to_dict())
  config.ensemble.num_tasks = tuple(_DIVERSITY[i % len(_DIVERSITY)]
                                    for i in range(k))
  config.ensemble.pool_seed = config.ensemble.seed = tuple(
      i // len(_DIVERSITY) for i in range(k))
  run = schema.validate(config)
  config = run.config  # what runs (smoke mode shrinks)
  _, program = build(run)
  state = program.init()
  with program.context():
    evals = evaluators.for_run(run, program.model)
    rows = []
    for when in ("first", "later"):
      start = time.perf_counter()
      with jax_events.collect(jax_events.COMPILE) as compiles:
        for i, member_evals in enumerate(evals):
          params = program.member_params(state.params, i)
          jax.block_until_ready([e(params).summary()
                                 for e in member_evals.values()])
      rows.append([when, time.perf_counter() - start, len(compiles),
                   sum(compiles)])
  print(f"evaluation of an ensemble of {len(run.members)} members differing "
        f"in M and pool seed ({config.model.num_layers} layers x "
        f"{config.model.d_model}, eval batch {config.eval.batch_size})")
  print(metrics.markdown_table(["evaluation", "seconds", "compiles",
                                "compile seconds"], rows))


def batching_report(k: int, tokens: int, width: int, hidden: int) -> None:
  """Per-model cost of one op done for K models at once vs for one model:
  a matmul like the MLP's and an elementwise op (gelu) on its output."""
  def per_call(fn, *args):
    jax.block_until_ready(fn(*args))
    return best_time(lambda: jax.block_until_ready(fn(*args)), _REPEATS.value)

  x = jnp.ones((k, tokens, width))
  w = jnp.ones((k, width, hidden))
  h = jnp.ones((k, tokens, hidden))
  matmul = jax.jit(lambda a, b: a @ b)
  gelu = jax.jit(jax.nn.gelu)
  rows = [["matmul", per_call(matmul, x[0], w[0]) * 1e3,
           per_call(matmul, x, w) * 1e3],
          ["gelu", per_call(gelu, h[0]) * 1e3, per_call(gelu, h) * 1e3]]
  print(f"one op, for 1 model and for K={k} at once ({tokens} tokens, "
        f"{width} -> {hidden}); per-model cost ratio > 1 means batching "
        f"is slower per model")
  print(metrics.markdown_table(
      ["op", "1 model ms", f"K={k} ms", "per-model cost ratio"],
      [r + [r[2] / k / r[1]] for r in rows]))


# Run in a fresh interpreter per launch, so imports and compiles are the
# ones a user's command pays. Prints {phase: seconds since the previous}.
_STARTUP_CHILD = """
import time
marks = [("start", time.perf_counter())]
mark = lambda name: marks.append((name, time.perf_counter()))
import importlib, json, sys
import jax
mark("import jax")
from icl import cli, evaluators, schema, sharding
from icl.train import program as program_lib
mark("import icl")
cli.enable_compilation_cache()
config = importlib.import_module("icl.configs." + sys.argv[1]).get_config()
run = schema.validate(config)
mark("validate (arithmetic builds its dataset once)")
program = program_lib.Program(run, sharding.build_layout(config.mesh))
mark("compile init + step")
state, metrics = program.step(program.init())
jax.block_until_ready(metrics)
mark("first step")
(evals,) = evaluators.for_run(run, program.model)
for _ in range(2):
  jax.block_until_ready([e(state.params).summary() for e in evals.values()])
  mark("next evaluation" if "first evaluation" in dict(marks)
       else "first evaluation")
print(json.dumps({n: t - marks[i][1] for i, (n, t) in enumerate(marks[1:])}))
"""


def startup_report(presets: list[str]) -> None:
  """Each preset launched twice in fresh processes: cold (an empty
  compilation cache) and warm (the cache the cold launch filled)."""
  rows = []
  for preset in presets:
    with tempfile.TemporaryDirectory() as cache:
      env = dict(os.environ, ICL_COMPILATION_CACHE=cache)
      launches = []
      for _ in ("cold", "warm"):
        start = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", _STARTUP_CHILD, preset],
                             env=env, capture_output=True, text=True,
                             check=True)
        phases = json.loads(out.stdout.strip().splitlines()[-1])
        phases["process, to the first step"] = sum(
            v for k, v in phases.items() if not k.endswith("evaluation"))
        phases["wall"] = time.perf_counter() - start
        launches.append(phases)
    for phase in launches[0]:
      cold, warm = launches[0][phase], launches[1][phase]
      rows.append([preset, phase, cold, warm, warm / cold])
  print("start-up of each cpu preset, seconds, in fresh processes: cold = "
        "empty compilation cache, warm = the cache the cold launch wrote")
  print(metrics.markdown_table(["preset", "phase", "cold s", "warm s",
                                "warm / cold"], rows))


def main(argv):
  del argv
  sizes = [int(k) for k in _ENSEMBLE_SIZES.value]
  if smoke.enabled():  # toy models (schema.validate shrinks them), few runs
    flags.FLAGS.timed_steps, flags.FLAGS.repeats = 2, 1
    sizes = sizes[:smoke.MAX_ARMS]
  print(f"machine: {machine()}")
  print(f"device: {jax.devices()[0].device_kind} x{jax.device_count()} "
        f"({jax.default_backend()})")
  peak = matmul_peak(256 if smoke.enabled() else 2048)
  print(f"matmul peak:        {peak / 1e9:.1f} GFLOP/s (float32, 2048^2)")
  if _PART.value in ("all", "single"):
    single_report(_CONFIG.value, peak)
  presets = _PRESETS.value[:1] if smoke.enabled() else _PRESETS.value
  if _PART.value == "presets":
    presets_report(presets, peak)
  if _PART.value == "lengths":
    lengths_report(["sequences"] if smoke.enabled() else presets)
  if _PART.value == "startup":
    startup_report(presets)
  if _PART.value == "ensemble_eval":
    ensemble_eval_report(_ENSEMBLE_CONFIG.value, max(sizes))
  if _PART.value in ("all", "ensemble"):
    config = _ENSEMBLE_CONFIG.value
    ensemble_report(config, sizes, peak)
    batching_report(max(sizes), config.train.batch_size * 2 *
                    config.task.num_points, config.model.d_model,
                    config.model.d_model * config.model.mlp_ratio)


if __name__ == "__main__":
  # It times compiles, so each must really run; a smoke run's numbers
  # mean nothing, and it may reuse them.
  cli.run(main, cache=smoke.enabled())
