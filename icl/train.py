"""``train_and_evaluate(config, workdir)``: the one training loop.

The compiled pieces (sharded init and step, for one model or a vmapped
ensemble) come from ``icl.step.Program``. The loop dispatches step n+1 before
it reads step n's loss, checks that loss is finite, logs ``metrics.jsonl``
and a progress line, evaluates, and checkpoints. A non-finite loss stops the
run with the step named, and a checkpoint is written only for finite
parameters, so the last one kept is good.

An ensemble writes one directory per member, ``member_{k}/`` with its own
config.json, metrics.jsonl and results.json (what its separate run would
write), and one checkpoint of the whole ensemble. In a multi-host run every
process trains; only process 0 writes files other than checkpoints.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from icl import checkpoint, configs, ensemble, evaluate, rng, sharding, tasks
from icl import step as step_lib
from icl.errors import ConfigError
from icl.metrics import JsonlWriter, Progress

# Fields a resumed run may change: how long it runs, how often it reports,
# and the mesh it runs on (checkpoints restore onto any mesh).
RESUMABLE_CHANGES = ("train.steps", "train.log_every", "train.eval_every",
                     "train.checkpoint_every", "train.keep_checkpoints",
                     "mesh.")


class NonFiniteError(FloatingPointError):
  """The loss or the parameters stopped being finite."""


@jax.jit
def _all_finite(tree) -> jax.Array:
  return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x))
                            for x in jax.tree.leaves(tree)]))


def _flatten(d: dict, prefix: str = "") -> dict:
  out = {}
  for k, v in d.items():
    if isinstance(v, dict):
      out.update(_flatten(v, f"{prefix}{k}."))
    else:
      out[f"{prefix}{k}"] = v
  return out


def _check_same_run(workdir: str, config_dict: dict) -> None:
  """Refuses to resume a workdir whose run had a different config."""
  path = os.path.join(workdir, "config.json")
  if not os.path.exists(path):
    return
  with open(path) as f:
    old = _flatten(json.load(f))
  new = _flatten(config_dict)
  diffs = [f"{k}: {old.get(k)!r} -> {new.get(k)!r}"
           for k in sorted(set(old) | set(new))
           if old.get(k) != new.get(k)
           and not k.startswith(RESUMABLE_CHANGES)]
  if diffs:
    raise ConfigError(
        f"workdir {workdir!r} holds a run with a different config "
        f"({'; '.join(diffs)}); use a new --workdir or delete the old run")


def _to_json(x):
  if x is None or isinstance(x, (str, bool)):
    return x
  if isinstance(x, dict):
    return {k: _to_json(v) for k, v in x.items()}
  if hasattr(x, "__len__"):
    return [_to_json(v) for v in x]
  return x if isinstance(x, int) else float(x)


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str,
                       verbose: bool = True, devices=None):
  """Trains (resuming from ``workdir`` if possible), evaluates, and returns
  the final results, also written to ``workdir/results.json``: one results
  dict, or a list of them (one per member) for an ensemble.

  ``devices`` (default: all) are the devices the mesh spans.
  """
  configs.validate_workdir(workdir)
  task = configs.validate(config, None if devices is None else len(devices))
  config_dict = json.loads(json.dumps(config.to_dict()))  # tuples -> lists
  _check_same_run(workdir, config_dict)
  layout = sharding.build_layout(config.mesh, devices)
  program = step_lib.Program(config, task, layout)  # compiles: checks first
  members = ensemble.member_configs(config) or [config]
  dirs = ([os.path.join(workdir, f"member_{k}") for k in range(len(members))]
          if program.size else [workdir])
  writer = sharding.is_writer()
  if writer:
    for d, member in zip([workdir] + dirs, [config] + members):
      os.makedirs(d, exist_ok=True)
      with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(member.to_dict(), f, indent=2)

  with program.context():
    return _run(config, config_dict, workdir, program, members, dirs, writer,
                verbose)


def _run(config, config_dict, workdir, program, members, dirs, writer,
         verbose):
  total = config.train.steps
  evaluators = [evaluate.build(program.model, tasks.build(m.task), m.eval,
                               rng.stream(m.seed, "eval"),
                               program.eval_positions)
                for m in members]
  logs = [JsonlWriter(os.path.join(d, "metrics.jsonl"), enabled=writer)
          for d in dirs]
  ckpt = checkpoint.Checkpointer(os.path.join(workdir, "checkpoints"),
                                 config.train.keep_checkpoints)
  start = ckpt.latest_step()
  if start is not None:
    state = ckpt.restore(start, program.abstract_state)
    if verbose and writer:
      print(f"resumed from {workdir} at step {start}", flush=True)
  else:
    start = 0
    state = program.init()
  for log in logs:
    log.truncate_after(start)

  def run_eval(step, log_it=True):
    results = []
    for k, (evaluator, log) in enumerate(zip(evaluators, logs)):
      params = (program.member_params(state.params, k) if program.size
                else state.params)
      results.append(evaluator(params))
      if log_it:
        log.write({"step": step, **{f"eval/{name}": v for name, v in
                                  evaluate.summarize(results[-1]).items()}})
    return results

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
      if at(config.train.log_every):
        values = _check_finite(step, metrics, ckpt)
        for k, log in enumerate(logs):
          log.write({"step": step, **{f"train/{name}": float(v[k])
                                      for name, v in values.items()}})
        if verbose and writer:
          progress.report(step, loss=float(np.mean(values["loss"])))
      if at(config.train.eval_every):
        results = run_eval(step)
      if at(config.train.checkpoint_every):
        # A finite loss at this step does not prove its update was finite.
        _check_finite(step, metrics, ckpt)
        if not bool(_all_finite(state.params)):
          _stop(f"parameters are non-finite at step {step}", ckpt)
        ckpt.save(step, state, config_dict)
    if pending is not None:
      _check_finite(*pending, ckpt)
  finally:
    ckpt.wait()
    ckpt.close()

  if results is None:  # the run was already complete: nothing was logged
    results = run_eval(total, log_it=False)
  for d, member_results in zip(dirs, results):
    _write_results(d, total, member_results, writer)
    if writer:
      evaluate.save_plot(member_results, d, title=_title(config))
  if program.size:
    _write_ensemble_summary(workdir, total, members, results, config, writer)
  if verbose and writer:
    for k, member_results in enumerate(results):
      if program.size:
        print(f"member {k} ({ensemble.describe(config, k)}):")
      print(evaluate.results_table(member_results), flush=True)
  return results if program.size else results[0]


def _title(config) -> str:
  return f"{config.task.name}, {config.model.positional}"


def _write_results(directory, step, results, writer):
  if writer:
    payload = {"step": step, "summary": evaluate.summarize(results),
               "curves": _to_json(results)}
    with open(os.path.join(directory, "results.json"), "w") as f:
      json.dump(payload, f, indent=2)
    with open(os.path.join(directory, "results.md"), "w") as f:
      f.write(evaluate.results_table(results) + "\n")


def _write_ensemble_summary(workdir, step, members, results, config, writer):
  if writer:
    payload = {"step": step, "members": [
        {"member": k, "varied": ensemble.varied(config, k),
         "summary": evaluate.summarize(r)}
        for k, r in enumerate(results)]}
    with open(os.path.join(workdir, "results.json"), "w") as f:
      json.dump(payload, f, indent=2)


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
