"""Command-line entry point.

    python -m icl.main --config=configs/regression.py[:preset] --workdir=DIR \
        [--config.task.num_tasks=1024 ...]

Multi-host (one process per host, same command on each):

    python -m icl.main --distributed --config=... --workdir=SHARED_DIR
    # outside TPU pods / SLURM, name the coordinator and the process:
    #   --coordinator_address=host0:1234 --num_processes=2 --process_id=0
"""

from absl import flags
from ml_collections import config_flags

from icl import cli, sharding, train

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


def main(argv):
  if len(argv) > 1:
    cli.fail(f"unexpected arguments: {argv[1:]}")
  if _CONFIG.value is None:
    cli.fail("--config is required, e.g. --config=configs/regression.py")
  if _DISTRIBUTED.value:
    sharding.initialize_distributed(_COORDINATOR.value, _NUM_PROCESSES.value,
                                    _PROCESS_ID.value)
  train.train_and_evaluate(_CONFIG.value, _WORKDIR.value)


if __name__ == "__main__":
  cli.run(main)
