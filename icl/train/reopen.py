"""``load_run(workdir)``: a finished or running run, reopened in one call.

    run = icl.load_run("runs/copy")
    run.model.apply({"params": run.params}, batch.inputs, batch.positions)

The params come from the newest checkpoint that verifies (or ``step``);
nothing in the workdir is changed.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import ml_collections

from icl import checkpoint, files, optimizers, schema
from icl.train.program import init_state


@dataclasses.dataclass(frozen=True)
class LoadedRun:
  config: ml_collections.ConfigDict
  run: schema.Run  # the validated description: task, members, evals, ...
  model: Any
  params: Any  # an ensemble's carry a leading member axis
  step: int
  results: dict | None  # results.json, if the run has written it

  @property
  def task(self):
    return self.run.task


def load_run(workdir: files.PathLike, step: int | None = None) -> LoadedRun:
  workdir = files.path(workdir)
  path = workdir / "config.json"
  ckpt = checkpoint.Checkpointer(workdir / "checkpoints", 1)
  try:
    if path.exists():
      config_dict = files.read_json(path)
    else:  # the config every checkpoint carries
      config_dict = ckpt.restore_config(ckpt.latest_step())
    config = ml_collections.ConfigDict(config_dict)
    run = schema.validate(config)
    model = run.model.build(run.task)
    optimizer = optimizers.build(run.optimizer, run.train.steps)
    init = lambda seed: init_state(model, run.task, optimizer, seed)
    if run.stacked:
      seeds = jax.numpy.array([m.seed for m in run.members])
      shapes = jax.eval_shape(jax.vmap(init), seeds)
    else:
      shapes = jax.eval_shape(lambda: init(run.seed))
    device = jax.sharding.SingleDeviceSharding(jax.devices()[0])
    abstract = jax.tree.map(
        lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=device),
        shapes)
    if step is None:
      step, state, _ = ckpt.newest_intact(abstract)
      if step is None:
        raise FileNotFoundError(f"no checkpoint under {str(workdir)!r}")
    else:
      state = ckpt.restore_verified(step, abstract)
  finally:
    ckpt.close()
  results_path = workdir / "results.json"
  results = files.read_json(results_path) if results_path.exists() else None
  return LoadedRun(config, run, model, state.params, step, results)
