"""In-context linear regression (Raventós et al. 2023): the task, its exact
Bayes baselines, and the probe targets a model may compute."""

from icl.tasks.regression.task import (INFINITE, RegressionTask, interleave,
                                       predictions_at_x, split_tokens,
                                       tokenize)

TASKS = {"regression": RegressionTask}

__all__ = ["INFINITE", "RegressionTask", "TASKS", "interleave",
           "predictions_at_x", "split_tokens", "tokenize"]
