"""Data formats: how one canonical problem is written as tokens.

A format is a ``+``-joined list of parts, applied to the problem in a fixed
order (digits first, then layout, then spacing):

- ``plain``: ``128+367=495`` (alone: the empty list of parts).
- ``reverse``: the answer least significant digit first, ``128+367=594``
  (Lee et al. 2023; with paper delimiters ``$128+367=594$``).
- ``reverse_all``: operands and answer reversed, ``821+763=594``
  (McLeish et al. 2024, Zhou et al. 2024).
- ``zero_pad``: operands padded to their widest length and the answer to the
  widest answer, ``128+367=0495``.
- ``index_hints``: each digit follows a hint token naming its significance,
  ``<2>1<1>2<0>8+...`` (Zhou et al. 2023); hint ids may be shifted by a
  random offset in training so that long test numbers use seen hints.
- ``random_spaces``: a space after each prompt token with probability 1/2
  (Shen et al. 2023), fixed per example by the dataset seed.
- ``scratchpad`` / ``detailed_scratchpad``: Lee et al.'s simplified and
  detailed scratchpads for addition; the answer is the last line.

Every token is one character, except the hint tokens ``<s>``. Each token
also carries its digit significance (0 for units; -1 for non-digits), from
which position schemes (``positions.py``) derive their ids.
"""

from __future__ import annotations

import dataclasses
import string

import numpy as np

from icl.tasks.arithmetic.problems import answer as compute_answer
from icl.data.vocab import SPECIAL_TOKENS

PARTS = ("plain", "reverse", "reverse_all", "zero_pad", "index_hints",
         "random_spaces", "scratchpad", "detailed_scratchpad")
SCRATCHPADS = ("scratchpad", "detailed_scratchpad")
# Parts that cannot go together, with the reason the error gives.
EXCLUSIVE = (
    ({"reverse", "reverse_all"}, "both reverse the answer"),
    ({"scratchpad", "detailed_scratchpad"}, "both are scratchpads"),
)
CHARACTERS = (string.digits + "+-*=$ \n,.:;<>/[]()" + string.ascii_letters)


@dataclasses.dataclass(frozen=True)
class Rendered:
  """One example: tokens, where the answer starts, digit significances."""

  tokens: tuple[str, ...]
  answer_start: int
  significance: tuple[int, ...]

  @property
  def text(self) -> str:
    return "".join(self.tokens)

  @property
  def prompt(self) -> tuple[str, ...]:
    return self.tokens[:self.answer_start]

  @property
  def answer(self) -> tuple[str, ...]:
    return self.tokens[self.answer_start:]


@dataclasses.dataclass(frozen=True)
class Format:
  """A parsed ``task.format``; ``dollars``: wrap the example in ``$..$``
  (Lee et al.'s delimiters for the reversed format)."""

  parts: frozenset[str]
  widths: tuple[int, int, int] = (0, 0, 0)  # zero_pad: a, b, answer
  dollars: bool = False

  @property
  def reversed_answer(self) -> bool:
    return bool(self.parts & {"reverse", "reverse_all"})

  @property
  def scratchpad(self) -> str | None:
    found = self.parts & set(SCRATCHPADS)
    return next(iter(found)) if found else None


def parse_parts(spec: str) -> frozenset[str]:
  """The parts of a format string; ValueError (with the reason) when they
  cannot be rendered together."""
  parts = str(spec).split("+")
  for p in parts:
    if p not in PARTS:
      raise ValueError(f"unknown part {p!r} (parts: {list(PARTS)}, joined "
                       f"with '+')")
  if "plain" in parts and len(parts) > 1:
    raise ValueError("'plain' is the empty format and stands alone")
  chosen = frozenset(parts) - {"plain"}
  for group, why in EXCLUSIVE:
    if len(chosen & group) > 1:
      raise ValueError(f"{' and '.join(sorted(chosen & group))} cannot be "
                       f"combined: {why}")
  if chosen & set(SCRATCHPADS) and len(chosen) > 1:
    raise ValueError("a scratchpad fixes its own layout: it takes no other "
                     f"parts, got {sorted(chosen)}")
  return chosen


def vocabulary(num_hints: int) -> tuple[str, ...]:
  return SPECIAL_TOKENS + tuple(CHARACTERS) + tuple(
      hint(s) for s in range(num_hints))


def hint(significance: int) -> str:
  return f"<{significance}>"


def _number(x: int, width: int, reverse: bool, hints: bool):
  """Tokens and significances of a non-negative number."""
  digits = str(x).rjust(width, "0")
  sig = list(range(len(digits) - 1, -1, -1))
  pairs = list(zip(digits, sig))
  if reverse:
    pairs.reverse()
  tokens, sigs = [], []
  for d, s in pairs:
    if hints:
      tokens.append(hint(s))
      sigs.append(-1)
    tokens.append(d)
    sigs.append(s)
  return tokens, sigs


def render(a: int, b: int, op: str, fmt: Format,
           rng: np.random.Generator | None = None) -> Rendered:
  """The tokens of ``a op b`` in format ``fmt``; ``rng`` draws random
  spaces."""
  if fmt.scratchpad:
    return _scratchpad(a, b, detailed=fmt.scratchpad == SCRATCHPADS[1])
  parts = fmt.parts
  hints = "index_hints" in parts
  pad = "zero_pad" in parts
  wa, wb, wc = fmt.widths if pad else (0, 0, 0)
  ta, sa = _number(a, wa, "reverse_all" in parts, hints)
  tb, sb = _number(b, wb, "reverse_all" in parts, hints)
  c = compute_answer(a, b, op)
  tc, sc = _number(abs(c), wc, fmt.reversed_answer, hints)
  if c < 0:
    tc, sc = ["-"] + tc, [-1] + sc
  prompt, psig = ta + [op] + tb + ["="], sa + [-1] + sb + [-1]
  if "random_spaces" in parts:
    prompt, psig = _random_spaces(prompt, psig, rng)
  tokens, sig = prompt + tc, psig + sc
  start = len(prompt)
  if fmt.dollars:
    tokens, sig, start = ["$"] + tokens + ["$"], [-1] + sig + [-1], start + 1
  return Rendered(tuple(tokens), start, tuple(sig))


def _random_spaces(tokens, sig, rng):
  if rng is None:
    raise ValueError("random_spaces needs an rng")
  out, out_sig = [], []
  for i, (t, s) in enumerate(zip(tokens, sig)):
    out.append(t)
    out_sig.append(s)
    if i < len(tokens) - 1 and rng.random() < 0.5:
      out.append(" ")
      out_sig.append(-1)
  return out, out_sig


def _scratchpad(a: int, b: int, detailed: bool) -> Rendered:
  """Lee et al. 2023's scratchpads for a + b, digit by digit from the
  units. A shorter operand contributes 0 once its digits run out."""
  prompt = f"Input:\n{a}+{b}\nTarget:\n"
  da, db = [int(d) for d in str(a)], [int(d) for d in str(b)]
  steps, carry, out = [], 0, []
  lines = []
  if detailed:
    lines += ["<scratch>", f"{_list(da)} has {len(da)} digits.",
              f"{_list(db)} has {len(db)} digits."]
  ra, rb = list(da), list(db)
  while ra or rb:
    x = ra[-1] if ra else 0
    y = rb[-1] if rb else 0
    total = x + y + carry
    if detailed:
      lines.append(f"{_list(ra)} + {_list(rb)} , A={_list(out)} , C={carry} , "
                   f"{x}+{y}+{carry}={total} , A->{total % 10} , "
                   f"C->{total // 10}")
    else:
      steps.append(f"A->{total % 10} , C->{total // 10}")
    out.insert(0, total % 10)
    carry = total // 10
    ra, rb = ra[:-1], rb[:-1]
  if detailed:
    # Written as the paper's data files have it: no comma before C, and
    # the digits listed before a final carry joins them (826+574 reads
    # A=[4,0,0] C=1, then the answer 1 4 0 0).
    lines.append(f"[] + [] , A={_list(out)} C={carry} , END")
  if carry:
    out.insert(0, carry)
  if detailed:
    lines += ["</scratch>", " ".join(map(str, out))]
  else:
    lines = ["\n".join(steps) + ".", "".join(map(str, out))]
  body = "\n".join(lines)
  tokens = tuple(prompt + body)
  return Rendered(tokens, len(prompt), (-1,) * len(tokens))


def _list(digits) -> str:
  return "[" + ",".join(map(str, digits)) + "]"


def parse_answer(tokens, fmt: Format) -> int | None:
  """The integer an answer's tokens (up to EOS) state, or None.

  Scratchpads: the last line. Hints, spaces and ``$`` are skipped; a
  reversed answer is read back to front.
  """
  text = []
  for t in tokens:
    if t == "EOS":
      break
    if t in SPECIAL_TOKENS:
      return None
    if not is_hint(t):
      text.append(t)
  line = "".join(text)
  if fmt.scratchpad:
    line = line.rsplit("\n", 1)[-1]
  line = line.replace("$", "").replace(" ", "")
  sign = ""
  if line.startswith("-"):
    sign, line = "-", line[1:]
  if not (line.isascii() and line.isdigit()):
    return None
  return int(sign + (line[::-1] if fmt.reversed_answer else line))


def is_hint(token: str) -> bool:
  return len(token) > 1 and token.startswith("<")
