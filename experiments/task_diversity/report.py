"""The task-diversity report: errors and gaps over seeds, the threshold M*,
and the paper's figure with seed bands."""

from __future__ import annotations

import math
import os

from icl import report
from icl.sweep import Outcome

# (summary key, header): error / D and the gap to each Bayes baseline.
COLUMNS = (("pretrain/error/model", "PT model"),
           ("true/error/model", "True model"),
           ("pretrain/delta/dmmse", "PT Δ dMMSE"),
           ("true/delta/ridge", "True Δ ridge"))
BASELINES = (("true/error/ridge", "True ridge"),
             ("pretrain/error/dmmse", "PT dMMSE"))
# Raventós et al. 2023 (quoted, ../shared/REFERENCES.md): where the
# transition lies for each model size.
PAPER_THRESHOLD = {"4 x 64": "between 2^11 and 2^12",
                   "8 x 128": "between 2^14 and 2^15"}


def pool_size(arm: str) -> float:
  value = arm.split("=", 1)[1]
  return math.inf if value == "inf" else int(value)


def threshold(outcome: Outcome, key: str = "true/delta/ridge"):
  """(M before, M*): M* is the smallest M from which every larger M has a
  mean Δ(model, ridge) on T_true within 2 std (at least 10%) of the mean
  at the largest M: where more task diversity stops helping. None when
  the largest M has no seeds."""
  arms = sorted(outcome.cells, key=pool_size)
  means = [outcome.stats(a)["regression"][key]["mean"] for a in arms]
  last = outcome.stats(arms[-1])["regression"][key]
  if last["mean"] is None:
    return None
  spread = max(2 * (last["std"] or 0.0), 0.1 * last["mean"])
  star = len(arms) - 1
  while star > 0 and means[star - 1] <= last["mean"] + spread:
    star -= 1
  return (arms[star - 1] if star else None), arms[star], last["mean"], spread


def plot(outcome: Outcome, path: str, title: str) -> None:
  arms = sorted(outcome.cells, key=pool_size)
  finite = [pool_size(a) for a in arms if pool_size(a) != math.inf]
  x = [pool_size(a) if pool_size(a) != math.inf else max(finite) * 4
       for a in arms]
  fig, axes = report.figure(2, 1, width=5.5, sharey=True)
  for ax, dist in zip(axes[0], ("pretrain", "true")):
    for name in ("model", "ridge", "dmmse"):
      key = f"{dist}/error/{name}"
      per_seed = list(zip(*[outcome.values(a, "regression", key)
                            for a in arms]))
      if all(v is None for s in per_seed for v in s):
        continue
      report.band(ax, x, per_seed, name)
    ax.set_title(f"error / D on T_{dist}")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xticks(x, [a.split("=")[1].replace("inf", "∞") for a in arms])
    ax.set_xlabel("pretraining task diversity M")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
  report.save(fig, path, title)


def plot_dynamics(outcome: Outcome, path: str, title: str) -> None:
  """Per M: the model's distance to ridge and to dMMSE on the pool over
  training (the "transient ridge" view: at intermediate M a model may
  first approach ridge, then specialize to its pool)."""
  arms = [a for a in sorted(outcome.cells, key=pool_size)
          if pool_size(a) != math.inf]
  fig, axes = report.figure(len(arms), 1, width=3.2, height=3.0,
                            sharey=True)
  for ax, arm in zip(axes[0], arms):
    histories = outcome.per_seed(arm, "history")
    steps = [h["step"] for h in histories[0]]
    for name in ("ridge", "dmmse"):
      key = f"regression/pretrain/delta/{name}"
      report.band(ax, steps, [[h.get(key) for h in hist]
                              for hist in histories], f"Δ {name}")
    ax.set(title=arm, xlabel="step", yscale="log")
  axes[0][0].set_ylabel("Δ / D on the pool")
  axes[0][-1].legend(fontsize=6)
  report.save(fig, path, title)


def write(outcome: Outcome, workdir: str) -> str:
  sweep = outcome.sweep
  first = next(iter(outcome.configs.values()))
  m = first.model
  size = f"{m.num_layers} x {m.d_model}"
  arms = sorted(outcome.cells, key=pool_size)
  rows = {a: outcome.stats(a)["regression"] for a in arms}
  n = len(sweep.seeds)
  zero = {key: first.task.task_var for key, _ in COLUMNS
          if "/error/" in key and key.startswith("true")}
  lines = [
      f"# Task diversity ({sweep.description})",
      f"{size} model ({m.num_heads} heads, {m.positional} positions), "
      f"{first.train.steps} steps of batch {first.train.batch_size}, "
      f"D = {first.task.dim}, K = {first.task.num_points}, "
      f"σ² = {first.task.noise_var}; seeds {list(sweep.seeds)} (n = {n}). "
      "Error / D averaged over context positions, on the pretraining pool "
      "(PT) and on fresh Gaussian tasks (True). Headline: the mean over "
      "seeds; the best seed (the lowest error) has its own column. "
      "'predict 0' is the error of always answering 0 on T_true, τ².",
      "## Model errors and gaps to the Bayes baselines",
      report.stats_table(rows, COLUMNS, first="M", best="min",
                         chance=zero, chance_label="predict 0"),
      "## The baselines on the same evaluation batches",
      report.stats_table(rows, BASELINES, first="M", best="min")]
  found = threshold(outcome)
  if found:
    before, star, final, spread = found
    where = (f"between {before.split('=')[1]} and {star.split('=')[1]}"
             if before else f"at or below {star.split('=')[1]}")
    lines += ["## Threshold", (
        f"Δ(model, ridge) on T_true stops improving {where}: from "
        f"{star} on, every larger M is within {spread:.4f} of its mean at "
        f"the largest M ({final:.4f}; the margin is 2 std over seeds, at "
        f"least 10%). Raventós et al. 2023 (quoted) put the transition "
        f"{PAPER_THRESHOLD.get(size, 'at a size they do not report')} for "
        f"the {size} model at 500k steps.")]
  lines.append(report.compute(outcome))
  plot(outcome, os.path.join(workdir, "task_diversity.png"),
       f"task diversity, {size}, {first.train.steps} steps, n = {n} seeds")
  plot_dynamics(outcome, os.path.join(workdir, "dynamics.png"),
                f"distance to the Bayes baselines during training, n = {n}")
  return "\n\n".join(lines) + "\n"
