"""What a sweep measured: seed statistics (:func:`statistics`,
:func:`aggregate`), the :class:`Outcome` that holds every cell, and what a
run logged along the way (:func:`eval_history`, :func:`first_step`)."""

from __future__ import annotations

import dataclasses
import math

import ml_collections

from icl import files, metrics
from icl.sweep.arms import Sweep

STATISTICS = ("mean", "std", "min", "max", "n")


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
