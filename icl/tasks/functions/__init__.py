"""Function classes for in-context learning (Garg et al. 2022 and the
benchmarks after it): the tasks, their curriculum, baselines vectorized
over every prefix, the evaluators, and distribution shifts."""

# The evaluator registry lists this family's evaluators (evaluators.py),
# which build on icl.evaluators.base: importing the registry first lets any
# module of this package be imported first.
import icl.evaluators  # noqa: F401  (isort: skip)
from icl.tasks.functions.linear import (LinearClassificationTask,
                                        LinearTask, NoisyLinearTask,
                                        QuadraticTask, SparseLinearTask)
from icl.tasks.functions.parity import SparseParityTask
from icl.tasks.functions.relu import ReluNetTask
from icl.tasks.functions.task import FunctionTask
from icl.tasks.functions.tree import DecisionTreeTask

TASKS = {
    "linear": LinearTask,
    "sparse_linear": SparseLinearTask,
    "noisy_linear": NoisyLinearTask,
    "linear_classification": LinearClassificationTask,
    "quadratic": QuadraticTask,
    "relu_2nn": ReluNetTask,
    "decision_tree": DecisionTreeTask,
    "sparse_parity": SparseParityTask,
}

__all__ = ["FunctionTask", "TASKS"]
