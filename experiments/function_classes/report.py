"""The function-classes report: error against the number of in-context
examples, model and baselines over seeds, beside Garg et al.'s numbers;
and the model's distance to each baseline over training."""

from __future__ import annotations

import os

from icl import report
from icl.sweep import Outcome, statistics

# Garg et al. 2022 (quoted from the paper; ../shared/REFERENCES.md).
PAPER = {
    "linear": "d = 20: error / d 0.02 at n = d examples, 0.0006 at n = 2d",
    "decision_tree": "d = 20, depth 4, n = 100: transformer 0.12, greedy "
                     "tree 0.80, XGBoost 0.62 (squared error)",
    "sparse_linear": "d = 20, 3 nonzeros: the transformer beats least "
                     "squares below n = d and approaches Lasso",
}


def _examples(arm_config) -> list[int]:
  """The numbers of in-context examples the table shows."""
  d, points = arm_config.task.dim, arm_config.task.num_points
  # Every n below d at toy d: where a sparse prior can beat least squares.
  below = set(range(1, d)) if d <= 8 else {1, d // 2}
  wanted = below | {d, 2 * d, points - 1} | (
      {points // 4, points // 2} if points > 4 * d else set())
  return sorted(n for n in wanted if 0 < n < points)


def _curves(outcome: Outcome, arm: str) -> list[dict]:
  return outcome.per_seed(arm, "results", "functions")


def error_table(outcome: Outcome, arm: str) -> str:
  curves = _curves(outcome, arm)
  shown = _examples(outcome.configs[arm])
  # Position k predicts from k - 1 examples.
  rows = {name: {f"n={n}": statistics([c["error"][name][n] for c in curves])
                 for n in shown}
          for name in curves[0]["error"]}
  zero = {f"n={n}": statistics([c["zero"][n] for c in curves])["mean"]
          for n in shown}
  return report.stats_table(rows, [f"n={n}" for n in shown],
                            first="predictor", best="min", chance=zero,
                            chance_label="predict 0")


def plot(outcome: Outcome, path: str, title: str) -> None:
  arms = list(outcome.cells)
  fig, axes = report.figure(2, len(arms), width=5.6, height=3.4)
  for row, arm in zip(axes, arms):
    curves = _curves(outcome, arm)
    # One colour per predictor in both panels (the right has no model line).
    colors = {name: f"C{i}" for i, name in enumerate(curves[0]["error"])}
    n = [k - 1 for k in curves[0]["positions"]]
    for name in curves[0]["error"]:
      report.band(row[0], n, [c["error"][name] for c in curves], name,
                  color=colors[name], marker="")
    unit = "error / d" if curves[0]["scale"] != 1 else "squared error"
    row[0].set(title=f"{arm}: {unit}", xlabel="in-context examples n",
               yscale="log")
    row[0].legend(fontsize=6)
    histories = outcome.per_seed(arm, "history")
    steps = [h["step"] for h in histories[0]]
    for name in curves[0]["delta"]:
      report.band(row[1], steps, [[h.get(f"functions/delta/{name}")
                                   for h in hist] for hist in histories],
                  name, color=colors.get(name), marker="")
    row[1].set(title=f"{arm}: model's distance to each baseline",
               xlabel="training step", yscale="log")
    row[1].legend(fontsize=6)
  report.save(fig, path, title)


def write(outcome: Outcome, workdir: str) -> str:
  sweep = outcome.sweep
  c = next(iter(outcome.configs.values()))
  m = c.model
  lines = [
      f"# Function classes in context ({sweep.description})",
      f"{m.num_layers} layers x {m.d_model}, {m.num_heads} heads; "
      f"{c.train.steps} steps of batch {c.train.batch_size}, Adam (the "
      f"learning rate under each arm); d = {c.task.dim}; seeds "
      f"{list(sweep.seeds)}. Errors against the noiseless target on "
      f"{c.eval.batch_size} fresh sequences per seed, by the number n of "
      "in-context examples before the query; mean ± std over seeds, then "
      "the best (lowest) seed. The headline is the mean. 'predict 0' is "
      "the error of always answering 0 (the prior's mean)."]
  for arm in outcome.cells:
    config = outcome.configs[arm]
    task = config.task
    extra = "".join(f", {k} = {task[k]}" for k in ("sparsity", "depth")
                    if k in task)
    lines += [f"## {arm} ({task.num_points} points{extra}, lr "
              f"{config.optimizer.learning_rate:g})",
              error_table(outcome, arm),
              f"Garg et al. 2022 (quoted): "
              f"{PAPER.get(task.name, 'not reported')}."]
  lines.append(report.compute(outcome))
  plot(outcome, os.path.join(workdir, "function_classes.png"),
       f"n = {len(sweep.seeds)} seeds")
  return "\n\n".join(lines) + "\n"
