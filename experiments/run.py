"""Runs an experiment's sweep: its arms x seeds, resumably, then its report.

    python -m icl.experiments.run --sweep=task_diversity:cpu --workdir=runs/td
    python -m icl.experiments.run --sweep=sorting_hints:cpu --arms=none,successor \
        --seeds=0,1,2 --steps=500 --workdir=runs/sort_quick

``--sweep`` is ``NAME[:PRESET]`` (an experiment folder under
``experiments/``; PRESET ``cpu`` by default, or ``paper``), or the path of
a sweep file, ``experiments/NAME/sweep.py:PRESET``. Every sweep shares the
flags below; ``--smoke`` (or ``ICL_SMOKE=1``) runs its first two arms and
seeds at toy size, to check a command end to end.

Each group of cells trains in its own run directory under ``--workdir``, and
a rerun resumes where it stopped (a finished group is taken from
WORKDIR/results.json, not re-evaluated);
``--reuse=experiments/NAME/results/results.json`` takes the arms a committed
results file holds instead of training them. The sweep writes
``WORKDIR/results.json`` (every seed's summary and the statistics over
seeds), and the experiment's report: ``WORKDIR/report.md`` and its plots.
"""

from __future__ import annotations

import importlib
import importlib.util
import os

from absl import flags

from icl import cli, files, smoke, sweep as sweep_lib
from icl.errors import ConfigError

_SWEEP = flags.DEFINE_string("sweep", None, "NAME[:PRESET] or "
                             "experiments/NAME/sweep.py[:PRESET].")
_WORKDIR = flags.DEFINE_string("workdir", None, "Output directory.")
_ARMS = flags.DEFINE_list("arms", None, "Arms to run (default: all).")
_SEEDS = flags.DEFINE_list("seeds", None,
                           "Seeds to run (default: the sweep's own).")
_STEPS = flags.DEFINE_integer("steps", None,
                              "Training steps of every arm (default: each "
                              "arm's own).")
_ENSEMBLE = flags.DEFINE_bool(
    "ensemble", True, "Train cells that differ only in ensemble fields "
    "(seeds, task diversity) as one vmapped ensemble.")
_MAX_MEMBERS = flags.DEFINE_integer(
    "max_members", None, "Largest ensemble (default: no limit). With the "
    "seed count, each arm is its own ensemble and its results land first.")
_REUSE = flags.DEFINE_string(
    "reuse", None, "An earlier results.json of this sweep (a committed "
    "one, say): the arms it holds under the same config are taken from it, "
    "not trained, and the report covers them too.")
_SMOKE = flags.DEFINE_bool("smoke", False,
                           "Toy size: the first two arms and seeds, a few "
                           "steps (same as ICL_SMOKE=1).")

EXPERIMENTS = os.path.dirname(__file__)


def names() -> list[str]:
  return sorted(d for d in os.listdir(EXPERIMENTS)
                if os.path.isfile(os.path.join(EXPERIMENTS, d, "sweep.py")))


def load(spec: str):
  """The ``get_sweep`` function a ``--sweep`` value names, and the preset."""
  where, _, preset = spec.partition(":")
  preset = preset or "cpu"
  if where.endswith(".py"):
    if not os.path.isfile(where):
      raise ConfigError(f"--sweep: no such file {where!r}")
    name = os.path.basename(os.path.dirname(os.path.abspath(where)))
    module_spec = importlib.util.spec_from_file_location(
        f"icl.experiments.{name}.sweep", where)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
  else:
    if where not in names():
      raise ConfigError(f"--sweep: {where!r} is not an experiment; the "
                        f"experiments are {names()}")
    module = importlib.import_module(f"icl.experiments.{where}.sweep")
  presets = getattr(module, "PRESETS", ("cpu", "paper"))
  if preset not in presets:
    raise ConfigError(f"--sweep: preset {preset!r} of {where!r} must be one "
                      f"of {list(presets)}")
  return module.get_sweep(preset), preset


def _seeds(values) -> tuple[int, ...] | None:
  if not values:
    return None
  try:
    return tuple(int(v) for v in values)
  except ValueError:
    raise ConfigError(f"--seeds must be comma-separated ints, got "
                      f"{','.join(values)!r}") from None


def main(argv):
  del argv
  if _SMOKE.value:
    os.environ[smoke.ENV] = "1"
  if not _SWEEP.value:
    cli.fail(f"--sweep is required: one of {names()} (NAME or NAME:paper)")
  if not _WORKDIR.value:
    cli.fail("--workdir is required")
  sweep, _ = load(_SWEEP.value)
  sweep = sweep_lib.select(sweep, _ARMS.value, _seeds(_SEEDS.value),
                           _STEPS.value)
  outcome = sweep_lib.run(sweep, _WORKDIR.value, ensemble=_ENSEMBLE.value,
                          max_members=_MAX_MEMBERS.value,
                          reuse=_REUSE.value)
  if sweep.report is not None:
    text = sweep.report(outcome, _WORKDIR.value)
    files.write_text(os.path.join(_WORKDIR.value, "report.md"), text)
    print(text)
  print(f"results: {os.path.join(_WORKDIR.value, 'results.json')}")


if __name__ == "__main__":
  cli.run(main)
