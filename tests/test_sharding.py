"""Sharded training on 8 simulated CPU devices (see conftest)."""

import json
import os

import jax
import numpy as np
import pytest
from jax.sharding import PartitionSpec as P

from icl.experiments import benchmark
from icl import checkpoint, metrics, sharding, train
from icl.errors import ConfigError
from tests.conftest import ONE_DEVICE, tiny_config

MESHES = {"8x1x1": dict(data=8, fsdp=1, tensor=1),
          "2x2x2": dict(data=2, fsdp=2, tensor=2),
          "1x1x1": dict(data=1, fsdp=1, tensor=1)}
# A schedule that does not depend on train.steps, so a run extended in
# stages follows the same trajectory as one run of the final length.
STAGE_OVERRIDES = {"optimizer": {"schedule": "constant",
                                 "warmup_fraction": 0.0}}


def _config(mesh: str, **sections):
  c = tiny_config(**sections)
  c.mesh.shape.update(MESHES[mesh])
  return c


def _devices(mesh: str):
  return ONE_DEVICE if mesh == "1x1x1" else None


def _losses(workdir):
  return np.array([r["train/loss"] for r in metrics.read_jsonl(
      os.path.join(workdir, "metrics.jsonl")) if "train/loss" in r])


def _assert_trees_close(a, b, atol):
  """Every parameter but the attention key biases agrees.

  A key bias adds the same q.b to every score of a query, which the softmax
  ignores: its true gradient is zero, and Adam scales the rounding noise
  that stands in for it up to steps of size lr. So it drifts differently
  under any change of summation order, without changing the function.
  """
  for (path, x), y in zip(jax.tree_util.tree_leaves_with_path(a),
                          jax.tree.leaves(b)):
    name = jax.tree_util.keystr(path)
    if "['key']['bias']" not in name:
      np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-4,
                                 atol=atol, err_msg=name)


def test_parameters_are_sharded_as_the_rules_say():
  c = _config("2x2x2")
  _, program = benchmark.build(c)
  state = program.init()
  mlp = state.params["blocks_0"]["mlp"]
  fc_in = mlp["fc_in"]["kernel"]  # [embed=16, mlp=64]
  assert fc_in.sharding.spec == P("fsdp", "tensor")
  assert {s.data.shape for s in fc_in.addressable_shards} == {(8, 32)}
  query = state.params["blocks_0"]["attn"]["query"]["kernel"]  # [16, 2, 8]
  assert query.sharding.spec == P("fsdp", "tensor", None)
  assert {s.data.shape for s in query.addressable_shards} == {(8, 1, 8)}
  # Adam's moments follow their parameters; the step counter is replicated.
  mu = state.opt_state[1][0].mu["blocks_0"]["mlp"]["fc_in"]["kernel"]
  assert mu.sharding.spec == P("fsdp", "tensor")
  assert state.step.sharding.is_fully_replicated

  c.mesh.rules.mlp = ""  # the rules are config: unshard the MLP axis
  _, program = benchmark.build(c)
  fc_in = program.init().params["blocks_0"]["mlp"]["fc_in"]["kernel"]
  assert fc_in.sharding.spec == P("fsdp", None)


def test_batch_is_generated_shard_by_shard():
  # x is [8 sequences, 8 points, 4 dims] globally. Under data=8 each device's
  # program draws only its own [1, 8, 4] slice: no device (hence no host)
  # materializes the whole batch.
  _, program = benchmark.build(_config("8x1x1"))
  hlo = program.step.as_text()
  assert "f32[1,8,4]" in hlo
  assert "f32[8,8,4]" not in hlo


def test_checkpoint_moves_across_meshes_and_training_resumes(tmp_path):
  # Also the test that sharded and single-device runs agree: a run whose
  # steps 1-10 run on data=8, 11-20 on 2x2x2 (every axis sharded) and 21-30
  # on one device must match, loss by loss and parameter by parameter, a run
  # made entirely on data=8.
  reference = str(tmp_path / "reference")
  train.train_and_evaluate(
      _config("8x1x1", train={"steps": 30}, **STAGE_OVERRIDES), reference,
      verbose=False)
  moving = str(tmp_path / "moving")
  for mesh, steps in (("8x1x1", 10), ("2x2x2", 20), ("1x1x1", 30)):
    config = _config(mesh, train={"steps": steps}, **STAGE_OVERRIDES)
    train.train_and_evaluate(config, moving, verbose=False,
                             devices=_devices(mesh))
  # The step-20 checkpoint, written under (2,2,2), restores onto one device.
  _, program = benchmark.build(_config("1x1x1", **STAGE_OVERRIDES),
                               ONE_DEVICE)
  ckpt = checkpoint.Checkpointer(os.path.join(moving, "checkpoints"), 3)
  restored = ckpt.restore(20, program.abstract_state)
  ckpt.close()
  kernel = restored.params["blocks_0"]["mlp"]["fc_in"]["kernel"]
  assert kernel.sharding.device_set == set(ONE_DEVICE)
  assert int(restored.step) == 20

  ref_losses = _losses(reference)
  assert ref_losses[-1] < ref_losses[0]
  np.testing.assert_allclose(_losses(moving), ref_losses, rtol=1e-5)
  _assert_trees_close(checkpoint.load_params(moving)[1],
                      checkpoint.load_params(reference)[1], atol=1e-5)


ENSEMBLE = {"num_tasks": (4, 16, 64, -1), "pool_seed": (0, 0, 1, 1),
            "seed": (0, 1, 2, 3)}


def test_ensemble_matches_separate_runs_member_by_member(tmp_path):
  # The model axis is itself sharded: 4 members over data=4, and each
  # member's batch over fsdp=2.
  config = tiny_config()
  config.ensemble.update(ENSEMBLE)
  config.mesh.shape.update(data=4, fsdp=2)
  config.mesh.rules.ensemble = "data"
  results = train.train_and_evaluate(config, str(tmp_path / "ensemble"),
                                     verbose=False)
  assert len(results) == 4
  _, program = benchmark.build(config)
  assert program.abstract_state.params["read_in"]["kernel"].sharding.spec[
      0] == "data"

  # Two members, the first and the infinite-pool one, rerun alone: each
  # separate run costs a compile, and the suite must stay under 10 minutes.
  for k in (0, 3):
    single = tiny_config()
    single.seed = ENSEMBLE["seed"][k]
    single.task.update(num_tasks=ENSEMBLE["num_tasks"][k],
                       pool_seed=ENSEMBLE["pool_seed"][k])
    alone = str(tmp_path / f"alone_{k}")
    expected = train.train_and_evaluate(single, alone, verbose=False)
    member_dir = str(tmp_path / "ensemble" / f"member_{k}")
    np.testing.assert_allclose(_losses(member_dir), _losses(alone), rtol=1e-4)
    got = json.load(open(os.path.join(member_dir, "results.json")))["summary"]
    want = json.load(open(os.path.join(alone, "results.json")))["summary"]
    assert set(got) == set(want)
    np.testing.assert_allclose([got[n] for n in sorted(want)],
                               [want[n] for n in sorted(want)], rtol=1e-3)
    assert ("regression/pretrain/error/dmmse" in got) == (ENSEMBLE["num_tasks"][k] != -1)
    # Members really differ from one another.
    if k:
      assert got["regression/pretrain/error/model"] != json.load(open(
          os.path.join(tmp_path / "ensemble" / "member_0", "results.json"))
      )["summary"]["regression/pretrain/error/model"]
    del expected


@pytest.mark.parametrize("field, value, message", [
    ("mesh.shape.data", 3, "product is the device count 8"),
    ("mesh.shape.fsdp", -1, "at most one axis of size -1"),
    ("mesh.shape.tensor", 0, "mesh.shape.tensor must be a positive int or -1"),
    ("mesh.rules.mlp", "tensr", "unknown axis 'tensr'"),
    ("mesh.rules.batch", "data,data", "must not repeat a mesh axis"),
])
def test_bad_mesh_configs_fail_before_anything_is_written(tmp_path, field,
                                                          value, message):
  config = tiny_config()
  section, name = field.rsplit(".", 1)
  config[section.split(".")[0]][section.split(".")[1]][name] = value
  workdir = str(tmp_path / "run")
  with pytest.raises(ConfigError, match=message):
    train.train_and_evaluate(config, workdir, verbose=False)
  assert not os.path.exists(workdir)


@pytest.mark.parametrize("shape, rules, ensemble, message", [
    # 2 heads over tensor=8: the heads dimension does not split evenly.
    (dict(data=1, tensor=8), {}, None, r"mesh.rules.heads must split.*\(heads\) of size 2, which mesh "
     r"axes 'tensor'"),
    (dict(data=-1), {"batch": "data"}, None, None),
    (dict(data=4, fsdp=2), {"mlp": "fsdp", "embed": ""}, None, None),
    # 3 ensemble members over data=2.
    (dict(data=2, fsdp=4), {"ensemble": "data"}, (1, 2, 3),
     "split the 3 ensemble members evenly"),
])
def test_indivisible_shardings_are_config_errors(tmp_path, shape, rules,
                                                 ensemble, message):
  config = tiny_config()
  config.mesh.shape.update(shape)
  config.mesh.rules.update(rules)
  if ensemble:
    config.ensemble.seed = ensemble
  if message is None:  # the control cases build fine
    benchmark.build(config)
    return
  with pytest.raises(ConfigError, match=message):
    train.train_and_evaluate(config, str(tmp_path / "run"), verbose=False)
  assert not os.path.exists(tmp_path / "run")


def test_batch_size_must_divide_over_the_batch_shards(tmp_path):
  config = tiny_config(train={"batch_size": 12})
  with pytest.raises(ConfigError, match="train.batch_size must be divisible "
                     "by the 8 batch shards"):
    train.train_and_evaluate(config, str(tmp_path / "run"), verbose=False)


def test_rules_give_each_mesh_axis_to_one_dimension():
  layout = sharding.build_layout(tiny_config().mesh)
  # Activations: batch claims data and fsdp first, so embed stays whole.
  assert layout.spec(("batch", "seq", "embed")) == P(("data", "fsdp"), None,
                                                     None)
  assert layout.spec(("embed", "mlp")) == P("fsdp", "tensor")
  assert layout.sharding(("embed",), ensemble=True).spec == P(None, "fsdp")
