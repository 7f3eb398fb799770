"""The sorting-hints report: accuracy by length over seeds, beside the
paper's numbers, and where the heads attend."""

from __future__ import annotations

import os

import numpy as np

from icl import report
from icl.sweep import Outcome, statistics
from icl.tasks.sorting import successor

REPORT_LENGTHS = (20, 30, 50, 75, 100)
# Awasthi & Gupta 2023, exact match at length 100 after training on lengths
# <= 20, with repeated values (quoted; ../shared/REFERENCES.md).
PAPER_AT_100 = {"none": "< 0.01", "successor": "> 0.92"}


def _curves(outcome: Outcome, arm: str, metric: str) -> tuple[list, list]:
  """(lengths, one curve per seed) of ``metric`` for ``arm``."""
  results = outcome.per_seed(arm, "results", "lengths")
  return results[0]["lengths"], [r[metric] for r in results]


def at_lengths(outcome: Outcome, arm: str, metric: str) -> dict:
  lengths, per_seed = _curves(outcome, arm, metric)
  return {f"n={n}": statistics([c[lengths.index(n)] for c in per_seed])
          for n in REPORT_LENGTHS if n in lengths}


def _paper(arm: str) -> list[str]:
  hint = arm.split("_")[0]
  plain = arm in ("none", "successor", "none_rep", "successor_rep")
  return [PAPER_AT_100[hint] if plain and hint in PAPER_AT_100 else ""]


def probe_table(outcome: Outcome) -> str:
  """Per arm and length: the best head's successor-hit rate, over seeds."""
  rows, lengths = {}, None
  for arm in outcome.cells:
    probes = outcome.per_seed(arm, "analysis")
    lengths = probes[0]["lengths"]
    best = [successor.best_heads(p) for p in probes]
    rows[arm] = {f"n={n}": statistics([b[i][1] for b in best])
                 for i, n in enumerate(lengths)}
  return report.stats_table(rows, [f"n={n}" for n in lengths])


def plot(outcome: Outcome, path: str, title: str) -> None:
  fig, axes = report.figure(2, 1, width=5.5, sharey=True)
  for ax, metric in zip(axes[0], ("exact_match", "token_accuracy")):
    for arm in outcome.cells:
      lengths, per_seed = _curves(outcome, arm, metric)
      report.band(ax, lengths, per_seed, arm, marker="")
    lo, hi = next(iter(outcome.cells.values()))[
        min(next(iter(outcome.cells.values())))]["results"]["lengths"][
            "train_range"]
    ax.axvspan(lo - 0.5, hi + 0.5, color="0.9", zorder=0)
    ax.set_title(metric.replace("_", " "))
    ax.set_xlabel("sorting length (shaded: trained)")
    ax.set_ylim(-0.02, 1.02)
  axes[0][1].legend(fontsize=6, loc="lower left")
  report.save(fig, path, title)


def write(outcome: Outcome, workdir: str) -> str:
  sweep = outcome.sweep
  c = next(iter(outcome.configs.values()))
  t, m = c.task, c.model
  n = len(sweep.seeds)
  chance = 1 / t.num_values
  columns = [f"n={k}" for k in REPORT_LENGTHS]
  # Say only what the arms in this report vary.
  doubled = sorted({cfg.train.batch_size for cfg in outcome.configs.values()}
                   - {c.train.batch_size})
  batch = f"batch {c.train.batch_size}" + (
      f" (`_2x` arms: {doubled[0]})" if doubled else "")
  repeats = ("; `_rep` arms draw values with repeats" if any(
      cfg.task.repeats for cfg in outcome.configs.values()) else "")
  lines = [
      f"# Sorting with task hints ({sweep.description})",
      f"{m.num_layers} layers, width {m.d_model}, {m.num_heads} heads, "
      f"positional encoding `{m.positional}`, {c.train.steps} steps, AdamW "
      f"lr {c.optimizer.learning_rate}; {batch}; seeds "
      f"{list(sweep.seeds)} (n = {n}). Integers 0..{t.num_values - 1}, "
      f"training lengths {t.min_length}..{t.max_length}{repeats}. "
      f"Test: {c.eval.batch_size} fresh sorting examples per "
      "length and seed. Headline: the mean over seeds; the best seed has "
      "its own column. Chance: a uniform guess per token, "
      f"1/{t.num_values} (exact match: its n-th power).",
      "## Exact match on sorting (paper: Awasthi & Gupta 2023, quoted, at "
      "n=100 with repeats)",
      report.stats_table({a: at_lengths(outcome, a, "exact_match")
                          for a in outcome.cells}, columns,
                         extra={a: _paper(a) for a in outcome.cells},
                         extra_header=["paper, n=100"],
                         chance={k: chance ** int(k[2:]) for k in columns}),
      "## Per-token accuracy on sorting",
      report.stats_table({a: at_lengths(outcome, a, "token_accuracy")
                          for a in outcome.cells}, columns,
                         chance={k: chance for k in columns}),
      "## Successor attention",
      "Per arm and test length: the fraction of output steps at which the "
      "best head's attention peaks on the prompt position holding the next "
      "element to emit (over seeds).",
      probe_table(outcome)]
  lines.append(report.compute(outcome))
  plot(outcome, os.path.join(workdir, "accuracy_vs_length.png"),
       f"sorting, {c.train.steps} steps, n = {n} seeds")
  return "\n\n".join(lines) + "\n"
