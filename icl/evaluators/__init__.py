"""Evaluators, chosen by name from ``config.evals``.

``config.evals`` lists evaluator names; empty means the task's
``default_evals``. Each evaluator is one file here (or in its task's
family package) plus one line in ``REGISTRY``. Every evaluator returns a
typed ``Result``; ``results.json`` is keyed by evaluator name.

- ``regression``: error / D per context position against the baselines.
- ``lengths``: teacher-forced exact match and token accuracy per length.
- ``decoded_lengths``: the same, answered by KV-cache greedy decoding.
- ``arithmetic``: decoded exact match on the test split, by carries and
  operand lengths.
- ``functions``: the function classes' error per position against their
  baselines; ``shift_*``: the same under distribution shifts;
  ``uncertainty``: a probabilistic head's NLL and calibration.
"""

from __future__ import annotations

import ml_collections

from icl import fields, rng
from icl.errors import invalid
from icl.evaluators.arithmetic import ArithmeticEvaluator
from icl.evaluators.base import Evaluator, Result
from icl.evaluators.lengths import DecodedLengthEvaluator, LengthEvaluator
from icl.evaluators.functions import FunctionsEvaluator
from icl.evaluators.regression import RegressionEvaluator
from icl.evaluators.shifts import SHIFTS
from icl.evaluators.uncertainty import UncertaintyEvaluator

REGISTRY: dict[str, type[Evaluator]] = {
    "regression": RegressionEvaluator,
    "lengths": LengthEvaluator,
    "decoded_lengths": DecodedLengthEvaluator,
    "arithmetic": ArithmeticEvaluator,
    "functions": FunctionsEvaluator,
    "uncertainty": UncertaintyEvaluator,
    **SHIFTS,
}

__all__ = ["Evaluator", "REGISTRY", "Result", "build", "for_run", "section",
           "validate"]


def applicable(task) -> list[str]:
  """Names of the evaluators that apply to ``task`` (a class or instance)."""
  return [n for n, e in REGISTRY.items() if e.applies_to(task)]


def section(task, **values) -> ml_collections.ConfigDict:
  """A ``config.eval`` section for ``task``: every field any evaluator
  that applies to it reads, at its default, updated with ``values``."""
  section_ = {}
  for name in applicable(task):
    section_.update(REGISTRY[name].eval_fields)
  unknown = sorted(set(values) - set(section_))
  if unknown:
    raise TypeError(f"no evaluator of {task} reads eval field(s) {unknown}")
  section_.update(values)
  return ml_collections.ConfigDict(section_)


def chosen(config, task) -> tuple[str, ...]:
  return tuple(config.get("evals") or ()) or task.default_evals


def validate(config, task) -> tuple[str, ...]:
  """Checks ``config.evals`` and the ``eval`` section; returns the names
  of the evaluators the run uses."""
  names = chosen(config, task)
  allowed = applicable(task)
  if not names:
    raise invalid("evals", tuple(config.get("evals") or ()),
                  f"a non-empty tuple of evaluator names from {allowed}")
  for k, name in enumerate(names):
    if name not in allowed:
      raise invalid(f"evals[{k}]", name, f"one of {allowed} (the "
                    f"evaluators of task {config.task.name!r})")
  readable = set().union(*(REGISTRY[n].eval_fields for n in allowed))
  fields.check_known("eval", config.eval, readable,
                     f"no evaluator of task {config.task.name!r} reads it")
  for name in names:
    REGISTRY[name].validate(config.eval, task)
  return names


def transforms_positions(names) -> bool:
  return any(REGISTRY[n].transforms_positions for n in names)


def build(names, model, task, eval_cfg, key, positions=None
          ) -> dict[str, Evaluator]:
  """``{name: evaluator}``; every evaluator reads the same eval stream, so
  ``lengths`` and ``decoded_lengths`` score the very same examples."""
  return {n: REGISTRY[n](model, task, eval_cfg, key, positions)
          for n in names}


def for_run(run, model) -> list[dict[str, Evaluator]]:
  """Each member's ``{name: evaluator}`` for a validated run (one member
  for a plain run), on the member's own task and eval stream."""
  return [build(run.evals, model, m.task, m.config.eval,
                rng.stream(m.seed, "eval"), run.eval_positions)
          for m in run.members]
