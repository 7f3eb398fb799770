"""Row chunks (icl/data/chunks.py): a step computed a few rows at a time
gives the whole-batch loss and gradients, on one device, on a mesh and in
an ensemble, for every task family's loss."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from icl import models, schema, tasks
from icl.configs import arithmetic, sorting
from icl.data import chunks
from icl.experiments import benchmark
from icl.train import program
from tests.conftest import config_error, tiny_config


def test_rows_per_chunk_picks_the_divisor_nearest_the_token_budget():
  assert chunks.rows_per_chunk(128, 32, 1024) == 32
  assert chunks.rows_per_chunk(256, 32, 1000) == 32
  assert chunks.rows_per_chunk(64, 203, 1024) == 4
  assert chunks.rows_per_chunk(96, 10, 1024) == 96  # fits: one chunk
  assert chunks.rows_per_chunk(128, 32, 0) == 128  # 0: whole batch
  # On a mesh every chunk keeps a whole share of each batch shard.
  assert chunks.rows_per_chunk(128, 512, 1024, shards=8) == 8
  assert chunks.rows_per_chunk(24, 512, 1024, shards=4) == 4


def test_split_is_strided_and_merge_undoes_it():
  x = jnp.arange(12 * 3).reshape(12, 3)
  parts = chunks.split(x, 4)
  assert parts.shape == (3, 4, 3)
  np.testing.assert_array_equal(parts[1], x[1::3])
  np.testing.assert_array_equal(chunks.merge(parts), x)


def test_map_rows_equals_the_whole_batch_forward():
  w = jax.random.normal(jax.random.key(0), (5, 7))
  x = jax.random.normal(jax.random.key(1), (16, 9, 5))
  fn = lambda x_BTF: jnp.tanh(x_BTF @ w).cumsum(axis=1)
  got = jax.jit(lambda x: chunks.map_rows(fn, 18, x))(x)
  np.testing.assert_allclose(got, fn(x), rtol=1e-6, atol=1e-6)


def _params_and_losses(config, chunk_tokens, steps=2):
  config = config.copy_and_resolve_references()
  config.train.chunk_tokens = chunk_tokens
  _, program = benchmark.build(config)
  run = schema.validate(config)
  assert benchmark.chunking(run, program) == (
      (1, 32) if chunk_tokens == 0 else (8, 4))  # 4 rows: one per shard
  state, losses = program.init(), []
  for _ in range(steps):
    state, metrics = program.step(state)
    losses.append(np.asarray(metrics["loss"]))
  return jax.device_get(state.params), np.array(losses)


def _assert_trees_close(want, got):
  for (path, a), b in zip(jax.tree_util.tree_leaves_with_path(want),
                          jax.tree.leaves(got)):
    name = jax.tree_util.keystr(path)
    # A key bias's true gradient is zero (the softmax ignores it); Adam
    # blows its rounding noise up to lr-sized steps (see test_sharding).
    if "['key']['bias']" not in name:
      np.testing.assert_allclose(a, b, rtol=1e-4, atol=2e-6, err_msg=name)


def test_an_ensemble_on_a_mesh_trains_alike_chunked_or_whole():
  # 2 members, each with 32 rows over data=2 x fsdp=2 batch shards: 64
  # tokens per chunk is 4 rows, one per shard, so 8 chunks.
  config = tiny_config(train={"batch_size": 32})
  config.ensemble.update(num_tasks=(4, -1), seed=(0, 1), pool_seed=(0, 0))
  config.mesh.shape.update(data=2, fsdp=2, tensor=2)
  whole, whole_losses = _params_and_losses(config, 0)
  parts, part_losses = _params_and_losses(config, 64)
  assert whole_losses.shape == (2, 2)
  np.testing.assert_allclose(part_losses, whole_losses, rtol=2e-5)
  _assert_trees_close(whole, parts)


def _token_config(module, eval_cfg=None, **task):
  c = module.get_config("cpu")
  c.task.update(task)
  c.eval.update(eval_cfg or {})
  return c


@pytest.mark.parametrize("name, config", [
    ("regression", lambda: tiny_config()),
    # The sorting mixture: per-component means weighted across the batch.
    ("sorting mixture", lambda: _token_config(
        sorting, components=("sort", "successor"), weights=(3.0, 1.0),
        max_length=6, num_values=16,
        eval_cfg={"min_length": 1, "max_length": 8})),
    ("arithmetic", lambda: _token_config(arithmetic)),
])
def test_chunked_loss_and_gradients_equal_the_whole_batch(name, config):
  config = config()
  config.model.update(num_layers=1, d_model=16, num_heads=2)
  task = tasks.build(config.task)
  model = models.build(config.model, task)
  batch = jax.jit(task.sample, static_argnums=1)(jax.random.key(0), 16)
  params = nn.meta.unbox(model.init(jax.random.key(1), batch.inputs,
                                    batch.positions)["params"])
  grads = jax.jit(program.loss_and_grads, static_argnums=(0, 1, 5))
  key = jax.random.key(2)
  whole_loss, whole = grads(model, task, params, batch, key, 16)
  loss, parts = grads(model, task, params, batch, key, 4)
  assert float(whole_loss) > 0, name
  np.testing.assert_allclose(loss, whole_loss, rtol=1e-6)
  scale = max(float(np.max(np.abs(g))) for g in jax.tree.leaves(whole))
  for (path, a), b in zip(jax.tree_util.tree_leaves_with_path(whole),
                          jax.tree.leaves(parts)):
    # Float32 sums in another order: errors relative to the gradient's
    # scale (a key bias's true gradient is 0, and both are rounding noise).
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5 * scale,
                               err_msg=jax.tree_util.keystr(path))


def test_loss_weights_give_the_task_loss():
  # The mixture's loss, written out: each component's mean over its kept
  # tokens, averaged by the weights of the components present.
  config = sorting.get_config("cpu")
  config.task.update(components=("sort", "successor", "fill"),
                     weights=(3.0, 1.0, 0.5), max_length=6, num_values=16)
  task = tasks.build(config.task)
  batch = jax.jit(task.sample, static_argnums=1)(jax.random.key(0), 64)
  logits = jax.random.normal(jax.random.key(1),
                             batch.inputs.shape + (task.vocab_size,))
  nll = np.asarray(task.token_loss(logits, batch) * batch.loss_mask)
  kind = np.asarray(batch.extras["task"])
  mask = np.asarray(batch.loss_mask)
  assert len(set(kind)) == 3  # every component present
  means = [nll[kind == k].sum() / mask[kind == k].sum() for k in range(3)]
  want = np.sum(np.array([3.0, 1.0, 0.5]) * means) / 4.5
  np.testing.assert_allclose(float(task.loss(logits, batch)), want, rtol=1e-5)


def test_a_negative_chunk_size_is_a_config_error():
  # (ConfigDict itself refuses a value of another type.)
  message = config_error(tiny_config(), "train.chunk_tokens", -1)
  assert message == ("train.chunk_tokens must be an int >= 0 (0: the whole "
                     "batch at once), got -1")
