"""What a sweep trains: its arms and seeds (:class:`Sweep`), cut to a
selection (:func:`select`), grouped into ensembles where the configs allow
(:func:`plan`) and checked before anything trains (:func:`validate`)."""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any, Callable, Mapping

import ml_collections

from icl import members, schema, smoke, tasks
from icl.errors import ConfigError

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
  report: Callable[[Any, str], str] | None = None
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
