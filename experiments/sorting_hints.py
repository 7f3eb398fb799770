"""Sorting with task hints (Awasthi & Gupta 2023): does a hint help sort long?

Trains one model per arm on sorting lengths 1..20, the same model, steps and
seed in every arm: ``none`` trains on sorting alone, a hint arm mixes in one
hint task at equal weight (half the examples, half the loss). Then it
reports exact match and per-token accuracy on sorting at lengths 20, 30, 50,
75 and 100, beside the paper's < 1% (standard) and > 92% (successor hint) at
length 100, and probes where each head's attention peaks at every output
step (``icl/probing/successor.py``).

    python -m icl.experiments.sorting_hints --preset=cpu --workdir=runs/sort_cpu
    python -m icl.experiments.sorting_hints --preset=paper --workdir=runs/sort_paper
    python -m icl.experiments.sorting_hints --arms=none,successor \
        --steps=500 --workdir=runs/sort_quick
    python -m icl.experiments.sorting_hints --arms=none,successor+temperature \
        --positional=alibi --seed=1 --workdir=runs/sort_alibi

Arms are hint names (none, successor, predecessor, count, parity, fill),
optionally with ``+temperature`` (a learned length temperature per head,
beta from 0). ``--positional`` changes the encoding of every arm.

Each arm trains in ``WORKDIR/{arm}`` (resumable: a finished run only
re-evaluates). The sweep writes ``WORKDIR/report.md`` (protocol, tables,
probe), ``WORKDIR/results.json`` and ``WORKDIR/accuracy_vs_length.png``.
"""

from __future__ import annotations

import os
import time

from absl import flags

from icl.configs import sorting
from icl import checkpoint, cli, files, metrics, models, rng, schema, train
from icl.evaluators import lengths as evaluate_lengths
from icl.errors import ConfigError
from icl.tasks.sorting import successor

ARMS = tuple(sorting.HINTS)
REPORT_LENGTHS = (20, 30, 50, 75, 100)
PROBE_LENGTHS = (10, 20, 50, 100)
# Awasthi & Gupta 2023, exact match at length 100 after training on lengths
# <= 20 (quoted from the paper; see ../shared/REFERENCES.md).
PAPER_AT_100 = {"none": "< 0.01", "successor": "> 0.92"}


def arm_config(preset: str, arm: str, steps: int | None = None,
               positional: str | None = None, seed: int = 0):
  """The config of one arm: ``hint`` or ``hint+temperature``."""
  hint, _, variant = arm.partition("+")
  if hint not in sorting.HINTS:
    raise ConfigError(f"--arms entry {arm!r}: the hint must be one of "
                      f"{sorted(sorting.HINTS)}")
  config = sorting.get_config(f"{preset},{hint}")
  config.seed = seed
  if variant == "temperature":
    config.model.learn_temperature = True
  elif variant:
    raise ConfigError(f"--arms entry {arm!r} has an unknown variant "
                      f"{variant!r}; known: temperature")
  if positional:
    config.model.positional = positional
  config.train.steps = steps or config.train.steps
  return config


def probe(config, task, workdir: str) -> dict:
  """Successor-attention statistics of the arm trained in ``workdir``, at
  the ``PROBE_LENGTHS`` the evaluation reaches."""
  lengths = [n for n in PROBE_LENGTHS if n <= config.eval.max_length]
  model = models.build(config.model, task)
  _, params = checkpoint.load_params(workdir)
  key = rng.stream(config.seed, "eval")
  return successor.successor_attention(model, params, task, lengths, key,
                                       config.eval.batch_size)


def run_sweep(preset, arms, workdir, steps=None, positional=None, seed=0,
              verbose=True):
  """Trains and probes every arm; returns {arm: {'results', 'probe'}}."""
  plans = {a: arm_config(preset, a, steps, positional, seed) for a in arms}
  # Every bad arm fails before any training, named.
  runs = schema.validate_arms(plans, str)
  out = {}
  for arm, run in runs.items():
    start = time.time()
    arm_dir = os.path.join(workdir, arm.replace("+", "_"))
    results = train.train_and_evaluate(run, arm_dir, verbose=False)["lengths"]
    out[arm] = {"results": results.data,
                "probe": probe(run.config, run.task, arm_dir)}
    if verbose:
      at = dict(zip(results["lengths"], results["exact_match"]))
      print(f"{arm:22s} exact match at " + ", ".join(
          f"{n}: {at[n]:.2f}" for n in REPORT_LENGTHS if n in at) +
            f" ({time.time() - start:.0f}s)", flush=True)
  return out


def accuracy_table(out: dict, metric: str) -> str:
  lengths = [n for n in REPORT_LENGTHS
             if n in next(iter(out.values()))["results"]["lengths"]]
  rows = []
  for arm, entry in out.items():
    at = dict(zip(entry["results"]["lengths"], entry["results"][metric]))
    row = [arm] + [f"{at[n]:.3f}" for n in lengths]
    if metric == "exact_match":
      row.append(PAPER_AT_100.get(arm, ""))
    rows.append(row)
  header = ["arm"] + [f"n={n}" for n in lengths]
  if metric == "exact_match":
    header.append("paper, n=100")
  return metrics.markdown_table(header, rows)


def probe_table(out: dict) -> str:
  """Per arm and length, the head that most often peaks on the successor."""
  lengths = next(iter(out.values()))["probe"]["lengths"]
  rows = []
  for arm, entry in out.items():
    best = successor.best_heads(entry["probe"])
    rows.append([arm] + [f"{rate:.2f} ({head})" for head, rate in best])
  return metrics.markdown_table(["arm"] + [f"n={n}" for n in lengths], rows)


def report(out: dict, preset: str, config) -> str:
  t, m = config.task, config.model
  protocol = (
      f"Preset `{preset}`: {m.num_layers} layers, width {m.d_model}, "
      f"{m.num_heads} heads, positional encoding `{m.positional}`, "
      f"{config.train.steps} steps of batch {config.train.batch_size}, "
      f"AdamW lr {config.optimizer.learning_rate}, seed {config.seed}. "
      f"Integers 0..{t.num_values - 1}, "
      f"{'with' if t.repeats else 'without'} repeats, training lengths "
      f"{t.min_length}..{t.max_length}. Hint arms draw half their examples "
      f"from the hint task, with half the loss. Test: {config.eval.batch_size}"
      f" fresh sorting examples per length.")
  return "\n\n".join([
      "# Sorting with task hints", protocol,
      "## Exact match on sorting (paper: Awasthi & Gupta 2023, quoted)",
      accuracy_table(out, "exact_match"),
      "## Per-token accuracy on sorting", accuracy_table(out, "token_accuracy"),
      "## Successor attention",
      "Per arm and test length: the fraction of output steps at which the "
      "best head's attention peaks on the prompt position holding the next "
      "element to emit (layer.head in parentheses).",
      probe_table(out)]) + "\n"


def write_outputs(out: dict, workdir: str, preset: str, config) -> str:
  text = report(out, preset, config)
  for arm, entry in out.items():
    text += f"\n### Probe, arm {arm}\n\n{successor.table(entry['probe'])}\n"
  files.write_text(os.path.join(workdir, "report.md"), text)
  files.write_json(os.path.join(workdir, "results.json"), {
      arm: {"summary": evaluate_lengths.summarize(e["results"]), **e}
      for arm, e in out.items()})
  evaluate_lengths.plot(
      {arm: e["results"] for arm, e in out.items()},
      os.path.join(workdir, "accuracy_vs_length.png"),
      title=f"sorting, {preset} preset, {config.train.steps} steps")
  return text


def _define_flags():
  # Only when run as a script: other experiments define flags of the same
  # names, and tests import them side by side.
  flags.DEFINE_enum("preset", "cpu", list(sorting.PRESETS), "Sweep preset.")
  flags.DEFINE_string("workdir", None, "Output directory.", required=True)
  flags.DEFINE_list("arms", list(ARMS),
                    "Hints, each optionally with +temperature.")
  flags.DEFINE_integer("steps", None, "Override training steps per arm.")
  flags.DEFINE_integer("seed", 0, "Seed of every arm (data, init, eval).")
  flags.DEFINE_string("positional", None,
                      "Positional encoding for every arm (default: the "
                      "preset's, none).")


def main(argv):
  del argv
  f = flags.FLAGS
  out = run_sweep(f.preset, f.arms, f.workdir, f.steps, f.positional, f.seed)
  # The report states what ran (in smoke mode, the shrunk config).
  config = schema.validate(arm_config(f.preset, f.arms[0], f.steps,
                                      f.positional, f.seed)).config
  print(write_outputs(out, f.workdir, f.preset, config))


if __name__ == "__main__":
  _define_flags()
  cli.run(main)
