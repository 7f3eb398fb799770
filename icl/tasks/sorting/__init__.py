"""Sorting and its hint tasks (Awasthi & Gupta 2023), and the successor
attention statistic that probes how a sorter works."""

from icl.tasks.sorting.tasks import (CountSmallerTask, FillTask,
                                     ParitySmallerTask, PredecessorTask,
                                     QueryHint, SortingFamily, SortTask,
                                     SuccessorTask)

TASKS = {
    "sort": SortTask,
    "successor": SuccessorTask,
    "predecessor": PredecessorTask,
    "count_smaller": CountSmallerTask,
    "parity_smaller": ParitySmallerTask,
    "fill": FillTask,
}

__all__ = ["CountSmallerTask", "FillTask", "ParitySmallerTask",
           "PredecessorTask", "QueryHint", "SortingFamily", "SortTask",
           "SuccessorTask", "TASKS"]
