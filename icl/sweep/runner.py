"""Running a sweep: validate every group, take what earlier launches
finished, train the rest group by group, and write results.json as arms
land (see the package docstring)."""

from __future__ import annotations

import os

import jax

from icl import checkpoint, files, schema, train
from icl.errors import ConfigError
from icl.sweep import resume
from icl.sweep.arms import Sweep, plan, validate
from icl.sweep.stats import Outcome, eval_history


def run(sweep: Sweep, workdir: str, ensemble: bool = True, log=print,
        verbose: bool = True, max_members: int | None = None,
        reuse: str | None = None) -> Outcome:
  """Validates, trains (resuming) and aggregates ``sweep`` in
  ``workdir``; writes ``workdir/results.json`` and returns the outcome.
  ``ensemble`` and ``max_members``: see :func:`plan`. ``reuse``: the path
  of an earlier ``results.json`` of this sweep (a committed one, say);
  the groups it holds (see :func:`resume.reusable`) are taken from it, with
  their recorded time, instead of trained."""
  if max_members is not None and (not isinstance(max_members, int)
                                  or max_members < 1):
    raise ConfigError(f"--max_members must be a positive int, got "
                      f"{max_members!r}")
  checked = validate(sweep, plan(sweep, ensemble, max_members), log)
  earlier = resume.read_results(reuse) if reuse else None
  if earlier is not None and earlier.get("sweep") != sweep.name:
    raise ConfigError(f"--reuse: {reuse} holds sweep "
                      f"{earlier.get('sweep')!r}, not {sweep.name!r}")
  taken = resume.reusable(sweep, checked, earlier, reuse) if earlier else {}
  # A results file may overwrite the one it reused: keep the first source.
  sources = {g: (earlier.get("reused") or {}).get(g, reuse) for g in taken}
  schema.validate_workdir(workdir)
  results_path = os.path.join(workdir, "results.json")
  here = resume.read_own(results_path)
  held = set(here.get("arms", {}))
  # Groups that do not train: {group: (cells, timing, source, how)}.
  ready = {g: (held_cells, earlier["timing"][g], reuse, "trained earlier")
           for g, held_cells in taken.items()}
  finished = resume.finished_here(sweep, checked, workdir, here)
  for g, held_cells in finished.items():
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
    results, timing[group.name] = resume.timed(
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
