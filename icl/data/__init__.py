"""The data layer every task shares: the Batch pytree, the token
vocabulary's special tokens, and batch transforms."""

from icl.data.batch import Batch
from icl.data.vocab import BOS, EOS, PAD, SEP, SPECIAL_TOKENS

__all__ = ["BOS", "Batch", "EOS", "PAD", "SEP", "SPECIAL_TOKENS"]
