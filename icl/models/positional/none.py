"""NoPE: no positional encoding; the causal mask is the only order signal."""

from icl.models.positional.base import PositionalEncoding


class NoPositionalEncoding(PositionalEncoding):
  pass
