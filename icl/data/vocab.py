"""The special tokens every token task shares: ids 0..3 of its vocabulary.

Task symbols follow them, so a vocabulary is ``SPECIAL_TOKENS`` plus the
task's own symbols, and padding (PAD = 0) is the same token everywhere.
"""

PAD, BOS, SEP, EOS = 0, 1, 2, 3
SPECIAL_TOKENS = ("PAD", "BOS", "SEP", "EOS")
