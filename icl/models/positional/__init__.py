"""Positional encodings, selected by name.

Adding an encoding: write a module with a ``PositionalEncoding`` subclass and
add one entry to ``REGISTRY``. The transformer does not change.
"""

from icl.models.positional.base import PositionalEncoding
from icl.models.positional.learned import LearnedPositionalEncoding
from icl.models.positional.none import NoPositionalEncoding
from icl.models.positional.sinusoidal import SinusoidalPositionalEncoding

REGISTRY: dict[str, type[PositionalEncoding]] = {
    "none": NoPositionalEncoding,
    "learned": LearnedPositionalEncoding,
    "sinusoidal": SinusoidalPositionalEncoding,
}


def get(name: str) -> type[PositionalEncoding]:
  if name not in REGISTRY:
    raise ValueError(
        f"model.positional must be one of {sorted(REGISTRY)}, got {name!r}")
  return REGISTRY[name]


__all__ = ["PositionalEncoding", "REGISTRY", "get"]
