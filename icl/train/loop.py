"""``train_and_evaluate(config, workdir)``: the one training loop.

The loop only loops: restore, step, log, evaluate, checkpoint. The config
is checked first (``icl.schema``), the compiled pieces come from
``icl.train.program.Program``, and the files from
``icl.train.rundir.RunDir``. It dispatches step n+1 before it reads step
n's loss, and checks that loss is finite. A non-finite loss stops the run
with the step named, and a checkpoint is written only for finite
parameters, so the last one kept is good. In a multi-host run every
process trains; only process 0 writes files other than checkpoints.
"""

from __future__ import annotations

import json
import sys

import numpy as np

from icl import checkpoint, evaluators, files, schema, sharding
from icl.errors import invalid
from icl.metrics import Progress
from icl.train import rundir
from icl.train.program import Program


class NonFiniteError(FloatingPointError):
  """The loss or the parameters stopped being finite."""


def train_and_evaluate(config, workdir: str, verbose: bool = True,
                       devices=None, tables: bool = True):
  """Trains (resuming from ``workdir`` if possible), evaluates, and returns
  the final results, also written to ``workdir/results.json``:
  ``{evaluator name: Result}``, or a list of them (one per member) for an
  ensemble.

  ``config``: a ConfigDict, or the ``schema.Run`` validated from one.
  ``devices`` (default: all) are the devices the mesh spans. ``verbose``
  prints progress and, with ``tables``, the results at the end. Every check
  (the config, the workdir, the lock, the configs and step of an existing
  run) comes before anything compiles.
  """
  schema.validate_workdir(workdir)
  run = schema.validate(config, None if devices is None else len(devices))
  config_dict = json.loads(json.dumps(run.config.to_dict()))  # tuples: lists
  writer = sharding.is_writer()
  # An existing run is locked, then checked; a new one is created only
  # once everything, the sharding included, has passed.
  workdir = files.path(workdir)
  lock = rundir.lock(workdir) if writer and workdir.is_dir() else None
  try:
    rundir.check_same_run(workdir, config_dict)
    _check_resumable(workdir, run, config_dict)
    layout = sharding.build_layout(run.config.mesh, devices)
    program = Program(run, layout)  # compiles: checks come first
    if writer and lock is None:
      workdir.mkdir(parents=True, exist_ok=True)
      lock = rundir.lock(workdir)
    ckpt = checkpoint.Checkpointer(workdir / "checkpoints",
                                   run.train.keep_checkpoints)
    run_dir = rundir.RunDir(workdir, run, writer)
    try:
      with program.context():
        results = _loop(run, config_dict, workdir, program, run_dir, ckpt,
                        verbose, tables)
    finally:
      ckpt.close()
      for log in run_dir.logs:
        log.close()
  finally:
    if lock is not None:
      lock.release()
  return results if run.stacked else results[0]


def _check_resumable(workdir, run, config_dict) -> None:
  """The config stored in the newest readable checkpoint must match the
  requested one (as config.json must), and a run cannot be shortened."""
  directory = workdir / "checkpoints"
  if not directory.is_dir():
    return
  ckpt = checkpoint.Checkpointer(directory, run.train.keep_checkpoints)
  try:
    for step in reversed(ckpt.all_steps()):
      try:
        stored = ckpt.restore_config(step)
      except Exception:  # a damaged step: restore_latest reports it
        continue
      rundir.check_same_run(workdir, config_dict, stored,
                            f"checkpoint at step {step}")
      if run.train.steps < step:
        raise invalid("train.steps", run.train.steps,
                      f"at least {step}, the step the run in {str(workdir)!r} "
                      "has reached (a run cannot be shortened; use a new "
                      "--workdir)")
      return
  finally:
    ckpt.close()


def _loop(run, config_dict, workdir, program, run_dir, ckpt, verbose,
          tables=True):
  total = run.train.steps
  talk = verbose and run_dir.writer
  evals = evaluators.for_run(run, program.model)
  restored = ckpt.restore_latest(
      program.abstract_state,
      say=lambda line: run_dir.writer and print(line, file=sys.stderr,
                                              flush=True))
  if restored is not None:
    start, state = restored
    if talk:
      print(f"resumed from {workdir} at step {start}", flush=True)
  else:
    start, state = 0, program.init()
  run_dir.write_configs()
  for log in run_dir.logs:
    log.truncate_after(start)

  def evaluate():
    return [{name: e(program.member_params(state.params, k))
             for name, e in member_evals.items()}
            for k, member_evals in enumerate(evals)]

  loss_label = (f"loss (mean of {len(run.members)} members)" if run.stacked
                else "loss")
  progress = Progress(total)
  progress.start(start)
  pending = None  # (step, metrics) of the dispatched-but-unread step
  results = None  # of the latest evaluation; the loop always ends with one
  try:
    for step in range(start + 1, total + 1):
      state, metrics = program.step(state)
      if pending is not None:
        _check_finite(*pending, ckpt)
      pending = (step, metrics)
      at = lambda every: step % every == 0 or step == total
      if at(run.train.log_every):
        values = _check_finite(step, metrics, ckpt)
        for k, log in enumerate(run_dir.logs):
          log.write({"step": step, **{f"train/{name}": float(v[k])
                                      for name, v in values.items()}})
        if talk:
          progress.report(step, **{loss_label: float(np.mean(values["loss"]))})
      if at(run.train.eval_every):
        results = evaluate()
        run_dir.log_eval(step, results)
      if at(run.train.checkpoint_every):
        # A finite loss at this step does not prove its update was finite.
        _check_finite(step, metrics, ckpt)
        if not bool(checkpoint.all_finite(state.params)):
          _stop(f"parameters are non-finite at step {step}", ckpt)
        ckpt.save(step, state, config_dict)
    if pending is not None:
      _check_finite(*pending, ckpt)
  finally:
    ckpt.wait()
  ckpt.prune()

  if results is None:  # the run was already complete: nothing was logged
    results = evaluate()
  run_dir.write_results(total, results,
                      title=f"{run.task.title}; encoding: "
                      f"{run.model.positional}")
  if talk and tables:
    for k, (member, member_results) in enumerate(zip(run.members, results)):
      if run.stacked:
        print(f"member {k} ({member.describe()}):")
      print(rundir.table(member_results, brief=True), flush=True)
    print(run_dir.describe(), flush=True)
  return results


def _check_finite(step: int, metrics: dict, ckpt: checkpoint.Checkpointer
                  ) -> dict[str, np.ndarray]:
  """The metrics as [K] numpy arrays (K = 1 for a single model); stops the
  run if any member's loss is not finite."""
  values = {k: np.atleast_1d(np.asarray(v)) for k, v in metrics.items()}
  bad = np.flatnonzero(~np.isfinite(values["loss"]))
  if bad.size:
    who = (f" for ensemble member(s) {bad.tolist()}"
           if values["loss"].size > 1 else "")
    _stop(f"loss is {values['loss'][bad[0]]} at step {step}{who}", ckpt)
  return values


def _stop(problem: str, ckpt: checkpoint.Checkpointer):
  ckpt.wait()
  kept = ckpt.latest_step()
  where = (f"Last good checkpoint: step {kept} (kept)." if kept is not None
           else "No checkpoint was written before it.")
  raise NonFiniteError(f"{problem}; stopping. {where}")
