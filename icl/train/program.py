"""The training program of a run: state, step, and their shardings.

``train_step(state, member) -> (state, metrics)`` is pure. It draws its batch
from ``fold_in(data_key, state.step)`` on device, so a run is determined by
its config and a resumed run repeats an uninterrupted one. ``member`` holds
the per-model seed and task values: Python constants for a single model,
int32 [K] arrays that ``vmap`` maps over for an ensemble.

``Program`` compiles init and step once, ahead of time, with shardings from a
``Layout``: parameters and optimizer state by their logical axis names (plus
the leading ``ensemble`` axis), the batch along ``batch``, the metrics
replicated. The state is donated.
"""

from __future__ import annotations

import contextlib
from typing import Any

import flax.linen as nn
import flax.struct
import jax
import jax.numpy as jnp
import optax

from icl import once, optimizers, rng, sharding
from icl.data import chunks
from icl.errors import ConfigError
from icl import members as members_lib


@flax.struct.dataclass
class TrainState:
  step: jax.Array
  params: Any
  opt_state: Any


def init_state(model, task, optimizer, seed, boxed: bool = False
               ) -> TrainState:
  """A fresh state; ``boxed`` keeps Flax's logical-axis boxes (for specs)."""
  example = task.sample(jax.random.key(0), 1)
  params = model.init({"params": rng.stream(seed, "params")}, example.inputs,
                      example.positions)["params"]
  if not boxed:
    params = nn.meta.unbox(params)
  return TrainState(step=jnp.zeros((), jnp.int32), params=params,
                    opt_state=optimizer.init(params))


def loss_and_grads(model, task, params, batch, dropout_key, rows: int):
  """(``task.loss``, its gradient) on ``batch``, the forward and backward
  pass run ``rows`` rows at a time (``icl/data/chunks.py``) and summed with
  weights from the whole batch: the whole-batch values, added in another
  order. ``rows`` must be the batch size for a task whose loss does not
  split (``Task.loss_weights`` None). With dropout, each chunk draws its
  masks from its own key."""
  def outputs(params, batch, key):
    return model.apply({"params": params}, batch.inputs, batch.positions,
                       train=True, rngs={"dropout": key})

  batch_size = batch.positions.shape[0]
  if rows == batch_size:
    return jax.value_and_grad(
        lambda p: task.loss(outputs(p, batch, dropout_key), batch))(params)

  def add_chunk(total, chunk):
    i, (part, weights_RT) = chunk
    part, weights_RT = sharding.constrain_batch((part, weights_RT))
    loss_and_grads = jax.value_and_grad(lambda p: jnp.sum(task.token_loss(
        outputs(p, part, jax.random.fold_in(dropout_key, i)), part)
        * weights_RT))(params)
    return jax.tree.map(jnp.add, total, loss_and_grads), None

  zero = (jnp.zeros((), jnp.float32), jax.tree.map(jnp.zeros_like, params))
  parts = chunks.split((batch, task.loss_weights(batch)), rows)
  return jax.lax.scan(add_chunk, zero,
                      (jnp.arange(batch_size // rows), parts))[0]


def chunk_rows(task, batch, chunk_tokens: int) -> int:
  """Rows per chunk of a training step on ``batch`` (the whole batch for a
  loss that does not split)."""
  b, t = batch.positions.shape
  if task.loss_weights(batch) is None:
    return b
  return chunks.rows_per_chunk(b, t, chunk_tokens, sharding.batch_shards())


def make_train_step(model, task, optimizer, batch_size: int, positions=None,
                    chunk_tokens: int = 0):
  """``positions``: a batch transform of the position ids (randomized
  positions), or None. ``chunk_tokens``: tokens per row chunk of the
  forward and backward pass (``loss_and_grads``); 0: the whole batch."""
  def train_step(state: TrainState, member):
    data_key = rng.stream(member["seed"], "data")
    dropout_key = jax.random.fold_in(rng.stream(member["seed"], "dropout"),
                                     state.step)
    batch = task.with_values(member["task"]).at_step(state.step).sample(
        jax.random.fold_in(data_key, state.step), batch_size)
    if positions is not None:
      batch = positions(jax.random.fold_in(
          rng.stream(member["seed"], "positions"), state.step), batch)
    batch = sharding.constrain_batch(batch)
    loss, grads = loss_and_grads(model, task, state.params, batch,
                                 dropout_key,
                                 chunk_rows(task, batch, chunk_tokens))
    updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
    new_state = TrainState(step=state.step + 1,
                           params=optax.apply_updates(state.params, updates),
                           opt_state=opt_state)
    return new_state, {"loss": loss, "grad_norm": optax.tree.norm(grads)}

  return train_step


class Program:
  """Everything compiled for one validated ``run`` on ``layout``.

  Attributes: ``model``, ``optimizer``, ``stacked`` (the members train as
  one vmapped ensemble with a leading model axis), ``size`` (K stacked
  members, else 0), ``abstract_state`` (ShapeDtypeStructs with shardings:
  the restore target), ``init()``, ``step(state)``,
  ``member_params(params, k)``.
  """

  def __init__(self, run, layout: sharding.Layout):
    self.layout = layout
    self.stacked = run.stacked
    self.size = len(run.members) if run.stacked else 0
    task, seed = run.task, run.seed
    self.model = model = run.model.build(task)
    self.optimizer = optimizer = optimizers.build(run.optimizer,
                                                  run.train.steps)
    batch_size = run.train.batch_size
    sharding.check_batch(layout, "train.batch_size", batch_size)
    sharding.check_batch(layout, "eval.batch_size",
                         run.config.eval.batch_size)
    ways = layout.shards(layout.ensemble_axes or None)
    if self.size % ways:
      raise ConfigError(
          f"mesh.rules.ensemble must split the {self.size} ensemble members "
          f"evenly, got {','.join(layout.ensemble_axes)!r} of size {ways}")

    # Init is traced under the mesh but without the logical rules: its
    # out_shardings place the state, so constraints inside it add nothing.
    with jax.set_mesh(layout.mesh):
      boxed = jax.eval_shape(
          lambda: init_state(model, task, optimizer, seed, boxed=True))
    logical = nn.get_partition_spec(boxed)
    member_shardings = layout.tree_shardings(logical)
    self.param_shardings = member_shardings.params
    train_step = make_train_step(model, task, optimizer, batch_size,
                                 run.train_positions, run.train.chunk_tokens)
    members = members_lib.variables(run.members, run.stacked)

    if self.stacked:
      spmd_axes = layout.ensemble_axes or None
      init_fn = lambda: jax.vmap(
          lambda seed: init_state(model, task, optimizer, seed))(
              members["seed"])
      step_fn = lambda state: jax.vmap(train_step, spmd_axis_name=spmd_axes)(
          state, members)
      self.state_shardings = layout.tree_shardings(logical, ensemble=True)
    else:
      init_fn = lambda: init_state(model, task, optimizer, seed)
      step_fn = lambda state: train_step(state, members)
      self.state_shardings = member_shardings

    # The state's shapes follow from the boxed trace (plus the model axis).
    lead = (self.size,) if self.size else ()
    shapes = jax.tree.map(
        lambda x: jax.ShapeDtypeStruct(lead + x.shape, x.dtype),
        jax.tree.map(lambda b: b.unbox(apply_constraint=False)
                     if isinstance(b, nn.LogicallyPartitioned) else b, boxed,
                     is_leaf=lambda b: isinstance(b, nn.LogicallyPartitioned)))
    sharding.check_divisible(layout, shapes, self.state_shardings, logical,
                             bool(self.size), "the train state entry")
    self.abstract_state = jax.tree.map(
        lambda s, sh: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=sh),
        shapes, self.state_shardings)
    with jax.set_mesh(layout.mesh):
      self.init = once.Compiling(
          jax.jit(init_fn, out_shardings=self.state_shardings).lower(),
          once.compiler_options())
    with self.context():
      replicated = layout.replicated()
      self.step = jax.jit(
          step_fn, in_shardings=(self.state_shardings,),
          out_shardings=(self.state_shardings, replicated),
          donate_argnums=0).lower(self.abstract_state).compile()
      self._member_params = once.jit(
          lambda params, k: jax.tree.map(lambda x: x[k], params),
          out_shardings=self.param_shardings)

  @contextlib.contextmanager
  def context(self):
    """Mesh and logical rules, active while tracing anything of this run."""
    with jax.set_mesh(self.layout.mesh), self.layout.rule_context():
      yield

  def member_params(self, params, k: int):
    """Member k's parameters, on the member layout."""
    if not self.stacked:
      return params
    with self.context():
      return self._member_params(params, jnp.int32(k))
