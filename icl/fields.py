"""Config sections as data: each component's schema is a frozen dataclass.

A component (a task, the model, the optimizer, training, an evaluator)
declares its fields once, with their defaults, as a dataclass. From it come
the config section a preset starts from (``section``), the check that a
section names only known fields (``check_known``), and the built object
(``build``). Value checks below raise ``ConfigError`` naming the field, the
value and what is allowed, before anything compiles.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Iterable

import ml_collections

from icl.errors import invalid


def is_int(v) -> bool:
  return isinstance(v, int) and not isinstance(v, bool)


def is_number(v) -> bool:
  return (isinstance(v, (int, float)) and not isinstance(v, bool)
          and math.isfinite(v))


def positive_int(field: str, v) -> None:
  if not is_int(v) or v <= 0:
    raise invalid(field, v, "a positive int")


def int_at_least(field: str, v, low: int, allowed: str) -> None:
  if not is_int(v) or v < low:
    raise invalid(field, v, allowed)


def non_negative_number(field: str, v) -> None:
  if not is_number(v) or v < 0:
    raise invalid(field, v, "a finite number >= 0")


def positive_number(field: str, v) -> None:
  if not is_number(v) or v <= 0:
    raise invalid(field, v, "a finite number > 0")


def unit_interval(field: str, v, closed: bool = False) -> None:
  """v in [0, 1] (``closed``) or [0, 1)."""
  if not is_number(v) or v < 0 or (v > 1 if closed else v >= 1):
    raise invalid(field, v, f"a number in [0, 1{']' if closed else ')'}")


def one_of(field: str, v, allowed: Iterable) -> None:
  if v not in allowed:
    raise invalid(field, v, f"one of {sorted(allowed)}")


def boolean(field: str, v) -> None:
  if not isinstance(v, bool):
    raise invalid(field, v, "True or False")


def names(cls) -> tuple[str, ...]:
  return tuple(f.name for f in dataclasses.fields(cls))


def defaults(cls) -> dict[str, Any]:
  out = {}
  for f in dataclasses.fields(cls):
    if f.default is not dataclasses.MISSING:
      out[f.name] = f.default
    elif f.default_factory is not dataclasses.MISSING:
      out[f.name] = f.default_factory()
  return out


def section(cls, **values) -> ml_collections.ConfigDict:
  """The config section of ``cls``: every field at its default, updated
  with ``values`` (which must be fields)."""
  fields = defaults(cls)
  unknown = sorted(set(values) - set(fields))
  if unknown:
    raise TypeError(f"{cls.__name__} has no field(s) {unknown}")
  fields.update(values)
  return ml_collections.ConfigDict(fields)


def check_known(prefix: str, config_section, known: Iterable[str],
                missing: str) -> None:
  """Every key of ``config_section`` is in ``known``; ``missing`` says why
  a key is not, e.g. "'regression' has no such field"."""
  known = sorted(set(known))
  for key in config_section:
    if key not in known:
      raise invalid(f"{prefix}.{key}", config_section[key],
                    f"absent: {missing} (known: {known})")


def plain(v):
  """Lists (as ConfigDict and JSON give tuples back) as tuples."""
  return tuple(plain(x) for x in v) if isinstance(v, (list, tuple)) else v


def build(cls, config_section, prefix: str, owner: str, skip=()):
  """``cls(**config_section)`` once its keys are checked; fields missing
  from the section take their defaults."""
  check_known(prefix, config_section, set(names(cls)) | set(skip),
              f"{owner} has no such field")
  return cls(**{k: plain(v) for k, v in config_section.items()
                if k not in skip})
