"""What earlier launches left: the time each group took (:func:`timed`),
and the groups a results.json already holds, whole and under the same
config (:func:`reusable`, :func:`finished_here`), so that a relaunch or a
later sweep takes them instead of training them again."""

from __future__ import annotations

import json
import os
import threading
import time
from typing import Mapping

from icl import files
from icl.errors import ConfigError
from icl.sweep.arms import Sweep


def timed(record_path: str, fn, every_s: float = 60.0):
  """``fn()``, with its CPU and wall time added to the record at
  ``record_path`` (summed over launches). The record is brought up to date
  every ``every_s`` seconds while ``fn`` runs and when it stops, even by an
  exception: a launch that is killed still counts, less at most
  ``every_s``. Nothing is written before ``fn`` has made the record's
  directory (a run refused on its config leaves no trace)."""
  before = (files.read_json(record_path) if files.path(record_path).exists()
            else {"cpu_seconds": 0.0, "wall_seconds": 0.0, "launches": 0})
  cpu, wall = time.process_time(), time.time()

  def record() -> dict:
    total = {"cpu_seconds": before["cpu_seconds"] + time.process_time() - cpu,
             "wall_seconds": before["wall_seconds"] + time.time() - wall,
             "launches": before.get("launches", 0) + 1}
    if files.path(os.path.dirname(record_path)).exists():
      files.write_json(record_path, total)
    return total

  stop = threading.Event()

  def keep_up():
    while not stop.wait(every_s):
      record()

  thread = threading.Thread(target=keep_up, daemon=True)
  thread.start()
  try:
    result = fn()
  finally:
    stop.set()
    thread.join()
    total = record()
  return result, total


def _first_difference(a, b, path: str = "") -> str | None:
  """The first dotted field where nested dicts ``a`` and ``b`` differ."""
  if isinstance(a, dict) and isinstance(b, dict):
    for key in sorted(set(a) | set(b)):
      found = _first_difference(a.get(key), b.get(key),
                                f"{path}.{key}" if path else key)
      if found:
        return found
    return None
  return None if a == b else f"{path} ({a!r} there, {b!r} now)"


def _comparable(config: dict, seed_fields) -> dict:
  """A member's config (``to_dict()`` or as stored in results.json), as
  JSON, without the fields that take its seed."""
  out = json.loads(json.dumps(config, sort_keys=True, default=str))
  out.pop("seed", None)
  for field in seed_fields:
    *parents, leaf = field.split(".")
    section = out
    for name in parents:
      section = section.get(name, {})
    section.pop(leaf, None)
  return out


def reusable(sweep: Sweep, checked: list, earlier: Mapping,
             source: str, strict: bool = True) -> dict:
  """``{group name: {(arm, seed): cell}}`` for the groups of ``checked``
  that an earlier ``results.json`` (``earlier``, read from ``source``)
  already holds: trained as the same group, every cell present. A group
  it holds under a different config raises ConfigError (unless not
  ``strict``: then it is left out), before anything trains: reusing it
  would report results the sweep no longer describes."""
  out, stored = {}, earlier["arms"]
  for group, run_ in checked:
    if group.name not in earlier.get("timing", {}) or not all(
        str(seed) in stored.get(arm, {}).get("seeds", {})
        for arm, seed in group.cells):
      continue
    first_member = {}
    for k, (arm, _) in enumerate(group.cells):
      first_member.setdefault(arm, k)
    differs = [(arm, found) for arm, k in first_member.items()
               if (found := _first_difference(
                   _comparable(stored[arm]["config"], sweep.seed_fields),
                   _comparable(run_.members[k].config.to_dict(),
                               sweep.seed_fields)))]
    if differs and strict:
      arm, found = differs[0]
      raise ConfigError(f"--reuse: arm {arm} in {source} was trained with "
                        f"a different config, at {found}")
    if differs:
      continue
    out[group.name] = {(arm, seed): stored[arm]["seeds"][str(seed)]
                       for arm, seed in group.cells}
  return out


def finished_here(sweep: Sweep, checked: list, workdir: str,
                   own: Mapping) -> dict:
  """The groups an earlier launch in ``workdir`` finished, from its
  ``results.json`` (``own``). A group counts when that file holds it whole
  under the same config and its run reached its last step; a relaunch
  takes it from there instead of restoring and re-evaluating it. A group
  whose config changed (more steps, say) is left to resume."""
  if own.get("sweep") != sweep.name:
    return {}

  def at_last_step(group, run_) -> bool:
    done = os.path.join(workdir, group.name, "results.json")
    try:
      return files.read_json(done).get("step") == run_.train.steps
    except (OSError, ValueError, AttributeError):
      return False

  done = [(g, r) for g, r in checked if at_last_step(g, r)]
  return reusable(sweep, done, own, os.path.join(workdir, "results.json"),
                  strict=False)


def read_results(path: str) -> dict:
  try:
    earlier = files.read_json(path)
  except (OSError, ValueError) as e:
    raise ConfigError(f"--reuse: cannot read {path!r} as JSON "
                      f"({type(e).__name__})") from None
  if not isinstance(earlier, dict) or not isinstance(earlier.get("arms"),
                                                     dict):
    raise ConfigError(f"--reuse: {path!r} is not a sweep's results.json")
  return earlier


def read_own(path: str) -> dict:
  """The results.json an earlier launch wrote in the workdir, or {} where
  it is missing or unreadable (then it may be replaced)."""
  if not files.path(path).exists():
    return {}
  try:
    own = files.read_json(path)
  except (OSError, ValueError):
    return {}
  return own if isinstance(own, dict) and isinstance(
      own.get("arms"), dict) else {}
