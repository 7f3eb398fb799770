"""The positional-encodings report: when each encoding learned its training
lengths, and what it did beyond them, over seeds, beside Kazemnejad et al."""

from __future__ import annotations

import os

from icl import report
from icl.sweep import Outcome, first_step, statistics

SEEN = "lengths/exact_match/seen"
# Kazemnejad et al. 2023, test exact match on lengths 21-40 after training
# on <= 20, from the authors' logs, averaged over seeds (quoted from the
# paper; ../shared/REFERENCES.md). Decoder-only, about 107M parameters.
PAPER = {
    "copy": {"none": 0.99, "t5": 0.77, "alibi": 0.29, "rope": 0.00,
             "sinusoidal": 0.00},
    "reverse": {"none": 0.47, "t5": 0.45, "alibi": 0.19, "rope": 0.05,
                "sinusoidal": 0.01},
}
REACH_LEVEL = 0.5
COLUMNS = (("lengths/exact_match/seen", "EM 1-20"),
           ("lengths/exact_match/beyond", "EM 21-40"),
           ("lengths/token_accuracy/beyond", "token acc. 21-40"))


def split(arm: str) -> tuple[str, str]:
  task, _, encoding = arm.partition(".")
  return task, encoding


def steps_to(outcome: Outcome, arm: str, criterion: float) -> list:
  """Per seed: the first evaluated step with exact match >= criterion on
  the training lengths, or None."""
  return [first_step(history, SEEN, criterion)
          for history in outcome.per_seed(arm, "history")]


def reach(lengths: list[int], exact_match: list[float],
          level: float = REACH_LEVEL) -> int:
  """The longest length n with exact match >= ``level`` at every tested
  length up to n (0 if the shortest already falls short): how far an
  encoding carries its training range, without one lucky length further
  on counting."""
  n = 0
  for length, value in zip(lengths, exact_match):
    if value < level:
      break
    n = length
  return n


def reaches(outcome: Outcome, arm: str) -> list[int]:
  """Per seed: :func:`reach` of its final length evaluation."""
  return [reach(r["lengths"], r["exact_match"])
          for r in outcome.per_seed(arm, "results", "lengths")]


def _steps_cell(steps: list, cap: int) -> str:
  reached = [s for s in steps if s is not None]
  if not reached:
    return f"not by {cap}"
  text = report.mean_std(statistics(reached), digits=0)
  return text if len(reached) == len(steps) else (
      f"{text}; {len(steps) - len(reached)} of {len(steps)} not by {cap}")


def task_table(outcome: Outcome, task: str, criterion: float) -> str:
  arms = [a for a in outcome.cells if split(a)[0] == task]
  rows = {split(a)[1]: {key: outcome.stats(a)["lengths"][key.split("/", 1)[1]]
                        for key, _ in COLUMNS} for a in arms}
  cap = next(iter(outcome.configs.values())).train.steps
  extra = {split(a)[1]: [_steps_cell(steps_to(outcome, a, criterion), cap),
                         _reach_cell(reaches(outcome, a)),
                         _paper(task, split(a)[1])] for a in arms}
  alphabet = outcome.configs[arms[0]].task.alphabet
  return report.stats_table(
      rows, COLUMNS, first="encoding", extra=extra,
      extra_header=[f"steps to EM {criterion} on 1-20",
                    f"reach: longest n, EM >= {REACH_LEVEL} up to n",
                    "paper, EM 21-40"],
      chance={"lengths/exact_match/seen": 0.0,
              "lengths/exact_match/beyond": 0.0,
              "lengths/token_accuracy/beyond": 1 / alphabet})


def _reach_cell(per_seed: list[int]) -> str:
  return (f"{report.mean_std(statistics(per_seed), digits=1)} "
          f"(max {max(per_seed)})")


def _paper(task: str, encoding: str) -> str:
  value = PAPER.get(task, {}).get(encoding)
  return "" if value is None else f"{value:.2f}"


def plot(outcome: Outcome, path: str, title: str) -> None:
  """Per task: exact match against length (mean, band, seeds), and exact
  match on the training lengths against the step."""
  tasks = list(dict.fromkeys(split(a)[0] for a in outcome.cells))
  # One colour per encoding in every panel, whichever arms a task has.
  encodings = list(dict.fromkeys(split(a)[1] for a in outcome.cells))
  fig, axes = report.figure(2, len(tasks), width=5.5)
  for row, task in zip(axes, tasks):
    for arm in (a for a in outcome.cells if split(a)[0] == task):
      encoding = split(arm)[1]
      color = f"C{encodings.index(encoding) % 10}"
      curves = outcome.per_seed(arm, "results", "lengths")
      report.band(row[0], curves[0]["lengths"],
                  [c["exact_match"] for c in curves], encoding, color=color,
                  marker="")
      histories = outcome.per_seed(arm, "history")
      report.band(row[1], [h["step"] for h in histories[0]],
                  [[h.get(SEEN) for h in hist] for hist in histories],
                  encoding, color=color)
    lo, hi = curves[0]["train_range"]
    row[0].axvspan(lo - 0.5, hi + 0.5, color="0.9", zorder=0)
    row[0].set(title=f"{task}: exact match by length (shaded: trained)",
               xlabel="problem length", ylim=(-0.02, 1.02))
    row[1].set(title=f"{task}: exact match on lengths {lo}-{hi}",
               xlabel="training step", ylim=(-0.02, 1.02))
    row[1].legend(fontsize=6, loc="lower right")
  report.save(fig, path, title)


def write(outcome: Outcome, workdir: str) -> str:
  from icl.experiments.positional_encodings.sweep import CRITERION
  sweep = outcome.sweep
  c = next(iter(outcome.configs.values()))
  m, t = c.model, c.task
  lines = [
      f"# Positional encodings and length generalization "
      f"({sweep.description})",
      f"{m.num_layers} layers x {m.d_model}, {m.num_heads} heads; "
      f"{c.train.steps} steps of batch {c.train.batch_size}, AdamW lr "
      f"{c.optimizer.learning_rate}; problem lengths {t.min_length}.."
      f"{t.max_length} over {t.alphabet} symbols, tested at every length "
      f"{c.eval.min_length}..{c.eval.max_length} on {c.eval.batch_size} "
      f"fresh examples each, every {c.train.eval_every} steps. Seeds "
      f"{list(sweep.seeds)}. Cells: mean ± std over seeds, then the best "
      "seed; the headline is the mean. Chance: a uniform guess per answer "
      f"token (1/{t.alphabet}); its exact match is below 1e-6 at every "
      "length.",
      "Kazemnejad et al. 2023's numbers are quoted from the paper "
      "(decoder-only, about 107M parameters, far longer training)."]
  for task in dict.fromkeys(split(a)[0] for a in outcome.cells):
    lines += [f"## {task}", task_table(outcome, task, CRITERION)]
  lines.append(report.compute(outcome))
  plot(outcome, os.path.join(workdir, "positional_encodings.png"),
       f"{m.num_layers} x {m.d_model}, {c.train.steps} steps, "
       f"n = {len(sweep.seeds)} seeds")
  return "\n\n".join(lines) + "\n"
