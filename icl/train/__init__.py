"""Training: the program (state, step, shardings), the members it trains,
the loop, and the run directory it writes."""

from icl.train.loop import NonFiniteError, train_and_evaluate

__all__ = ["NonFiniteError", "train_and_evaluate"]
