"""Arithmetic problems in canonical form, and how to draw them.

A problem is a pair of non-negative Python ints ``(a, b)`` and an operation
(``+``, ``-`` or ``*``); Python ints keep 100-digit operands exact. Operand
lengths come from the inclusive digit ranges ``digits_a`` and ``digits_b``.
Three ways to draw them:

- ``uniform``: a and b uniform over every number in their ranges, so long
  operands dominate (999 of 1000 three-digit-or-shorter numbers have 2+
  digits).
- ``lengths`` (McLeish et al. 2024): the operand lengths (len_a, len_b)
  uniform over the grid of buckets, then uniform numbers of those lengths.
- ``carries`` (Lee et al. 2023): the number of carries (borrows for ``-``)
  uniform over the counts that occur, each stratum filled from ``uniform``
  draws. Only for ``+`` and ``-``.

Subtraction may go negative: ``a - b`` is written with a leading ``-``.
All randomness is a numpy Generator seeded by the dataset seed: this runs
once, on the host, when a dataset is built.
"""

from __future__ import annotations

import dataclasses

import numpy as np

OPS = ("+", "-", "*")
SAMPLINGS = ("uniform", "lengths", "carries")


@dataclasses.dataclass(frozen=True)
class ProblemSpec:
  op: str = "+"
  digits_a: tuple[int, int] = (1, 3)
  digits_b: tuple[int, int] = (1, 3)
  sampling: str = "carries"


def answer(a: int, b: int, op: str) -> int:
  return a + b if op == "+" else a - b if op == "-" else a * b


def digits(x: int) -> int:
  return len(str(abs(x)))


def carries(a: int, b: int, op: str) -> int:
  """Carries of a + b, or borrows of |a - b| (larger minus smaller),
  digit by digit from the least significant; 0 for ``*``."""
  if op == "*":
    return 0
  if op == "-":
    a, b = max(a, b), min(a, b)
  count, carry = 0, 0
  while a or b:
    da, db = a % 10, b % 10
    if op == "+":
      carry = int(da + db + carry >= 10)
    else:
      carry = int(da - db - carry < 0)
    count += carry
    a, b = a // 10, b // 10
  return count


def count_numbers(lo: int, hi: int) -> int:
  """How many non-negative ints have between lo and hi digits (0 has 1)."""
  return 10 ** hi - (10 ** (lo - 1) if lo > 1 else 0)


def num_distinct(spec: ProblemSpec) -> int:
  return count_numbers(*spec.digits_a) * count_numbers(*spec.digits_b)


def _numbers_of_length(rng: np.random.Generator, lengths: np.ndarray
                       ) -> list[int]:
  """One uniform number with exactly lengths[i] digits per entry (0..9 for
  one digit). Digit by digit: numpy's integers stop at 2**63."""
  out = []
  for n in lengths.tolist():
    head = int(rng.integers(0 if n == 1 else 1, 10))
    rest = "".join(map(str, rng.integers(0, 10, n - 1)))
    out.append(int(f"{head}{rest}"))
  return out


def _lengths(rng, lo: int, hi: int, size: int, by_count: bool) -> np.ndarray:
  """Operand lengths in [lo, hi]: uniform, or in proportion to how many
  numbers have each length (so the numbers come out uniform)."""
  choices = np.arange(lo, hi + 1)
  if not by_count:
    return rng.choice(choices, size)
  weights = np.array([count_numbers(n, n) for n in choices], np.float64)
  return rng.choice(choices, size, p=weights / weights.sum())


def _draw(spec: ProblemSpec, rng, size: int) -> list[tuple[int, int]]:
  by_count = spec.sampling != "lengths"
  a = _numbers_of_length(rng, _lengths(rng, *spec.digits_a, size, by_count))
  b = _numbers_of_length(rng, _lengths(rng, *spec.digits_b, size, by_count))
  return list(zip(a, b))


def draw_distinct(spec: ProblemSpec, seed, count: int,
                  exclude: frozenset = frozenset(), max_rounds: int = 200
                  ) -> list[tuple[int, int]]:
  """``count`` distinct problems, none in ``exclude``, in draw order;
  raises ValueError when the distribution cannot supply that many."""
  rng = np.random.default_rng(seed)
  seen: set[tuple[int, int]] = set(exclude)
  out: list[tuple[int, int]] = []
  if spec.sampling == "carries":
    return _draw_by_carries(spec, rng, count, seen, max_rounds)
  for _ in range(max_rounds):
    for problem in _draw(spec, rng, max(1024, 2 * (count - len(out)))):
      if problem not in seen:
        seen.add(problem)
        out.append(problem)
        if len(out) == count:
          return out
  raise ValueError(f"could draw only {len(out)} of {count} distinct "
                   f"problems from {spec}")


def _draw_by_carries(spec, rng, count, seen, max_rounds):
  """Strata by carry count, each an equal share, filled round-robin so a
  prefix of the list stays balanced too."""
  strata: dict[int, list[tuple[int, int]]] = {}
  base = dataclasses.replace(spec, sampling="uniform")
  for _ in range(max_rounds):
    for a, b in _draw(base, rng, 4096):
      if (a, b) not in seen:
        seen.add((a, b))
        strata.setdefault(carries(a, b, spec.op), []).append((a, b))
    keys = sorted(strata)
    # Rare strata (few problems exist) may run dry; the others then share.
    if sum(len(v) for v in strata.values()) >= 4 * count or len(
        seen) >= num_distinct(spec):
      break
  out, cursor = [], {k: 0 for k in keys}
  while len(out) < count:
    progressed = False
    for k in keys:
      if cursor[k] < len(strata[k]) and len(out) < count:
        out.append(strata[k][cursor[k]])
        cursor[k] += 1
        progressed = True
    if not progressed:
      raise ValueError(f"could draw only {len(out)} of {count} distinct "
                       f"problems from {spec}")
  return out
