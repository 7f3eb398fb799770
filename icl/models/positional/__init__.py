"""Positional encodings, selected by name (``model.positional``).

Adding an encoding: write a module with a ``PositionalEncoding`` subclass and
add one entry to ``REGISTRY``. The transformer does not change.
"""

from icl.models.positional.abacus import AbacusPositionalEncoding
from icl.models.positional.alibi import AlibiPositionalEncoding
from icl.models.positional.base import PositionalEncoding
from icl.models.positional.fire import FirePositionalEncoding
from icl.models.positional.kerple import KerplePositionalEncoding
from icl.models.positional.learned import LearnedPositionalEncoding
from icl.models.positional.none import NoPositionalEncoding
from icl.models.positional.rope import RotaryPositionalEncoding
from icl.models.positional.sinusoidal import SinusoidalPositionalEncoding
from icl.models.positional.t5 import T5PositionalEncoding
from icl.models.positional.xpos import XPosPositionalEncoding

REGISTRY: dict[str, type[PositionalEncoding]] = {
    "none": NoPositionalEncoding,
    "learned": LearnedPositionalEncoding,
    "sinusoidal": SinusoidalPositionalEncoding,
    "rope": RotaryPositionalEncoding,
    "xpos": XPosPositionalEncoding,
    "alibi": AlibiPositionalEncoding,
    "t5": T5PositionalEncoding,
    "fire": FirePositionalEncoding,
    "kerple": KerplePositionalEncoding,
    "abacus": AbacusPositionalEncoding,
}


def get(name: str) -> type[PositionalEncoding]:
  if name not in REGISTRY:
    raise ValueError(
        f"model.positional must be one of {sorted(REGISTRY)}, got {name!r}")
  return REGISTRY[name]


__all__ = ["PositionalEncoding", "REGISTRY", "get"]
