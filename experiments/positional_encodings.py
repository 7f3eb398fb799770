"""Positional encodings and length generalization (Kazemnejad et al. 2023).

Trains one model per (task, encoding) on problem lengths 1..20 and tests
every length up to 40. The table gives exact match averaged over the unseen
lengths 21..40 (Kazemnejad et al.'s split), beside the paper's numbers.

    python -m icl.experiments.positional_encodings --preset=cpu --workdir=runs/pe
    python -m icl.experiments.positional_encodings --preset=paper --workdir=runs/pe_paper
    python -m icl.experiments.positional_encodings --encodings=none,rope \
        --tasks=copy --steps=500 --workdir=runs/pe_quick

Each run trains in ``WORKDIR/{task}/{arm}`` (resumable: a finished run only
re-evaluates). The sweep writes ``WORKDIR/results.json``, ``WORKDIR/table.md``
and one ``WORKDIR/accuracy_vs_length_{task}.png`` per task.

Arms are encodings by name, plus variants written ``encoding+randomized``
(randomized positions, L_max = ``RANDOMIZED_MAX``) and
``encoding+temperature`` (learned length temperature, beta from 0).
"""

from __future__ import annotations

import os
import time

from absl import flags

from icl.configs import sequences
from icl import cli, files, metrics, schema, train
from icl.evaluators import lengths as evaluate_lengths
from icl.errors import ConfigError
from icl.models import positional

TASKS = ("copy", "reverse")
# Encodings of token positions: Abacus reads digit ids, which copy and
# reverse do not have.
ENCODINGS = tuple(n for n, e in positional.REGISTRY.items()
                  if e.reads == "tokens")
VARIANTS = ("rope+randomized", "none+temperature")
RANDOMIZED_MAX = 256  # L_max: several times the longest test sequence (82)

# Kazemnejad et al. 2023, test exact match from the authors' logs, averaged
# over seeds (quoted from the paper; see ../shared/REFERENCES.md).
PAPER = {
    "copy": {"none": 0.99, "t5": 0.77, "alibi": 0.29, "rope": 0.00,
             "sinusoidal": 0.00},
    "reverse": {"none": 0.47, "t5": 0.45, "alibi": 0.19, "rope": 0.05,
                "sinusoidal": 0.01},
}
PRESETS = ("cpu", "paper")  # configs/sequences.py presets


def arm_config(preset: str, task: str, arm: str, steps: int | None = None,
               seed: int = 0):
  """The config of one arm: ``encoding`` or ``encoding+variant``."""
  encoding, _, variant = arm.partition("+")
  config = sequences.get_config(f"{preset},{task}")
  config.seed = seed
  config.model.positional = encoding
  if variant == "randomized":
    config.model.randomized_positions = RANDOMIZED_MAX
    config.model.max_len = max(config.model.max_len, RANDOMIZED_MAX)
  elif variant == "temperature":
    config.model.learn_temperature = True
  elif variant:
    raise ConfigError(f"--encodings entry {arm!r} has an unknown variant "
                      f"{variant!r}; known: randomized, temperature")
  config.train.steps = steps or config.train.steps
  return config


def run_sweep(preset, tasks, arms, workdir, steps=None, verbose=True):
  """Trains every (task, arm); returns {task: {arm: results}}."""
  plans = {(t, a): arm_config(preset, t, a, steps) for t in tasks
           for a in arms}
  # Every bad arm fails before any training, and each is validated once.
  runs = schema.validate_arms(plans, lambda key: "/".join(key))
  out = {}
  for (task, arm), run in runs.items():
    start = time.time()
    results = train.train_and_evaluate(
        run, os.path.join(workdir, task, arm.replace("+", "_")),
        verbose=False)["lengths"].data
    out.setdefault(task, {})[arm] = results
    s = evaluate_lengths.summarize(results)
    if verbose:
      print(f"{task:8s} {arm:18s} exact match: seen "
            f"{s['exact_match/seen']:.3f}, beyond "
            f"{s.get('exact_match/beyond', float('nan')):.3f} "
            f"({time.time() - start:.0f}s)", flush=True)
  return out


def table(results: dict, metric: str = "exact_match/beyond") -> str:
  """Tasks x arms; for exact match beyond training, the paper's number in
  parentheses (it reports only that)."""
  arms = list(next(iter(results.values())))
  rows = []
  for task, by_arm in results.items():
    row = [task]
    for arm in arms:
      ours = evaluate_lengths.summarize(by_arm[arm]).get(metric)
      paper = (PAPER.get(task, {}).get(arm)
               if metric == "exact_match/beyond" else None)
      cell = "n/a" if ours is None else f"{ours:.2f}"
      row.append(cell if paper is None else f"{cell} ({paper:.2f})")
    rows.append(row)
  return metrics.markdown_table(["task"] + arms, rows)


def write_outputs(results: dict, workdir: str, title: str = "") -> str:
  text = ("Exact match on unseen lengths 21-40 (ours; Kazemnejad et al. 2023 "
          "in parentheses)\n\n" + table(results) +
          "\n\nExact match on the training lengths 1-20\n\n" +
          table(results, "exact_match/seen") + "\n\nPer-token accuracy on "
          "unseen lengths 21-40\n\n" + table(results,
                                             "token_accuracy/beyond") + "\n")
  files.write_text(os.path.join(workdir, "table.md"), text)
  files.write_json(os.path.join(workdir, "results.json"), {
      task: {arm: {"summary": evaluate_lengths.summarize(r), "curves": r}
             for arm, r in by_arm.items()}
      for task, by_arm in results.items()})
  for task, by_arm in results.items():
    evaluate_lengths.plot(
        by_arm, os.path.join(workdir, f"accuracy_vs_length_{task}.png"),
        title=f"{task}: {title}" if title else task)
  return text


def _define_flags():
  # Defined only when run as a script, so tests can import this module next
  # to other experiments without their flag names colliding.
  flags.DEFINE_enum("preset", "cpu", list(PRESETS), "Sweep preset.")
  flags.DEFINE_string("workdir", None, "Output directory.", required=True)
  flags.DEFINE_list("tasks", list(TASKS), f"Tasks, from {sorted(sequences.TASKS)}.")
  flags.DEFINE_list("encodings", list(ENCODINGS),
                    "Arms: encoding names, each optionally with +randomized "
                    f"or +temperature (e.g. {','.join(VARIANTS)}).")
  flags.DEFINE_integer("steps", None, "Override training steps per run.")


def main(argv):
  del argv
  f = flags.FLAGS
  results = run_sweep(f.preset, f.tasks, f.encodings, f.workdir, f.steps)
  steps = schema.validate(arm_config(f.preset, f.tasks[0], f.encodings[0],
                                     f.steps)).config.train.steps
  print(write_outputs(results, f.workdir,
                      title=f"{f.preset} preset, {steps} steps"))


if __name__ == "__main__":
  _define_flags()
  cli.run(main)
