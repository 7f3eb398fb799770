"""Command-line entry point.

    python -m icl.main --config=configs/regression.py[:preset] --workdir=DIR \
        [--config.task.num_tasks=1024 ...]

Multi-host (one process per host, same command on each):

    python -m icl.main --distributed --config=... --workdir=SHARED_DIR
    # outside TPU pods / SLURM, name the coordinator and the process:
    #   --coordinator_address=host0:1234 --num_processes=2 --process_id=0
"""

import difflib
import importlib.util
import os
import sys

from absl import app, flags, logging
from ml_collections import config_flags

from icl import checkpoint, sharding, train
from icl.errors import ConfigError

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Config file, with an optional :preset.", lock_config=True)
_WORKDIR = flags.DEFINE_string(
    "workdir", None, "Run directory: config, metrics, checkpoints, results. "
    "An existing run there is resumed.")
_DISTRIBUTED = flags.DEFINE_bool(
    "distributed", False, "Call jax.distributed.initialize() first (one "
    "process per host; the mesh then spans every host's devices).")
_COORDINATOR = flags.DEFINE_string(
    "coordinator_address", None, "host:port of process 0 (with "
    "--distributed; auto-detected on TPU pods and SLURM).")
_NUM_PROCESSES = flags.DEFINE_integer(
    "num_processes", None, "Processes in the run (with --distributed).")
_PROCESS_ID = flags.DEFINE_integer(
    "process_id", None, "This process's index (with --distributed).")


def _fail(message: str):
  """Bad input or a run that cannot go on: one line on stderr, rc 1, no
  traceback and no usage text (``--help`` shows that)."""
  sys.exit(f"error: {message}")


def main(argv):
  if len(argv) > 1:
    _fail(f"unexpected arguments: {argv[1:]}")
  if _CONFIG.value is None:
    _fail("--config is required, e.g. --config=configs/regression.py")
  if _DISTRIBUTED.value:
    sharding.initialize_distributed(_COORDINATOR.value, _NUM_PROCESSES.value,
                                    _PROCESS_ID.value)
  # orbax logs every checkpoint step at INFO; keep the progress line readable.
  if not flags.FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)
  try:  # bad input: one clear line, no traceback, checked before compiling
    train.train_and_evaluate(_CONFIG.value, _WORKDIR.value)
  except (ConfigError, checkpoint.CheckpointError,
          train.NonFiniteError) as e:
    _fail(str(e))


def _config_arg(argv) -> str | None:
  for arg in argv[1:]:
    if arg.startswith("--config="):
      return arg.split("=", 1)[1]
  return None


def _unknown_field(argv) -> str | None:
  """For an override naming no field: which, and the closest field."""
  spec = _config_arg(argv)
  if spec is None:
    return None
  path, _, preset = spec.partition(":")
  try:
    module_spec = importlib.util.spec_from_file_location("_config", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    config = module.get_config(preset or None)
  except Exception:
    return None
  known = [k for k, _ in _leaves(config.to_dict())]
  for arg in argv[1:]:
    name = arg.split("=", 1)[0].removeprefix("--config.")
    if arg.startswith("--config.") and name not in known and not any(
        k.startswith(name + ".") for k in known):
      close = difflib.get_close_matches(name, known, n=1)
      hint = f"; did you mean config.{close[0]}?" if close else ""
      return f"config.{name} is not a field of {path}{hint}"
  return None


def _leaves(d, prefix=""):
  for k, v in d.items():
    if isinstance(v, dict) and v:
      yield from _leaves(v, f"{prefix}{k}.")
    else:
      yield f"{prefix}{k}", v


def parse_flags(argv):
  """absl's flag parsing with every failure as one line: a misspelled
  field (with the closest valid name), a value of the wrong type, an
  unknown preset or choice, a config file that does not exist."""
  spec = _config_arg(argv)
  if spec is not None and not os.path.isfile(spec.partition(":")[0]):
    _fail(f"--config: no such file {spec.partition(':')[0]!r} (paths are "
          f"relative to the current directory; run from the repository "
          f"root, e.g. --config=configs/regression.py)")
  try:
    return flags.FLAGS(argv)
  except Exception as e:  # flags.Error, or raised loading the config file
    inner = e
    while inner.__cause__ is not None or inner.__context__ is not None:
      inner = inner.__cause__ or inner.__context__
    if isinstance(inner, (KeyError, AttributeError)):
      _fail(_unknown_field(argv) or f"--config: unknown field {inner}")
    if isinstance(e, flags.Error) and not str(e).startswith("flag --config="):
      _fail(" ".join(str(e).split()))  # names the flag and its value
    _fail(" ".join(str(inner).split()) or type(inner).__name__)


if __name__ == "__main__":
  app.run(main, flags_parser=parse_flags)
