"""``train_and_evaluate(config, workdir)``: the one training loop.

The step is a pure function ``train_step(state) -> (state, metrics)``: it
draws its batch from ``fold_in(data_key, state.step)`` on device, so a run is
fully determined by its config, and a resumed run repeats an uninterrupted one
bit for bit. It is compiled once with the state donated.

The loop dispatches step n+1 before it reads step n's loss, checks that loss
is finite, logs ``metrics.jsonl`` and a progress line, evaluates, and
checkpoints. A non-finite loss stops the run with the step named, and a
checkpoint is written only for finite parameters, so the last one kept is
good.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import ml_collections
import optax

from icl import checkpoint, configs, evaluate, models, optimizers, rng
from icl.metrics import JsonlWriter, Progress

# Fields a resumed run may change: how long it runs and how often it reports.
RESUMABLE_CHANGES = ("train.steps", "train.log_every", "train.eval_every",
                     "train.checkpoint_every", "train.keep_checkpoints")


class NonFiniteError(FloatingPointError):
  """The loss or the parameters stopped being finite."""


@jax.jit
def _all_finite(tree) -> jax.Array:
  return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x))
                            for x in jax.tree.leaves(tree)]))


@flax.struct.dataclass
class TrainState:
  step: jax.Array
  params: Any
  opt_state: Any


def init_state(model, task, optimizer, seed: int) -> TrainState:
  example = task.sample(jax.random.key(0), 1)
  params, _ = models.init_params(model, rng.stream(seed, "params"),
                                 example.inputs, example.positions)
  return TrainState(step=jnp.zeros((), jnp.int32), params=params,
                    opt_state=optimizer.init(params))


def make_train_step(model, task, optimizer, batch_size: int, seed: int):
  data_key = rng.stream(seed, "data")
  dropout_key = rng.stream(seed, "dropout")

  def train_step(state: TrainState):
    batch = task.sample(jax.random.fold_in(data_key, state.step), batch_size)

    def loss_fn(params):
      outputs = model.apply(
          {"params": params}, batch.inputs, batch.positions, train=True,
          rngs={"dropout": jax.random.fold_in(dropout_key, state.step)})
      return task.loss(outputs, batch)

    loss, grads = jax.value_and_grad(loss_fn)(state.params)
    updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
    new_state = TrainState(step=state.step + 1,
                           params=optax.apply_updates(state.params, updates),
                           opt_state=opt_state)
    return new_state, {"loss": loss, "grad_norm": optax.tree.norm(grads)}

  return train_step


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
           if old.get(k) != new.get(k) and k not in RESUMABLE_CHANGES]
  if diffs:
    raise ValueError(
        f"workdir {workdir!r} holds a run with a different config "
        f"({'; '.join(diffs)}); use a new --workdir or delete the old run")


def _to_json(x):
  if isinstance(x, dict):
    return {k: _to_json(v) for k, v in x.items()}
  return [float(v) for v in x] if hasattr(x, "__len__") else float(x)


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str,
                       verbose: bool = True) -> dict:
  """Trains (resuming from ``workdir`` if possible), evaluates, and returns
  the final results, also written to ``workdir/results.json``."""
  configs.validate_workdir(workdir)
  task = configs.validate(config)
  config_dict = config.to_dict()
  os.makedirs(workdir, exist_ok=True)
  _check_same_run(workdir, config_dict)
  with open(os.path.join(workdir, "config.json"), "w") as f:
    json.dump(config_dict, f, indent=2)

  model = models.build(config.model, task)
  total = config.train.steps
  optimizer = optimizers.build(config.optimizer, total)
  state = init_state(model, task, optimizer, config.seed)
  train_step = jax.jit(make_train_step(model, task, optimizer,
                                       config.train.batch_size, config.seed),
                       donate_argnums=0)
  evaluator = evaluate.build(model, task, config.eval.batch_size,
                             rng.stream(config.seed, "eval"))

  ckpt = checkpoint.Checkpointer(os.path.join(workdir, "checkpoints"),
                                 config.train.keep_checkpoints)
  log = JsonlWriter(os.path.join(workdir, "metrics.jsonl"))
  start = ckpt.latest_step()
  if start is not None:
    state = ckpt.restore(start, checkpoint.abstract_like(state))
    if verbose:
      print(f"resumed from {workdir} at step {start}", flush=True)
  else:
    start = 0
  log.truncate_after(start)

  def run_eval(step):
    results = evaluator(state.params)
    summary = evaluate.summarize(results)
    log.write({"step": step, **{f"eval/{k}": v for k, v in summary.items()}})
    return results

  progress = Progress(total)
  progress.start(start)
  pending = None  # (step, metrics) of the dispatched-but-unread step
  results = None  # of the latest evaluation; the loop always ends with one
  try:
    for step in range(start + 1, total + 1):
      state, metrics = train_step(state)
      if pending is not None:
        _check_finite(*pending, ckpt)
      pending = (step, metrics)
      at = lambda every: step % every == 0 or step == total
      if at(config.train.log_every):
        _check_finite(step, metrics, ckpt)
        values = {k: float(v) for k, v in metrics.items()}
        log.write({"step": step, **{f"train/{k}": v for k, v in values.items()}})
        if verbose:
          progress.report(step, loss=values["loss"])
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
    results = evaluator(state.params)
  payload = {"step": total, "summary": evaluate.summarize(results),
             "curves": _to_json(results)}
  with open(os.path.join(workdir, "results.json"), "w") as f:
    json.dump(payload, f, indent=2)
  if verbose:
    print(evaluate.results_table(results), flush=True)
  return results


def _check_finite(step: int, metrics: dict, ckpt: checkpoint.Checkpointer):
  loss = float(metrics["loss"])
  if not math.isfinite(loss):
    _stop(f"loss is {loss} at step {step}", ckpt)


def _stop(problem: str, ckpt: checkpoint.Checkpointer):
  ckpt.wait()
  kept = ckpt.latest_step()
  where = (f"Last good checkpoint: step {kept} (kept)." if kept is not None
           else "No checkpoint was written before it.")
  raise NonFiniteError(f"{problem}; stopping. {where}")
