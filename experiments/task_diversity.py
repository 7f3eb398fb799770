"""Task-diversity sweep (Raventós et al. 2023, Figure 2 style).

Trains one model per pretraining task diversity M and reports, on the pool
(T_pretrain) and on Gaussian tasks (T_true), the model's error and its gap Δ
to ridge and to dMMSE. Small M should track dMMSE and fail on new tasks;
large M should track ridge.

    python -m icl.experiments.task_diversity --preset=cpu --workdir=runs/task_diversity
    python -m icl.experiments.task_diversity --preset=paper --workdir=runs/td_paper

Each M trains in ``WORKDIR/M{M}`` (resumable). With ``--ensemble`` the whole
sweep trains as one vmapped program in ``WORKDIR/ensemble`` (one member per M,
``member_{k}/``), which fills an accelerator instead of queueing small jobs;
its results match the separate runs to float32 rounding. The sweep writes
``WORKDIR/results.json``, ``WORKDIR/table.md`` and ``WORKDIR/task_diversity.png``.

    python -m icl.experiments.task_diversity --preset=cpu --ensemble --workdir=runs/td_ens
"""

from __future__ import annotations

import os
import time

from absl import flags
import matplotlib
import ml_collections

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from icl.configs import regression  # noqa: E402
from icl import cli, files, metrics, schema, train  # noqa: E402
from icl.errors import ConfigError  # noqa: E402

# Each preset trains configs/regression.py's preset of the same name for
# every M, for the given steps (None: the preset's own). cpu is ~7 min per M
# on 2 cores; paper is the paper's base model over M = 2^1 .. 2^20 and inf.
SWEEPS = {
    "cpu": {m: None for m in [4, 16, 64, 256, 1024, 32768, -1]},
    "paper": {m: None for m in [2**i for i in range(1, 21)] + [-1]},
}

_PRESET = flags.DEFINE_enum("preset", "cpu", list(SWEEPS), "Sweep preset.")
_WORKDIR = flags.DEFINE_string("workdir", None, "Output directory.")
_NUM_TASKS = flags.DEFINE_list("num_tasks", None,
                               "Override the M values (ints; -1 = infinite).")
_STEPS = flags.DEFINE_integer("steps", None, "Override training steps.")
_ENSEMBLE = flags.DEFINE_bool("ensemble", False,
                              "Train every M at once as one vmapped ensemble.")


def sweep_configs(preset: str, num_tasks=None, steps=None):
  """(M, config) pairs; ``num_tasks`` and ``steps`` override the preset's."""
  plan = SWEEPS[preset]
  for m in (int(m) for m in num_tasks) if num_tasks else plan:
    config = regression.get_config(preset)
    config.task.num_tasks = m
    config.train.steps = steps or plan.get(m) or config.train.steps
    yield m, config


def label(m: int) -> str:
  return "∞" if m == -1 else str(m)


def table(rows: dict[int, dict]) -> str:
  cols = ["pretrain/error/model", "pretrain/error/dmmse", "pretrain/error/ridge",
          "true/error/model", "true/error/ridge", "true/error/dmmse",
          "pretrain/delta/dmmse", "pretrain/delta/ridge", "true/delta/dmmse",
          "true/delta/ridge"]
  names = ["PT model", "PT dMMSE", "PT ridge", "True model", "True ridge",
           "True dMMSE", "PT Δ dMMSE", "PT Δ ridge", "True Δ dMMSE",
           "True Δ ridge"]
  body = [[label(m)] + [s.get(c) for c in cols] for m, s in rows.items()]
  return metrics.markdown_table(["M"] + names, body)


def plot(rows: dict[int, dict], path: str) -> None:
  ms = list(rows)
  finite = [m for m in ms if m != -1]
  top = max(finite) * 4 if finite else 1
  x = [m if m != -1 else top for m in ms]
  fig, axes = plt.subplots(2, 2, figsize=(11, 8), sharex=True)
  for col, dist in enumerate(("pretrain", "true")):
    ax = axes[0, col]
    for name, style in (("model", "o-"), ("ridge", "s--"), ("dmmse", "^--")):
      ax.plot(x, [rows[m].get(f"{dist}/error/{name}", float("nan"))
                  for m in ms], style, label=name)
    ax.set_title(f"error / D on T_{dist}")
    ax2 = axes[1, col]
    for name, style in (("ridge", "s-"), ("dmmse", "^-")):
      ax2.plot(x, [rows[m].get(f"{dist}/delta/{name}", float("nan"))
                   for m in ms], style, label=f"Δ(model, {name})")
    ax2.set_title(f"gap to baselines on T_{dist}")
    for a in (ax, ax2):
      a.set_xscale("log", base=2)
      a.set_yscale("log")
      a.set_xticks(x, [label(m) for m in ms])
      a.legend()
      a.grid(alpha=0.3)
    ax2.set_xlabel("pretraining task diversity M")
  fig.tight_layout()
  files.save_figure(fig, path)
  plt.close(fig)


def ensemble_config(configs: dict[int, ml_collections.ConfigDict]):
  """One ensemble config whose member k is ``configs``'s k-th run."""
  first, *rest = configs.values()
  for m, config in configs.items():
    other = config.to_dict()
    other["task"]["num_tasks"] = first.task.num_tasks
    if other != first.to_dict():
      raise ConfigError(f"--ensemble needs runs that differ only in M; the run "
                       f"for M = {label(m)} differs in more (e.g. "
                       f"train.steps {config.train.steps} vs "
                       f"{first.train.steps})")
  combined = ml_collections.ConfigDict(first.to_dict())
  combined.ensemble.num_tasks = tuple(configs)
  return combined


def run_sweep(configs: dict[int, ml_collections.ConfigDict], workdir: str,
              ensemble: bool = False) -> dict[int, dict]:
  """Trains every M (separately, or as one ensemble); returns summaries."""
  if ensemble:
    start = time.time()
    print(f"=== ensemble of M = {[label(m) for m in configs]} ===", flush=True)
    results = train.train_and_evaluate(ensemble_config(configs),
                                       os.path.join(workdir, "ensemble"))
    print(f"ensemble done in {time.time() - start:.0f}s", flush=True)
    return {m: r["regression"].summary() for m, r in zip(configs, results)}
  runs = schema.validate_arms(configs, lambda m: f"M = {label(m)}")
  rows = {}
  for m, run in runs.items():
    print(f"=== M = {label(m)} ===", flush=True)
    start = time.time()
    results = train.train_and_evaluate(run, os.path.join(workdir, f"M{m}"))
    rows[m] = results["regression"].summary()
    print(f"M = {label(m)} done in {time.time() - start:.0f}s", flush=True)
  return rows


def write_outputs(rows: dict[int, dict], workdir: str) -> str:
  files.write_json(os.path.join(workdir, "results.json"),
                   {label(m): s for m, s in rows.items()})
  text = table(rows)
  files.write_text(os.path.join(workdir, "table.md"), text + "\n")
  plot(rows, os.path.join(workdir, "task_diversity.png"))
  return text


def main(argv):
  del argv
  if not _WORKDIR.value:
    cli.fail("--workdir is required")
  configs = dict(sweep_configs(_PRESET.value, _NUM_TASKS.value, _STEPS.value))
  rows = run_sweep(configs, _WORKDIR.value, _ENSEMBLE.value)
  print(write_outputs(rows, _WORKDIR.value))


if __name__ == "__main__":
  cli.run(main)
