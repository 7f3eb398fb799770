"""What every entry point shares (``icl.main`` and each experiment): bad
input as one line on stderr before anything compiles, no traceback, no
usage text (``--help`` still shows it), and quiet libraries.

    if __name__ == "__main__":
      cli.run(main)
"""

import difflib
import importlib.util
import os
import re
import sys
from typing import NoReturn

from absl import app, flags, logging
import jax

from icl import checkpoint
from icl.errors import ConfigError
from icl.train import loop

# What a user can fix (or must be told about) without reading a traceback.
USER_ERRORS = (ConfigError, checkpoint.CheckpointError, loop.NonFiniteError)


def fail(message: str) -> NoReturn:
  """rc 1 and ``error: MESSAGE`` as the only line on stderr."""
  sys.exit(f"error: {message}")


# XLA programs compiled once are reused by later processes: a resumed run,
# the next arm of a sweep, or a rerun skips the compile. "" turns it off.
CACHE_ENV = "ICL_COMPILATION_CACHE"
DEFAULT_CACHE = os.path.join(os.path.expanduser("~"), ".cache", "icl", "jax")


def enable_compilation_cache() -> None:
  path = os.environ.get(CACHE_ENV, DEFAULT_CACHE)
  if path:
    jax.config.update("jax_compilation_cache_dir", path)
    if "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS" not in os.environ:
      # jax's default (1 s) leaves out most of a small model's programs.
      jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.1)


def run(main, argv=None, cache: bool = True) -> None:
  """``app.run(main)`` with :func:`parse_flags`, every :data:`USER_ERRORS`
  as one line, and (unless ``cache`` is False) the persistent compilation
  cache."""
  def guarded(args):
    if cache:
      enable_compilation_cache()
    # orbax logs every checkpoint step at INFO; keep the output readable.
    if not flags.FLAGS["verbosity"].present:
      logging.set_verbosity(logging.WARNING)
    try:
      return main(args)
    except USER_ERRORS as e:
      fail(str(e))
  app.run(guarded, argv=argv, flags_parser=parse_flags)


def parse_flags(argv):
  """absl's flag parsing with every failure as one line: a misspelled
  field (with the closest valid name), a value of the wrong type, an
  unknown preset or choice, a config file that does not exist."""
  for spec in _config_args(argv):
    path = spec.partition(":")[0]
    if not os.path.isfile(path):
      presets = os.path.dirname(importlib.util.find_spec(
          "icl.configs").origin)
      fail(f"--config: no such file {path!r} (paths are relative to the "
           f"current directory; the presets are in {presets})")
  try:
    return flags.FLAGS(argv)
  except Exception as e:  # flags.Error, or raised loading the config file
    inner = e
    while inner.__cause__ is not None or inner.__context__ is not None:
      inner = inner.__cause__ or inner.__context__
    if isinstance(inner, (KeyError, AttributeError)):
      fail(_unknown_field(argv) or f"--config: unknown field {inner}")
    if isinstance(e, flags.Error) and not re.match(r"flag --\w*config=",
                                                   str(e)):
      fail(" ".join(str(e).split()))  # names the flag and its value
    fail(" ".join(str(inner).split()) or type(inner).__name__)


def _config_args(argv) -> list[str]:
  """The values of ``--config=`` (and ``--NAME_config=``) flags."""
  return [arg.split("=", 1)[1] for arg in argv[1:]
          if arg.startswith("--") and arg.split("=", 1)[0].endswith("config")
          and "=" in arg]


def _unknown_field(argv) -> str | None:
  """For an override naming no field: which, and the closest field."""
  spec = next((a.split("=", 1)[1] for a in argv[1:]
               if a.startswith("--config=")), None)
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
