"""Position schemes for arithmetic: position ids as data.

- ``default``: 0, 1, 2, ... (any positional encoding reads them).
- ``abacus`` (McLeish et al. 2024): each digit's 1-based index within its
  number as written, 0 for every other token. In a reversed format the
  units digit of every number gets 1, so digits of equal significance share
  an id.
- ``coupled`` (Cho et al. 2024, position coupling): each digit's
  significance + 1 (units: 1) in every operand and the answer, whatever the
  writing order, 0 for other tokens.

Training may shift every non-zero id by one random offset per example
(``task.max_offset``) so that ids beyond the training lengths are trained
too; evaluation uses offset 0.
"""

from __future__ import annotations

from icl.tasks.arithmetic.formats import Rendered

SCHEMES = ("default", "abacus", "coupled")


def abacus(example: Rendered) -> list[int]:
  ids, run = [], 0
  for token in example.tokens:
    run = run + 1 if token.isdigit() and len(token) == 1 else 0
    ids.append(run)
  return ids


def coupled(example: Rendered) -> list[int]:
  return [s + 1 if s >= 0 else 0 for s in example.significance]


def ids(scheme: str, example: Rendered) -> list[int] | None:
  """Per-token ids of the example, or None for the default scheme."""
  return {"default": lambda e: None, "abacus": abacus,
          "coupled": coupled}[scheme](example)
