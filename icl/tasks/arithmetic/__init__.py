"""Multi-digit arithmetic: problems, formats, position schemes, the TFDS
dataset builder and the task."""

from icl.tasks.arithmetic.task import ArithmeticTask

TASKS = {"arithmetic": ArithmeticTask}

__all__ = ["ArithmeticTask", "TASKS"]
