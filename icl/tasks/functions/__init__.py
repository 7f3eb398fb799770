"""Function classes for in-context learning (Garg et al. 2022 and the
benchmarks after it): the tasks, their curriculum, and baselines for every
prefix. Their evaluators are ``functions``, ``uncertainty`` and the
``shift_*`` shifts in ``icl/evaluators``."""

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
