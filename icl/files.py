"""Paths and writes for everything a run or a sweep records.

Every path goes through ``etils.epath``, so a workdir may be ``gs://...``
(with ``gcsfs`` installed) as well as local. Every file is replaced whole:
written beside its target, then renamed over it, so a killed process never
leaves half a file. JSON is strict (:func:`dumps`: non-finite numbers
become ``null``).
"""

from __future__ import annotations

import io
import json
import math
import os
from typing import Any

from etils import epath

PathLike = str | os.PathLike


def to_json(x):
  """Arrays and numpy scalars as lists and Python numbers, and non-finite
  numbers as None: strict JSON, which any parser reads. A NaN loss or
  error is therefore ``null`` in every file a run writes."""
  if x is None or isinstance(x, (str, bool)):
    return x
  if isinstance(x, dict):
    return {k: to_json(v) for k, v in x.items()}
  if hasattr(x, "__len__"):
    return [to_json(v) for v in x]
  if isinstance(x, int):
    return x
  x = float(x)
  return x if math.isfinite(x) else None


def dumps(record, **kwargs) -> str:
  """Strict JSON of ``record`` (see ``to_json``)."""
  return json.dumps(to_json(record), allow_nan=False, **kwargs)


def path(p: PathLike) -> epath.Path:
  return epath.Path(p)


def is_local(p: PathLike) -> bool:
  """Whether ``p`` is on this machine's file system (not ``gs://`` etc.):
  only there do append, flock and ``os.access`` mean anything."""
  return "://" not in os.fspath(p)


def write_bytes(p: PathLike, data: bytes) -> None:
  target = path(p)
  target.parent.mkdir(parents=True, exist_ok=True)
  tmp = target.parent / f".{target.name}.tmp{os.getpid()}"
  tmp.write_bytes(data)
  tmp.replace(target)


def write_text(p: PathLike, text: str) -> None:
  write_bytes(p, text.encode())


def write_json(p: PathLike, record: Any) -> None:
  write_text(p, dumps(record, indent=2) + "\n")


def read_json(p: PathLike) -> Any:
  return json.loads(path(p).read_text())


def append_text(p: PathLike, text: str) -> None:
  """Appends locally; object stores have no append, so there the file is
  rewritten whole (metrics files stay small)."""
  target = path(p)
  if is_local(target):
    with open(os.fspath(target), "a") as f:
      f.write(text)
  else:
    old = target.read_text() if target.exists() else ""
    write_text(target, old + text)


def save_figure(fig, p: PathLike, **savefig_kwargs) -> None:
  """A matplotlib figure as a PNG, replaced whole."""
  buffer = io.BytesIO()
  fig.savefig(buffer, format="png", dpi=120, **savefig_kwargs)
  write_bytes(p, buffer.getvalue())
