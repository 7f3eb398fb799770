"""A verified wrapper over orbax ``CheckpointManager``.

Saves the train state, the run's config and a digest of the state together,
keeps the last N checkpoints, writes asynchronously, and restores onto
whatever abstract (shape, dtype, sharding) target the caller passes, so a
checkpoint follows the current mesh rather than the one it was written
under.

Nothing restored is trusted unverified: the shapes and dtypes must be the
target's, every leaf finite, and the SHA-256 of the values the one written
with the checkpoint. ``restore_latest`` walks back from the newest step to
the newest intact one, saying in one line which it skipped and why;
damaged steps are moved aside (``damaged_checkpoints/`` beside the
directory), never deleted.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import sys
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from icl import files, once


@functools.cache
def _orbax():
  """``orbax.checkpoint``, imported on first use: 0.2 s that a new run
  need not pay before its first step.

  Replica-parallel saving slices every replicated array so that each
  replica writes a part: one compiled program per leaf shape, about 3 s per
  run on an 8-device mesh, to split writes of a few megabytes. Arrays are
  written whole by their first replica instead (orbax's GPU default). The
  override is expected, so orbax's warning about it is held back."""
  import orbax.checkpoint as ocp
  _quiet_abandoned_reads()
  absl_logger = logging.getLogger("absl")
  level = absl_logger.level
  absl_logger.setLevel(logging.ERROR)
  try:
    ocp.type_handlers.register_type_handler(
        jax.Array, ocp.type_handlers.ArrayHandler(use_replica_parallel=False),
        override=True)
  finally:
    absl_logger.setLevel(level)
  return ocp


def _is_abandoned_read(unraisable) -> bool:
  """A read of a damaged checkpoint finishing after orbax gave up on it:
  its callback finds orbax's event loop already closed."""
  tb = unraisable.exc_traceback
  while tb is not None and tb.tb_next is not None:
    tb = tb.tb_next
  return (isinstance(unraisable.exc_value, RuntimeError)
          and str(unraisable.exc_value) == "Event loop is closed"
          and tb is not None and tb.tb_frame.f_code.co_filename.endswith(
              "asyncio/base_events.py"))


def _is_abandoned_task(record: logging.LogRecord) -> bool:
  """asyncio's report, when it is garbage-collected, of a read of a damaged
  checkpoint whose error orbax never collected."""
  tb = record.exc_info[2] if record.exc_info else None
  while tb is not None:
    if "orbax/checkpoint" in tb.tb_frame.f_code.co_filename:
      return str(record.msg).startswith(("Task exception was never",
                                         "Future exception was never"))
    tb = tb.tb_next
  return False


def _quiet_abandoned_reads() -> None:
  """When one read of a damaged checkpoint fails, orbax closes its event
  loop while the checkpoint's other reads are in flight; each of those then
  prints a traceback as it lands (about eighty for a small model), after
  ``restore_latest`` has said in one line what was damaged; and asyncio
  logs those whose error was never collected when they are
  garbage-collected. Only those are dropped; every other unraisable
  exception and asyncio record passes as before. Installed with orbax,
  before any read: the first abandoned read can land before orbax's error
  reaches us."""
  previous = sys.unraisablehook

  def hook(unraisable):
    if not _is_abandoned_read(unraisable):
      previous(unraisable)

  sys.unraisablehook = hook
  logging.getLogger("asyncio").addFilter(
      lambda record: not _is_abandoned_task(record))


class CheckpointError(RuntimeError):
  """No checkpoint of a run can be trusted; the message is one line."""


def digest(state: Any) -> str | None:
  """SHA-256 of every leaf's path, dtype, shape and bytes (None when the
  arrays span hosts and cannot be read here whole)."""
  leaves = jax.tree_util.tree_flatten_with_path(state)[0]
  if not all(getattr(x, "is_fully_addressable", True) for _, x in leaves):
    return None
  h = hashlib.sha256()
  for path, leaf in leaves:
    value = np.asarray(jax.device_get(leaf))
    h.update(f"{jax.tree_util.keystr(path)}|{value.dtype}|{value.shape}|"
             .encode())
    h.update(np.ascontiguousarray(value).tobytes())
  return h.hexdigest()


@once.jit
def all_finite(tree) -> jax.Array:
  """Whether every leaf of ``tree`` is finite (a scalar bool array)."""
  return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x))
                            for x in jax.tree.leaves(tree)]))


class Checkpointer:

  def __init__(self, directory: files.PathLike, keep: int):
    # orbax takes epath paths, so the directory may be gs://... too.
    self.directory = files.path(directory).absolute()
    self.keep = keep
    self._manager = None

  @property
  def manager(self):
    """The orbax manager, made on first use (it creates the directory)."""
    if self._manager is None:
      ocp = _orbax()
      self._manager = ocp.CheckpointManager(
          self.directory,
          options=ocp.CheckpointManagerOptions(
              max_to_keep=self.keep, enable_async_checkpointing=True,
              create=True),
          item_names=("state", "config", "digest"),
      )
    return self._manager

  def latest_step(self) -> int | None:
    steps = self.all_steps()
    return steps[-1] if steps else None

  def all_steps(self) -> list[int]:
    if self._manager is None and not self.directory.exists():
      return []  # nothing written yet: no need for orbax
    return sorted(self.manager.all_steps())

  def save(self, step: int, state: Any, config: dict) -> None:
    ocp = _orbax()
    self.manager.save(step, args=ocp.args.Composite(
        state=ocp.args.StandardSave(state),
        config=ocp.args.JsonSave(config),
        digest=ocp.args.JsonSave({"sha256": digest(state)})), force=True)

  def restore(self, step: int, abstract_state: Any) -> Any:
    """The state at ``step``, unverified (see ``restore_verified``)."""
    ocp = _orbax()
    restored = self.manager.restore(step, args=ocp.args.Composite(
        state=ocp.args.StandardRestore(abstract_state)))
    return restored.state

  def restore_verified(self, step: int, abstract_state: Any) -> Any:
    """The state at ``step``; raises ``ValueError`` saying what is wrong if
    it cannot be read, or differs in shape, dtype, finiteness or digest
    from what was written."""
    try:
      state = self.restore(step, abstract_state)
    except Exception as e:  # orbax raises many kinds on damaged files
      raise ValueError(f"unreadable ({type(e).__name__})") from None
    for (path, got), want in zip(
        jax.tree_util.tree_flatten_with_path(state)[0],
        jax.tree.leaves(abstract_state)):
      if got.shape != want.shape or got.dtype != want.dtype:
        raise ValueError(f"{jax.tree_util.keystr(path)} is {got.dtype}"
                         f"{list(got.shape)}, not {want.dtype}"
                         f"{list(want.shape)}")
    if not bool(all_finite(state)):
      raise ValueError("holds non-finite values")
    written = self._written_digest(step)
    if written is not None and written != digest(state):
      raise ValueError("its values do not match the digest written with it")
    return state

  def _written_digest(self, step: int) -> str | None:
    """The digest saved with ``step``; None for checkpoints from before
    digests were written (they get every other check)."""
    if not (self.directory / str(step) / "digest").is_dir():
      return None
    ocp = _orbax()
    try:
      return self.manager.restore(step, args=ocp.args.Composite(
          digest=ocp.args.JsonRestore())).digest["sha256"]
    except Exception as e:
      raise ValueError(f"its digest is unreadable ({type(e).__name__})"
                       ) from None

  def newest_intact(self, abstract_state: Any
                    ) -> tuple[int | None, Any, list[tuple[int, str]]]:
    """(step, state, damaged): the newest checkpoint that verifies, and
    the (step, reason) of every newer one that did not. Changes nothing;
    raises ``CheckpointError`` if checkpoints exist and none verifies."""
    damaged = []
    for step in reversed(self.all_steps()):
      try:
        return step, self.restore_verified(step, abstract_state), damaged
      except ValueError as e:
        damaged.append((step, str(e)))
    if damaged:
      raise CheckpointError(
          f"no intact checkpoint in {self.directory}: "
          + "; ".join(f"step {s} {why}" for s, why in damaged)
          + ". Nothing was changed; move the directory away to start over")
    return None, None, []

  def restore_latest(self, abstract_state: Any,
                     say: Callable[[str], None] | None = None
                     ) -> tuple[int, Any] | None:
    """(step, state) of the newest intact checkpoint, or None if there is
    none at all. Damaged newer steps are reported with ``say`` (default:
    stderr), then moved aside so that training can write those steps
    again (see ``newest_intact`` for when none is intact)."""
    say = say or (lambda line: print(line, file=sys.stderr, flush=True))
    step, state, damaged = self.newest_intact(abstract_state)
    if step is None:
      return None
    for bad, why in damaged:
      say(f"checkpoint step {bad} in {self.directory} is damaged ({why}); "
          f"moved to {self._quarantine(bad)}; resuming from step {step}")
    return step, state

  def restore_config(self, step: int) -> dict:
    ocp = _orbax()
    return self.manager.restore(step, args=ocp.args.Composite(
        config=ocp.args.JsonRestore())).config

  def restore_raw(self, step: int) -> dict:
    """The saved state as nested dicts of arrays, with no target needed."""
    ocp = _orbax()
    restored = self.manager.restore(step, args=ocp.args.Composite(
        state=ocp.args.StandardRestore()))
    return restored.state

  def _quarantine(self, step: int) -> str:
    damaged = self.directory.parent / "damaged_checkpoints"
    damaged.mkdir(parents=True, exist_ok=True)
    target = damaged / str(step)
    if target.exists():
      target = damaged / f"{step}.{len(list(damaged.iterdir()))}"
    (self.directory / str(step)).rename(target)
    self.manager.reload()
    return str(target)

  def prune(self) -> None:
    """Deletes all but the newest ``keep`` steps (a run killed right after
    a save can leave one more)."""
    for step in self.all_steps()[:-self.keep]:
      self.manager.delete(step)

  def wait(self) -> None:
    if self._manager is not None:
      self._manager.wait_until_finished()

  def close(self) -> None:
    if self._manager is not None:
      self._manager.close()


def load_params(workdir: files.PathLike,
                step: int | None = None) -> tuple[int, Any]:
  """(step, params) of a run's checkpoint: the latest unless ``step`` given."""
  ckpt = Checkpointer(files.path(workdir) / "checkpoints", keep=1)
  try:
    step = ckpt.latest_step() if step is None else step
    if step is None:
      raise FileNotFoundError(f"no checkpoint under {str(workdir)!r}")
    return step, ckpt.restore_raw(step)["params"]
  finally:
    ckpt.close()
