"""A thin wrapper over orbax ``CheckpointManager``.

Saves the train state and the run's config together, keeps the last N
checkpoints, writes asynchronously, and restores onto whatever abstract
(shape, dtype, sharding) target the caller passes, so a checkpoint follows the
current mesh rather than the one it was written under.
"""

from __future__ import annotations

import os
from typing import Any

import orbax.checkpoint as ocp


class Checkpointer:

  def __init__(self, directory: str, keep: int):
    self.manager = ocp.CheckpointManager(
        os.path.abspath(directory),
        options=ocp.CheckpointManagerOptions(
            max_to_keep=keep, enable_async_checkpointing=True,
            create=True),
        item_names=("state", "config"),
    )

  def latest_step(self) -> int | None:
    return self.manager.latest_step()

  def save(self, step: int, state: Any, config: dict) -> None:
    self.manager.save(step, args=ocp.args.Composite(
        state=ocp.args.StandardSave(state),
        config=ocp.args.JsonSave(config)), force=True)

  def restore(self, step: int, abstract_state: Any) -> Any:
    restored = self.manager.restore(step, args=ocp.args.Composite(
        state=ocp.args.StandardRestore(abstract_state)))
    return restored.state

  def restore_raw(self, step: int) -> dict:
    """The saved state as nested dicts of arrays, with no target needed."""
    restored = self.manager.restore(step, args=ocp.args.Composite(
        state=ocp.args.StandardRestore()))
    return restored.state

  def restore_config(self, step: int) -> dict:
    return self.manager.restore(step, args=ocp.args.Composite(
        config=ocp.args.JsonRestore())).config

  def wait(self) -> None:
    self.manager.wait_until_finished()

  def close(self) -> None:
    self.manager.close()


def load_params(workdir: str, step: int | None = None) -> tuple[int, Any]:
  """(step, params) of a run's checkpoint: the latest unless ``step`` given."""
  ckpt = Checkpointer(os.path.join(workdir, "checkpoints"), keep=1)
  try:
    step = ckpt.latest_step() if step is None else step
    if step is None:
      raise FileNotFoundError(f"no checkpoint under {workdir!r}")
    return step, ckpt.restore_raw(step)["params"]
  finally:
    ckpt.close()
