"""Training: it learns, resumes exactly after SIGKILL, and stops on NaN."""

import json
import os
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from icl import checkpoint, metrics, train
from tests.conftest import ONE_DEVICE, REPO, config_flags, tiny_config


def test_training_learns_a_single_noiseless_task(tmp_path):
  # M = 1 and sigma = 0: y = w.x for one fixed w, a linear map of the
  # x-token, which a working model/loss/optimizer must learn almost exactly.
  def run(steps, workdir):
    config = tiny_config(task={"num_tasks": 1, "noise_var": 0.0},
                         train={"steps": steps, "batch_size": 32,
                                "eval_every": steps,
                                "checkpoint_every": steps})
    config.optimizer.learning_rate = 3e-3
    train.train_and_evaluate(config, str(workdir), verbose=False)
    return json.load(open(workdir / "results.json"))

  untrained = run(1, tmp_path / "one_step")["summary"]
  results = run(300, tmp_path / "trained")
  trained = results["summary"]
  # An untrained model cannot know w: on Gaussian tasks its error / D is
  # about tau^2 = 1 or more (its own output variance adds to it).
  assert untrained["regression/true/error/model"] > 0.8
  assert trained["regression/pretrain/error/model"] < 0.05 * untrained[
      "regression/pretrain/error/model"]
  # dMMSE with one pool task knows w: exact from the first position.
  assert trained["regression/pretrain/error/dmmse"] < 1e-6
  for key in ("true/error/ridge", "pretrain/delta/dmmse", "true/delta/ridge"):
    assert np.isfinite(trained[f"regression/{key}"])
  assert len(results["evals"]["regression"]["true"]["error"]["model"]) == 8
  config = json.load(open(tmp_path / "trained" / "config.json"))
  assert config["task"]["num_tasks"] == 1


# The child is killed once its step-200 checkpoint exists, with about 400
# steps (5 s at its ~80 steps/s) still to go; it evaluates at 300 and 600,
# so the restarted run crosses an evaluation too.
KILL_OVERRIDES = {"train": {"steps": 600, "log_every": 50, "eval_every": 300,
                            "checkpoint_every": 100}}


def _cli_args(config_overrides, workdir):
  return [sys.executable, "-m", "icl.main", "--config=configs/regression.py",
          f"--workdir={workdir}",
          *config_flags(tiny_config(**config_overrides))]


def test_sigkill_and_restart_reproduces_an_uninterrupted_run(tmp_path):
  reference = str(tmp_path / "reference")
  # One device, like the command-line child: bitwise equality is asked.
  train.train_and_evaluate(tiny_config(**KILL_OVERRIDES), reference,
                           verbose=False, devices=ONE_DEVICE)

  killed = str(tmp_path / "killed")
  # Output goes to a file: an unread pipe could fill and stall the child.
  log_path = tmp_path / "killed.log"
  log_file = open(log_path, "w")
  proc = subprocess.Popen(_cli_args(KILL_OVERRIDES, killed), cwd=REPO,
                          stdout=log_file, stderr=subprocess.STDOUT)
  first = os.path.join(killed, "checkpoints", "200")
  deadline = time.time() + 240
  while not os.path.isdir(first) and proc.poll() is None:
    assert time.time() < deadline, "no checkpoint appeared"
    time.sleep(0.01)
  assert proc.poll() is None, open(log_path).read()[-2000:]
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  log_file.close()

  ckpt = checkpoint.Checkpointer(os.path.join(killed, "checkpoints"), 3)
  interrupted_at = ckpt.latest_step()
  ckpt.close()
  assert 200 <= interrupted_at < 600

  train.train_and_evaluate(tiny_config(**KILL_OVERRIDES), killed,
                           verbose=False, devices=ONE_DEVICE)

  step_a, params_a = checkpoint.load_params(reference)
  step_b, params_b = checkpoint.load_params(killed)
  assert step_a == step_b == 600
  jax.tree.map(np.testing.assert_array_equal, params_a, params_b)
  assert (metrics.read_jsonl(os.path.join(reference, "metrics.jsonl"))
          == metrics.read_jsonl(os.path.join(killed, "metrics.jsonl")))
  assert (json.load(open(os.path.join(reference, "results.json")))
          == json.load(open(os.path.join(killed, "results.json"))))


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path):
  # lr 1e4 without clipping diverges within a few steps (step 4 here).
  config = tiny_config(train={"steps": 50, "checkpoint_every": 1,
                              "log_every": 100, "eval_every": 100})
  config.optimizer.update(learning_rate=1e4, grad_clip_norm=0.0,
                          warmup_fraction=0.0, schedule="constant")
  with pytest.raises(train.NonFiniteError, match=r"at step (\d+)") as err:
    train.train_and_evaluate(config, str(tmp_path), verbose=False)
  bad_step = int(err.value.args[0].split("at step ")[1].split(";")[0])
  kept, params = checkpoint.load_params(str(tmp_path))
  assert kept < bad_step
  assert all(np.isfinite(p).all() for p in jax.tree.leaves(params))
  assert f"step {kept}" in str(err.value)


def test_resume_refuses_a_different_config(tmp_path):
  train.train_and_evaluate(tiny_config(), str(tmp_path), verbose=False)
  log_path = str(tmp_path / "metrics.jsonl")
  before = metrics.read_jsonl(log_path)
  assert [r["step"] for r in before if "eval/regression/true/error/model" in r] == [10, 20]
  # Every checkpoint carries the run's config.
  ckpt = checkpoint.Checkpointer(str(tmp_path / "checkpoints"), 3)
  assert ckpt.restore_config(ckpt.latest_step()) == json.load(
      open(tmp_path / "config.json"))
  ckpt.close()
  # Relaunching a finished run re-reports it without logging anything new.
  train.train_and_evaluate(tiny_config(), str(tmp_path), verbose=False)
  assert metrics.read_jsonl(log_path) == before
  with pytest.raises(ValueError, match="task.num_tasks: 16 -> 32"):
    train.train_and_evaluate(tiny_config(task={"num_tasks": 32}),
                             str(tmp_path), verbose=False)
  # Extending the run is allowed and continues from the last checkpoint.
  results = train.train_and_evaluate(tiny_config(train={"steps": 30}),
                                     str(tmp_path), verbose=False)
  assert "true" in results["regression"].data
  steps = [r["step"] for r in metrics.read_jsonl(
      str(tmp_path / "metrics.jsonl")) if "train/loss" in r]
  assert steps == [5, 10, 15, 20, 25, 30]


def test_a_run_written_before_config_evals_existed_still_resumes(tmp_path):
  from icl.train import rundir
  config = tiny_config().to_dict()
  old = {k: v for k, v in config.items() if k != "evals"}
  with open(tmp_path / "config.json", "w") as f:
    json.dump(old, f)
  rundir.check_same_run(str(tmp_path), json.loads(json.dumps(config)))
  changed = dict(config, evals=["regression"])
  with pytest.raises(ValueError, match=r"evals: None -> \['regression'\]"):
    rundir.check_same_run(str(tmp_path), changed)


def test_metrics_are_tensorboard_event_files_too(tmp_path):
  # Read back from the event files themselves, with no TensorFlow.
  train.train_and_evaluate(tiny_config(), str(tmp_path), verbose=False)
  events = metrics.read_events(str(tmp_path / "tensorboard"))
  jsonl = metrics.read_jsonl(str(tmp_path / "metrics.jsonl"))
  losses = [(r["step"], r["train/loss"]) for r in jsonl if "train/loss" in r]
  got = [(s, v) for s, tag, v in events if tag == "train/loss"]
  assert [s for s, _ in got] == [s for s, _ in losses] == [5, 10, 15, 20]
  np.testing.assert_allclose([v for _, v in got], [v for _, v in losses],
                             rtol=1e-6)
  evals = {(s, tag) for s, tag, _ in events if tag.startswith("eval/")}
  assert (20, "eval/regression/true/error/model") in evals
  import sys
  assert "tensorflow" not in sys.modules
