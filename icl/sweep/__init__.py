"""A sweep is data: named arms, each a single-model config, times seeds.

    sweep = Sweep("task_diversity", arms={"M=4": config_4, ...}, seeds=(0, 1, 2))
    outcome = run(sweep, "runs/td")     # validates all, trains, resumes
    outcome.stats("M=4")["regression"]["true/error/model"]
    # {"mean": ..., "std": ..., "min": ..., "max": ..., "n": 3}

What ``run`` does, in order:

1. **Plans** the cells (arm, seed). Cells whose configs differ only in
   fields an ensemble may vary (the seed, and the task's
   ``ensemble_fields`` such as the task diversity M) form one group, which
   trains as one vmapped ensemble: one compile instead of one per member,
   and the right shape for an accelerator. Member k of an ensemble trains
   exactly as its own run would (``icl/members.py``).
2. **Validates** every group before anything compiles. A failing arm is
   named; a group the ensemble rules refuse (though each of its cells is
   valid) trains its cells one by one, and says so.
3. **Trains** group by group, each in its own resumable run directory
   (``WORKDIR/{group}``, members in ``member_{k}/``), and records the CPU
   and wall time each took (summed over resumes, in ``{group}/sweep.json``).
4. **Aggregates** every summary number over seeds: mean, standard deviation
   (ddof=1; None for one seed), min, max and n, and writes one
   ``WORKDIR/results.json``. It writes it after every group too, holding
   the arms whose seeds have all finished and naming the rest under
   ``pending``: a sweep of hours lands its results arm by arm. A relaunch
   takes the groups that file holds whole, finished under the same
   config, from it (restoring and re-evaluating them would cost an
   evaluation each and change nothing), and resumes the rest. The file
   never loses an arm it already holds: a relaunch that retrains or
   extends one replaces it only once it holds them all again.

A committed ``results.json`` lets a later sweep add arms without the old
run directories: ``run(..., reuse=path)`` takes every group that file
holds, under the same config, instead of training it, and the report
covers both.

Which statistic a report leads with is the sweep's ``headline``.

Where each part lives: ``arms`` (what trains: the sweep, its groups, their
validation), ``runner`` (training and writing results.json), ``resume``
(what earlier launches left) and ``stats`` (seed statistics and the
outcome).
"""

from icl.sweep.arms import HEADLINES, Group, Sweep, plan, select, validate
from icl.sweep.runner import run
from icl.sweep.stats import (STATISTICS, Outcome, aggregate, eval_history,
                             first_step, statistics)

__all__ = ["HEADLINES", "STATISTICS", "Group", "Outcome", "Sweep",
           "aggregate", "eval_history", "first_step", "plan", "run",
           "select", "statistics", "validate"]
