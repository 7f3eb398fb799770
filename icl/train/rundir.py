"""The run directory: what a run writes, and the guard on what it resumes.

    workdir/
      config.json  metrics.jsonl  results.json  results.md  <plots>.png
      tensorboard/                       (the metrics as TensorBoard scalars)
      checkpoints/                       (icl.checkpoint)
      member_{k}/ ...                    (an ensemble: one per member, with
                                          what its own run would write)

``results.json`` is ``{"step", "summary", "evals"}``: ``evals`` maps each
evaluator's name to its JSON, ``summary`` flattens every evaluator's
scalars as ``{name}/{key}``. Files are replaced whole (a temp file, then a
rename), so a killed run never leaves half a file, and JSON is strict:
non-finite numbers are written as ``null``. One process writes at a time:
``lock`` holds ``workdir/.lock`` (an flock, which the kernel drops when its
holder dies, so a SIGKILLed run's lock is simply taken over). In a
multi-host run only process 0 writes.
"""

from __future__ import annotations

import fcntl
import os
import socket

from icl import files
from icl.errors import ConfigError
from icl.metrics import MetricLog

# Fields a resumed run may change: how long it runs, how often it reports,
# and the mesh it runs on (checkpoints restore onto any mesh).
RESUMABLE_CHANGES = ("train.steps", "train.log_every", "train.eval_every",
                     "train.checkpoint_every", "train.keep_checkpoints",
                     "mesh.")


def _flatten(d: dict, prefix: str = "") -> dict:
  out = {}
  for k, v in d.items():
    if isinstance(v, dict):
      out.update(_flatten(v, f"{prefix}{k}."))
    else:
      out[f"{prefix}{k}"] = v
  return out


def config_diffs(old_dict: dict, new_dict: dict) -> list[str]:
  """The non-resumable differences between two configs (as JSON dicts)."""
  old, new = _flatten(old_dict), _flatten(new_dict)
  # A field added since the old run was written (such as ``evals``) is no
  # difference while it keeps its empty default.
  added = {k for k in set(new) - set(old) if new[k] in (None, [], {})}
  return [f"{k}: {old.get(k)!r} -> {new.get(k)!r}"
          for k in sorted((set(old) | set(new)) - added)
          if old.get(k) != new.get(k)
          and not k.startswith(RESUMABLE_CHANGES)]


def check_same_run(workdir: str, config_dict: dict,
                   stored: dict | None = None, where: str = "") -> None:
  """Refuses to resume a workdir whose run had a different config: the one
  in its config.json, or ``stored`` (the config a checkpoint carries)."""
  if stored is None:
    path = files.path(workdir) / "config.json"
    if not path.exists():
      return
    try:
      stored = files.read_json(path)
    except (OSError, ValueError) as e:
      raise ConfigError(f"workdir {str(workdir)!r} has an unreadable config.json "
                        f"({type(e).__name__}); move it aside to resume from "
                        f"the config stored in the checkpoints") from None
    where = "config.json"
  diffs = config_diffs(stored, config_dict)
  if diffs:
    raise ConfigError(
        f"workdir {str(workdir)!r} holds a run with a different config "
        f"({'; '.join(diffs)}; from its {where}); use a new --workdir or "
        f"delete the old run")


def lock(workdir: files.PathLike) -> Lock | None:
  """The workdir's lock, held; None for a workdir in an object store,
  which has no flock (there, as in any multi-host run, only process 0
  writes)."""
  return Lock(workdir) if files.is_local(workdir) else None


class Lock:
  """``workdir/.lock`` held by this process until ``release``; raises
  ConfigError naming the holder if another live process has it. Only a
  local workdir can be locked (object stores have no flock)."""

  def __init__(self, workdir: files.PathLike):
    self.path = os.path.join(os.fspath(workdir), ".lock")
    self.file = open(self.path, "a+")
    try:
      fcntl.flock(self.file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      self.file.seek(0)
      lines = self.file.read().split("\n")
      holder = next((l.strip() for l in reversed(lines) if l.strip()),
                    "another process")
      self.file.close()
      raise ConfigError(f"workdir {str(workdir)!r} is in use by {holder} (lock "
                        f"{self.path}); wait for it or use another "
                        f"--workdir") from None
    self.file.seek(0)
    self.file.truncate()
    self.file.write(f"pid {os.getpid()} on {socket.gethostname()}\n")
    self.file.flush()

  def release(self) -> None:
    fcntl.flock(self.file, fcntl.LOCK_UN)
    self.file.close()


def summary(results: dict) -> dict[str, float]:
  """Every evaluator's scalars, ``{'regression/true/error/model': ...}``."""
  return {f"{name}/{key}": v for name, result in results.items()
          for key, v in result.summary().items()}


def table(results: dict, brief: bool = False) -> str:
  """Each evaluator's table (or its brief view), headed by its name when
  there are several."""
  text = {name: r.brief() if brief else r.table()
          for name, r in results.items()}
  if len(text) == 1:
    return next(iter(text.values()))
  return "\n\n".join(f"{name}:\n\n{t}" for name, t in text.items())


class RunDir:
  """The files of one run: ``dirs[k]`` is member k's directory."""

  def __init__(self, workdir: files.PathLike, run, writer: bool):
    self.workdir, self.run, self.writer = files.path(workdir), run, writer
    self.dirs = ([self.workdir / f"member_{k}"
                  for k in range(len(run.members))] if run.stacked
                 else [self.workdir])
    self.logs = [MetricLog(d, enabled=writer) for d in self.dirs]

  def describe(self) -> str:
    """Where the results went, for the line a run ends with."""
    d = self.dirs[0] if len(self.dirs) == 1 else self.workdir / "member_*"
    plots = sorted(p.name for p in self.dirs[0].glob("*.png"))
    return (f"results: {d / 'results.json'}, {d / 'results.md'}"
            + (f"; plots: {', '.join(plots)}" if plots else ""))

  def write_configs(self) -> None:
    if not self.writer:
      return
    configs = [(self.workdir, self.run.config)] + (
        [(d, m.config) for d, m in zip(self.dirs, self.run.members)]
        if self.run.stacked else [])
    for d, config in configs:
      files.write_json(d / "config.json", config.to_dict())

  def log_eval(self, step: int, results_by_member: list[dict]) -> None:
    for log, results in zip(self.logs, results_by_member):
      log.write({"step": step, **{f"eval/{k}": v
                                  for k, v in summary(results).items()}})

  def write_results(self, step: int, results_by_member: list[dict],
                    title: str) -> None:
    if not self.writer:
      return
    for d, results in zip(self.dirs, results_by_member):
      payload = {"step": step, "summary": summary(results),
                 "evals": {n: r.to_json() for n, r in results.items()}}
      files.write_json(d / "results.json", payload)
      files.write_text(d / "results.md", table(results) + "\n")
      for result in results.values():
        if result.plot_file:
          result.plot(d / result.plot_file, title)
    if self.run.stacked:
      payload = {"step": step, "members": [
          {"member": k, "varied": m.varied, "summary": summary(r)}
          for k, (m, r) in enumerate(zip(self.run.members,
                                         results_by_member))]}
      files.write_json(self.workdir / "results.json", payload)
