"""The addition length-generalization report: exact match by the longer
operand's length per arm, over seeds, and the mean accuracy grid."""

from __future__ import annotations

import os

import numpy as np

from icl import report
from icl.evaluators import arithmetic as arithmetic_eval
from icl.sweep import Outcome, statistics

# Quoted headline results (../shared/REFERENCES.md), at far larger scale.
PAPERS = [
    "McLeish et al. 2024 (Abacus): 99% on 100-digit addition after training "
    "on <= 20 digits (looped transformer, one GPU-day).",
    "Zhou et al. 2024 (FIRE + randomized positions + reversed + index "
    "hints): > 98% exact match at 100 digits after training on <= 40.",
    "Zhou et al. 2023 (index hints, NoPE): trained on <= 40 digits, mostly "
    "generalize to about 50.",
    "Lee et al. 2023 (plain absolute positions): 0% on 8 digits after "
    "training on 1-7.",
]


def by_longest_operand(result: dict) -> dict[int, float]:
  """Exact match by max(len_a, len_b), weighting cells by their counts."""
  g = result["grid"]
  out = {}
  for i, la in enumerate(g["len_a"]):
    for j, lb in enumerate(g["len_b"]):
      n, acc = g["count"][i][j], g["exact_match"][i][j]
      if n:
        hits, total = out.get(max(la, lb), (0.0, 0))
        out[max(la, lb)] = (hits + acc * n, total + n)
  return {m: hits / total for m, (hits, total) in sorted(out.items())}


def _results(outcome: Outcome, arm: str) -> list[dict]:
  return outcome.per_seed(arm, "results", "arithmetic")


def _row(outcome: Outcome, arm: str) -> dict:
  stats = outcome.stats(arm)["arithmetic"]
  row = {"seen": stats.get("exact_match/seen"),
         "beyond": stats.get("exact_match/beyond")}
  curves = [by_longest_operand(r) for r in _results(outcome, arm)]
  for m in curves[0]:
    row[f"n={m}"] = statistics([c[m] for c in curves])
  return row


def mean_grid(results: list[dict]) -> dict:
  """One seed's result with its grid's exact match averaged over seeds."""
  mean = dict(results[0])
  grids = [np.array([[np.nan if v is None else v for v in row]
                     for row in r["grid"]["exact_match"]]) for r in results]
  mean["grid"] = dict(results[0]["grid"],
                      exact_match=np.mean(grids, axis=0).tolist())
  mean["exact_match"] = float(np.mean([r["exact_match"] for r in results]))
  return mean


def plot(outcome: Outcome, workdir: str, title: str) -> None:
  arithmetic_eval.plot({arm: mean_grid(_results(outcome, arm))
                        for arm in outcome.cells},
                       os.path.join(workdir, "accuracy_grid.png"),
                       title=f"{title}; mean over seeds")
  fig, axes = report.figure(1, 1, width=6.0)
  ax = axes[0][0]
  for arm in outcome.cells:
    curves = [by_longest_operand(r) for r in _results(outcome, arm)]
    lengths = list(curves[0])
    report.band(ax, lengths, [[c[m] for m in lengths] for c in curves], arm,
                marker="o")
  k = _results(outcome, next(iter(outcome.cells)))[0]["train_digits"][0][1]
  ax.axvspan(0.5, k + 0.5, color="0.9", zorder=0)
  ax.set(xlabel="digits of the longer operand (shaded: trained)",
         ylabel="exact match", ylim=(-0.02, 1.02))
  ax.legend(fontsize=7)
  report.save(fig, os.path.join(workdir, "accuracy_vs_digits.png"), title)


def _chance(rows: dict, k: int) -> dict[str, list[str]]:
  """A uniform guess of each answer digit: the answer to a sum whose longer
  operand has m digits has at least m digits, so chance is at most
  10^-m."""
  least = {label: int(label[2:]) if label.startswith("n=") else
           (1 if label.startswith("seen") else k + 1) for label in rows}
  return {label: [f"<= 1e-{m}"] for label, m in least.items()}


def write(outcome: Outcome, workdir: str) -> str:
  sweep = outcome.sweep
  c = next(iter(outcome.configs.values()))
  m, t = c.model, c.task
  k = t.digits_a[1]
  by_arm = {arm: _row(outcome, arm) for arm in outcome.cells}
  measures = list(next(iter(by_arm.values())))
  # One row per measure, one column pair per arm: the table stays narrow.
  rows = {(f"seen (<= {k})" if name == "seen" else f"beyond {k}"
           if name == "beyond" else name):
          {arm: by_arm[arm].get(name) for arm in by_arm}
          for name in measures}
  dataset = _results(outcome, next(iter(outcome.cells)))[0]["dataset"]
  lines = [
      f"# Length generalization in addition ({sweep.description})",
      f"Trained on 1..{k}-digit operands, tested on 1..{2 * k}; "
      f"{m.num_layers} layers x {m.d_model}, {m.num_heads} heads, "
      f"{c.train.steps} steps of batch {c.train.batch_size}, "
      f"{t.train_size} training problems; seeds {list(sweep.seeds)}. Exact "
      f"match of greedy decoding on {dataset['test_size']} disjoint test "
      "problems; mean ± std over seeds, then the best seed (the headline "
      "is the mean; Zhou et al. 2024 stress how much seeds vary). Columns "
      "`n=m`: problems whose longer operand has m digits; chance is a "
      "uniform guess of every answer digit.",
      f"Dataset `{dataset['name']}` version {dataset['version']}, sha256 "
      f"`{dataset['sha256']}`.",
      report.stats_table(rows, list(by_arm), first="exact match",
                         extra=_chance(rows, k), extra_header=["chance"]),
      "Published results (quoted, at far larger scale):",
      "\n".join(f"- {p}" for p in PAPERS)]
  lines.append(report.compute(outcome))
  plot(outcome, workdir, f"addition, trained on 1..{k} digits, "
       f"n = {len(sweep.seeds)} seeds")
  return "\n\n".join(lines) + "\n"
