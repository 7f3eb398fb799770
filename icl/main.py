"""Command-line entry point.

    python -m icl.main --config=configs/regression.py[:preset] --workdir=DIR \
        [--config.task.num_tasks=1024 ...]
"""

from absl import app, flags, logging
from ml_collections import config_flags

from icl import configs, train

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Config file, with an optional :preset.", lock_config=True)
_WORKDIR = flags.DEFINE_string(
    "workdir", None, "Run directory: config, metrics, checkpoints, results. "
    "An existing run there is resumed.")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  if _CONFIG.value is None:
    raise app.UsageError("--config is required, e.g. "
                         "--config=configs/regression.py")
  try:  # bad input: one clear line, no traceback, nothing compiled
    configs.validate_workdir(_WORKDIR.value)
    configs.validate(_CONFIG.value)
  except ValueError as e:
    raise app.UsageError(str(e)) from None
  # orbax logs every checkpoint step at INFO; keep the progress line readable.
  if not flags.FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)
  train.train_and_evaluate(_CONFIG.value, _WORKDIR.value)


if __name__ == "__main__":
  app.run(main)
