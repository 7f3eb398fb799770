"""Token tasks for length generalization: the shared layout, the classic
tasks, and weighted mixtures of them."""

from icl.data.vocab import BOS, EOS, PAD, SEP, SPECIAL_TOKENS
from icl.tasks.sequence.copy import CopyTask
from icl.tasks.sequence.count import CountTask
from icl.tasks.sequence.layout import (AlphabetTask, SequenceTask,
                                       mask_weights, token_cross_entropy)
from icl.tasks.sequence.mixture import MixtureTask
from icl.tasks.sequence.parity import ParityTask
from icl.tasks.sequence.reverse import ReverseTask

TASKS = {
    "copy": CopyTask,
    "reverse": ReverseTask,
    "parity": ParityTask,
    "count": CountTask,
    "mixture": MixtureTask,
}

__all__ = ["AlphabetTask", "BOS", "EOS", "PAD", "SEP", "SPECIAL_TOKENS",
           "SequenceTask", "MixtureTask", "TASKS", "mask_weights",
           "token_cross_entropy"]
