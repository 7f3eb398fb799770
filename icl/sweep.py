"""A sweep is data: named arms, each a single-model config, times seeds.

    sweep = Sweep("task_diversity", arms={"M=4": config_4, ...}, seeds=(0, 1, 2))
    outcome = run(sweep, "runs/td")     # validates all, trains, resumes
    outcome.stats("M=4")["regression"]["true/error/model"]
    # {"mean": ..., "std": ..., "min": ..., "max": ..., "n": 3}

What ``run`` does, in order:

1. **Plans** the cells (arm, seed). Cells whose configs differ only in
   fields an ensemble may vary (the seed, and the task's
   ``ensemble_fields`` such as the task diversity M) form one group, which
   trains as one vmapped ensemble: one compile instead of one per member,
   and the right shape for an accelerator. Member k of an ensemble trains
   exactly as its own run would (``icl/members.py``).
2. **Validates** every group before anything compiles. A failing arm is
   named; a group the ensemble rules refuse (though each of its cells is
   valid) trains its cells one by one, and says so.
3. **Trains** group by group, each in its own resumable run directory
   (``WORKDIR/{group}``, members in ``member_{k}/``), and records the CPU
   and wall time each took (summed over resumes, in ``{group}/sweep.json``).
4. **Aggregates** every summary number over seeds: mean, standard deviation
   (ddof=1; None for one seed), min, max and n, and writes one
   ``WORKDIR/results.json``. It writes it after every group too, holding
   the arms whose seeds have all finished and naming the rest under
   ``pending``: a sweep of hours lands its results arm by arm. A relaunch
   takes the groups that file holds whole, finished under the same
   config, from it (restoring and re-evaluating them would cost an
   evaluation each and change nothing), and resumes the rest. The file
   never loses an arm it already holds: a relaunch that retrains or
   extends one replaces it only once it holds them all again.

A committed ``results.json`` lets a later sweep add arms without the old
run directories: ``run(..., reuse=path)`` takes every group that file
holds, under the same config, instead of training it, and the report
covers both.

Which statistic a report leads with is the sweep's ``headline``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import threading
import time
from typing import Any, Callable, Mapping

import jax
import ml_collections

from icl import (checkpoint, files, members, metrics, schema, smoke, tasks,
                 train)
from icl.errors import ConfigError

STATISTICS = ("mean", "std", "min", "max", "n")
HEADLINES = ("mean", "max")
_ARM_NAME = re.compile(r"^[A-Za-z0-9_.=-]+$")


@dataclasses.dataclass(frozen=True)
class Sweep:
  """``arms``: ``{name: config}``, each a plain (non-ensemble) run config;
  its ``seed`` is replaced by each of ``seeds``. ``analyze(run, member_dir)``
  (optional) adds a dict per cell, computed from the trained run (a probe,
  say). ``report(outcome, workdir) -> markdown`` writes the experiment's
  tables and plots. ``chance`` names what a random guesser scores, for
  every table of the sweep (``{label: value}``). ``seed_fields``: dotted
  config fields that take the seed too (``task.pool_seed``: each seed also
  draws its own task pool)."""

  name: str
  arms: Mapping[str, ml_collections.ConfigDict]
  seeds: tuple[int, ...] = (0, 1, 2)
  headline: str = "mean"
  analyze: Callable[[Any, Any], dict] | None = None
  report: Callable[["Outcome", str], str] | None = None
  description: str = ""
  seed_fields: tuple[str, ...] = ()

  def cell_config(self, arm: str, seed: int) -> ml_collections.ConfigDict:
    """The config that cell (arm, seed) trains."""
    def set_seed(c):
      c.seed = seed
      for field in self.seed_fields:
        *parents, leaf = field.split(".")
        section = c
        for name in parents:
          section = section[name]
        section[leaf] = seed
    return _with(self.arms[arm], set_seed)

  def validate(self) -> None:
    if not self.arms:
      raise ConfigError(f"sweep {self.name!r} has no arms")
    for arm, config in self.arms.items():
      if not _ARM_NAME.match(arm):
        raise ConfigError(f"arm name {arm!r} must use only letters, digits "
                          "and _ . = - (it names a directory)")
      if members.is_ensemble(config):
        raise ConfigError(f"arm {arm}: ensemble.* must be unset (the sweep "
                          "builds ensembles from its arms and seeds)")
    if not self.seeds or len(set(self.seeds)) != len(self.seeds) or not all(
        isinstance(s, int) and s >= 0 for s in self.seeds):
      raise ConfigError(f"seeds must be distinct non-negative ints, got "
                        f"{list(self.seeds)}")
    if self.headline not in HEADLINES:
      raise ConfigError(f"headline must be one of {list(HEADLINES)}, got "
                        f"{self.headline!r}")


def select(sweep: Sweep, arms=None, seeds=None, steps: int | None = None
           ) -> Sweep:
  """The sweep cut to ``arms`` (names, in the sweep's order) and ``seeds``,
  with every arm's ``train.steps`` set to ``steps``. In smoke mode: the
  first :data:`icl.smoke.MAX_ARMS` arms and seeds."""
  if arms:
    unknown = [a for a in arms if a not in sweep.arms]
    if unknown:
      raise ConfigError(f"--arms: {unknown[0]!r} is not an arm of sweep "
                        f"{sweep.name!r}; its arms are {list(sweep.arms)}")
  chosen = {a: c for a, c in sweep.arms.items() if not arms or a in arms}
  if steps is not None:
    if not isinstance(steps, int) or steps < 1:
      raise ConfigError(f"--steps must be a positive int, got {steps!r}")
    chosen = {a: _with(c, lambda c: c.train.update(steps=steps))
              for a, c in chosen.items()}
  seeds = tuple(seeds) if seeds else sweep.seeds
  if smoke.enabled():
    chosen = dict(list(chosen.items())[:smoke.MAX_ARMS])
    seeds = seeds[:smoke.MAX_ARMS]
  return dataclasses.replace(sweep, arms=chosen, seeds=seeds)


def _with(config, change) -> ml_collections.ConfigDict:
  copy = ml_collections.ConfigDict(config.to_dict())
  change(copy)
  return copy


# -- planning -----------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Group:
  """Cells that train together: one run, an ensemble if more than one."""

  name: str  # its directory under the sweep's workdir
  cells: tuple[tuple[str, int], ...]  # (arm, seed), member order
  config: ml_collections.ConfigDict


def _varied_fields(config) -> tuple[str, ...]:
  task_cls = tasks.REGISTRY.get(config.task.get("name"))
  return tuple(task_cls.ensemble_fields) if task_cls else ()


def _shared_part(config) -> str:
  """The config with every field an ensemble may vary blanked out."""
  d = config.to_dict()
  d.pop("seed", None)
  for field in _varied_fields(config):
    d["task"].pop(field, None)
  return json.dumps(d, sort_keys=True, default=str)


def _group_name(cells) -> str:
  arms = list(dict.fromkeys(arm for arm, _ in cells))
  return arms[0] if len(arms) == 1 else "+".join(arms)


def plan(sweep: Sweep, ensemble: bool = True,
         max_members: int | None = None) -> list[Group]:
  """The groups of ``sweep``'s cells (see the module docstring); with
  ``ensemble`` False, one group per cell. ``max_members`` caps an
  ensemble's size (memory; or results that land arm by arm when it is the
  seed count), splitting in cell order."""
  cells = {(arm, seed): sweep.cell_config(arm, seed)
           for arm in sweep.arms for seed in sweep.seeds}
  if not ensemble:
    return [Group(f"{arm}/seed_{seed}", ((arm, seed),), config)
            for (arm, seed), config in cells.items()]
  by_shared: dict[str, list] = {}
  for cell, config in cells.items():
    by_shared.setdefault(_shared_part(config), []).append(cell)
  # Smoke mode keeps only the first few members of an ensemble; smaller
  # groups keep every cell.
  size = smoke.MAX_ARMS if smoke.enabled() else max_members
  chunks = [cells_[i:i + (size or len(cells_))]
            for cells_ in by_shared.values()
            for i in range(0, len(cells_), size or len(cells_))]
  groups = []
  for group_cells in chunks:
    if len(group_cells) == 1:
      arm, seed = group_cells[0]
      groups.append(Group(f"{arm}/seed_{seed}", (group_cells[0],),
                          cells[group_cells[0]]))
      continue
    first = cells[group_cells[0]]
    config = _with(first, lambda c: None)
    varied = {"seed": tuple(cells[c].seed for c in group_cells)}
    for field in _varied_fields(first):
      values = tuple(cells[c].task[field] for c in group_cells)
      if len(set(values)) > 1:
        varied[field] = values
    config.ensemble = ml_collections.ConfigDict(varied)
    groups.append(Group(_group_name(group_cells), tuple(group_cells), config))
  return groups


def validate(sweep: Sweep, groups: list[Group], log=print) -> list:
  """``[(group, Run)]``, every group checked before anything trains. A
  bad arm raises ConfigError naming it; an ensemble its rules refuse
  (each cell valid alone) is replaced by its cells, with a line why."""
  sweep.validate()
  checked = []
  for group in groups:
    try:
      checked.append((group, schema.validate(group.config)))
      continue
    except ConfigError as error:
      refusal = error
    for arm, seed in group.cells:  # name the arm that fails on its own
      try:
        schema.validate(sweep.cell_config(arm, seed))
      except ConfigError as e:
        raise ConfigError(f"arm {arm}: {e}") from None
    log(f"{group.name}: trains its {len(group.cells)} cells one by one "
        f"(not as an ensemble: {refusal})")
    for arm, seed in group.cells:
      cell = Group(f"{arm}/seed_{seed}", ((arm, seed),),
                   sweep.cell_config(arm, seed))
      checked.append((cell, schema.validate(cell.config)))
  return checked


# -- statistics ---------------------------------------------------------------

def statistics(values) -> dict[str, float | int | None]:
  """mean, std (ddof=1; None for one value), min, max and n of
  ``values``, the non-finite ones left out (n counts the rest)."""
  kept = [float(v) for v in values if v is not None and math.isfinite(v)]
  n = len(kept)
  if not n:
    return {"mean": None, "std": None, "min": None, "max": None, "n": 0}
  mean = sum(kept) / n
  std = (math.sqrt(sum((v - mean) ** 2 for v in kept) / (n - 1))
         if n > 1 else None)
  return {"mean": mean, "std": std, "min": min(kept), "max": max(kept),
          "n": n}


def aggregate(per_seed: list[dict]) -> dict:
  """Nested dicts of numbers, one per seed, to the same nesting with
  :func:`statistics` at every leaf the seeds share."""
  first = per_seed[0]
  out = {}
  for key, value in first.items():
    values = [s.get(key) for s in per_seed]
    if isinstance(value, dict):
      if all(isinstance(v, dict) for v in values):
        out[key] = aggregate(values)
    elif all(isinstance(v, (int, float)) and not isinstance(v, bool)
             or v is None for v in values):
      out[key] = statistics(values)
  return out


# -- running ------------------------------------------------------------------

@dataclasses.dataclass
class Outcome:
  """What a sweep measured: ``cells[arm][seed]`` holds ``summary``
  (``{evaluator: {name: number}}``), ``results`` (each evaluator's JSON)
  and ``analysis``; ``timing[group]`` its CPU and wall seconds;
  ``configs[arm]`` the config its first seed trained, as validated (in
  smoke mode, the toy size that ran); ``reused[group]`` the results.json
  a group was taken from instead of trained, or, where that file had
  itself taken it from another, that other file: where it was trained."""

  sweep: Sweep
  cells: dict[str, dict[int, dict]]
  timing: dict[str, dict[str, float]]
  configs: dict[str, ml_collections.ConfigDict]
  reused: dict[str, str] = dataclasses.field(default_factory=dict)

  def per_seed(self, arm: str, *path: str) -> list:
    """``cells[arm][seed][path...]`` for each seed, in seed order:
    ``per_seed(arm, 'results', 'lengths')``, ``per_seed(arm, 'history')``."""
    out = []
    for seed in sorted(self.cells[arm]):
      v = self.cells[arm][seed]
      for key in path:
        v = v[key]
      out.append(v)
    return out

  def stats(self, arm: str) -> dict:
    return aggregate(self.per_seed(arm, "summary"))

  def values(self, arm: str, *path: str) -> list:
    """One number per seed, in seed order: ``values(arm, 'lengths',
    'exact_match/beyond')``."""
    out = []
    for seed in sorted(self.cells[arm]):
      v = self.cells[arm][seed]["summary"]
      for key in path:
        v = v.get(key) if isinstance(v, dict) else None
      out.append(v)
    return out

  def to_json(self) -> dict:
    total = {k: sum(t[k] for t in self.timing.values())
             for k in ("cpu_seconds", "wall_seconds")}
    return {"sweep": self.sweep.name, "headline": self.sweep.headline,
            "seeds": list(self.sweep.seeds), "timing": self.timing,
            "total": total, "reused": self.reused,
            "pending": [a for a in self.sweep.arms if a not in self.cells],
            "arms": {arm: {"config": self.configs[arm].to_dict(),
                           "stats": self.stats(arm),
                           "seeds": {str(s): cell for s, cell in
                                     sorted(seeds.items())}}
                     for arm, seeds in self.cells.items()}}


def eval_history(path: str) -> list[dict]:
  """Every evaluation a run logged, in step order: ``[{"step": s,
  "lengths/exact_match/seen": ..., ...}]`` (the ``eval/`` prefix dropped).
  For what happened during training: steps to a criterion, or the distance
  to a baseline over steps."""
  if not files.path(path).exists():
    return []
  history = []
  for record in metrics.read_jsonl(path):
    evals = {k[len("eval/"):]: v for k, v in record.items()
             if k.startswith("eval/")}
    if evals:
      history.append({"step": record["step"], **evals})
  return history


def first_step(history: list[dict], key: str, at_least: float) -> int | None:
  """The first logged step at which ``key`` reached ``at_least``, or None."""
  return next((h["step"] for h in history
               if h.get(key) is not None and h[key] >= at_least), None)


def _timed(record_path: str, fn, every_s: float = 60.0):
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


def _finished_here(sweep: Sweep, checked: list, workdir: str,
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


def _read_results(path: str) -> dict:
  try:
    earlier = files.read_json(path)
  except (OSError, ValueError) as e:
    raise ConfigError(f"--reuse: cannot read {path!r} as JSON "
                      f"({type(e).__name__})") from None
  if not isinstance(earlier, dict) or not isinstance(earlier.get("arms"),
                                                     dict):
    raise ConfigError(f"--reuse: {path!r} is not a sweep's results.json")
  return earlier


def run(sweep: Sweep, workdir: str, ensemble: bool = True, log=print,
        verbose: bool = True, max_members: int | None = None,
        reuse: str | None = None) -> Outcome:
  """Validates, trains (resuming) and aggregates ``sweep`` in
  ``workdir``; writes ``workdir/results.json`` and returns the outcome.
  ``ensemble`` and ``max_members``: see :func:`plan`. ``reuse``: the path
  of an earlier ``results.json`` of this sweep (a committed one, say);
  the groups it holds (see :func:`reusable`) are taken from it, with
  their recorded time, instead of trained."""
  if max_members is not None and (not isinstance(max_members, int)
                                  or max_members < 1):
    raise ConfigError(f"--max_members must be a positive int, got "
                      f"{max_members!r}")
  checked = validate(sweep, plan(sweep, ensemble, max_members), log)
  earlier = _read_results(reuse) if reuse else None
  if earlier is not None and earlier.get("sweep") != sweep.name:
    raise ConfigError(f"--reuse: {reuse} holds sweep "
                      f"{earlier.get('sweep')!r}, not {sweep.name!r}")
  taken = reusable(sweep, checked, earlier, reuse) if earlier else {}
  # A results file may overwrite the one it reused: keep the first source.
  sources = {g: (earlier.get("reused") or {}).get(g, reuse) for g in taken}
  schema.validate_workdir(workdir)
  results_path = os.path.join(workdir, "results.json")
  here = _read_own(results_path)
  held = set(here.get("arms", {}))
  # Groups that do not train: {group: (cells, timing, source, how)}.
  ready = {g: (held_cells, earlier["timing"][g], reuse, "trained earlier")
           for g, held_cells in taken.items()}
  for g, held_cells in _finished_here(sweep, checked, workdir, here).items():
    if g in ready:
      continue
    # The group's own record counts every launch that touched it.
    record = files.path(os.path.join(workdir, g, "sweep.json"))
    spent = files.read_json(record) if record.exists() else here["timing"][g]
    ready[g] = (held_cells, spent, results_path,
                "finished by an earlier launch")
  cells = {arm: {} for arm in sweep.arms}
  timing, configs = {}, {}
  for i, (group, run_) in enumerate(checked, 1):
    group_dir = os.path.join(workdir, group.name)
    log(f"[{i}/{len(checked)}] {group.name}: {len(group.cells)} "
        f"model{'s' if len(group.cells) > 1 else ''} "
        f"({', '.join(f'{a} seed {s}' for a, s in group.cells)})")
    if group.name in ready:
      held_cells, timing[group.name], source, how = ready[group.name]
      for k, (arm, seed) in enumerate(group.cells):
        configs.setdefault(arm, run_.members[k].config)
        cells[arm][seed] = held_cells[(arm, seed)]
      log(f"    taken from {source} ({how}: "
          f"{timing[group.name]['cpu_seconds']:.0f} s CPU)")
      continue
    results, timing[group.name] = _timed(
        os.path.join(group_dir, "sweep.json"),
        lambda: train.train_and_evaluate(run_, group_dir, verbose=verbose,
                                         tables=False))
    params = (checkpoint.load_params(group_dir)[1] if sweep.analyze
              else None)
    per_member = results if run_.stacked else [results]
    for k, ((arm, seed), member_results) in enumerate(
        zip(group.cells, per_member)):
      member_dir = (os.path.join(group_dir, f"member_{k}") if run_.stacked
                    else group_dir)
      configs.setdefault(arm, run_.members[k].config)
      cells[arm][seed] = {
          "summary": {name: r.summary() for name, r in member_results.items()},
          "results": {name: r.to_json() for name, r in member_results.items()},
          "history": eval_history(os.path.join(member_dir, "metrics.jsonl")),
          "analysis": (sweep.analyze(run_.members[k], jax.tree.map(
              lambda x: x[k], params) if run_.stacked else params)
                       if sweep.analyze else {}),
          "run_dir": os.path.relpath(member_dir, workdir)}
    log(f"    done in {timing[group.name]['wall_seconds']:.0f} s wall, "
        f"{timing[group.name]['cpu_seconds']:.0f} s CPU (all launches)")
    if i == len(checked):
      break
    so_far = _finished(sweep, cells, timing, configs, sources)
    # The file never loses an arm it holds: a relaunch that retrains or
    # extends an arm the file holds (or another selection of arms) waits.
    if held <= set(so_far.cells):
      files.write_json(results_path, so_far.to_json())
      log(f"    results so far ({len(so_far.cells)} of {len(sweep.arms)} "
          f"arms): {results_path}")
  outcome = _finished(sweep, cells, timing, configs, sources)
  files.write_json(results_path, outcome.to_json())
  return outcome


def _finished(sweep, cells, timing, configs, sources) -> Outcome:
  """The outcome of the arms whose every seed has trained."""
  done = [arm for arm in sweep.arms if set(cells[arm]) == set(sweep.seeds)]
  return Outcome(sweep, {arm: cells[arm] for arm in done}, dict(timing),
                 {arm: configs[arm] for arm in done},
                 {g: source for g, source in sources.items()
                  if g in timing})


def _read_own(path: str) -> dict:
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
