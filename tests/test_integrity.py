"""A run's record cannot lie: damaged checkpoints are detected and skipped,
a changed or shortened run is refused, one writer at a time, strict JSON."""

import json
import os
import shutil
import signal
import subprocess
import sys

from etils import epath
import numpy as np
import pytest

from icl import checkpoint, files, metrics, train
from icl.errors import ConfigError
from icl.train import rundir
from tests.conftest import ONE_DEVICE, tiny_config

SHORT = {"steps": 20, "checkpoint_every": 10, "eval_every": 20,
         "log_every": 10}


def _train(workdir, **sections):
  sections.setdefault("train", SHORT)
  return train.train_and_evaluate(tiny_config(**sections), str(workdir),
                                  verbose=False, devices=ONE_DEVICE)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
  """A finished 20-step run (checkpoints at 10 and 20), never modified."""
  workdir = tmp_path_factory.mktemp("reference") / "run"
  _train(workdir)
  return workdir


@pytest.fixture
def reference(finished):
  return json.load(open(finished / "results.json"))


@pytest.fixture
def run_copy(finished, tmp_path):
  """A copy of the finished run, to damage or refuse (no retraining)."""
  shutil.copytree(finished, tmp_path / "run")
  return tmp_path / "run"


def _data_files(workdir, step):
  d = os.path.join(workdir, "checkpoints", str(step), "state")
  return sorted((os.path.join(root, f) for root, _, fs in os.walk(d)
                 for f in fs if os.path.basename(root) == "d"),
                key=os.path.getsize)


def _flip(workdir, step):
  # 16 bytes in the middle of every data file: which file holds which
  # array is orbax's business.
  for path in _data_files(workdir, step):
    data = bytearray(open(path, "rb").read())
    for i in range(len(data) // 2, min(len(data), len(data) // 2 + 16)):
      data[i] ^= 0xFF
    open(path, "wb").write(bytes(data))


def _truncate(workdir, step):
  for path in _data_files(workdir, step):
    os.truncate(path, os.path.getsize(path) // 2)


def _drop_manifest(workdir, step):
  os.remove(os.path.join(workdir, "checkpoints", str(step), "state",
                         "manifest.ocdbt"))


# orbax's abandoned reads of the damaged step must not print tracebacks
# after the one line (pytest turns them into this warning).
@pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.parametrize("damage", [_flip, _truncate, _drop_manifest],
                         ids=["bit_flip", "truncated", "no_manifest"])
def test_a_damaged_latest_checkpoint_falls_back_to_the_previous_one(
    damage, reference, run_copy, capsys):
  tmp_path = run_copy
  damage(tmp_path, 20)
  capsys.readouterr()
  _train(tmp_path)
  lines = [l for l in capsys.readouterr().err.splitlines() if l.strip()]
  assert len(lines) == 1, lines
  assert "checkpoint step 20" in lines[0] and "damaged" in lines[0]
  assert "resuming from step 10" in lines[0]
  assert os.path.isdir(tmp_path / "damaged_checkpoints" / "20")
  # Retrained from step 10, exactly as the undamaged run went.
  assert json.load(open(tmp_path / "results.json")) == reference


def test_every_checkpoint_damaged_is_one_error_and_changes_nothing(
    run_copy):
  tmp_path = run_copy
  for step in (10, 20):
    _truncate(tmp_path, step)
  before = open(tmp_path / "results.json", "rb").read()
  listing = sorted(os.listdir(tmp_path))
  with pytest.raises(checkpoint.CheckpointError) as err:
    _train(tmp_path)
  assert "\n" not in str(err.value)
  assert "step 20" in str(err.value) and "step 10" in str(err.value)
  assert open(tmp_path / "results.json", "rb").read() == before
  assert sorted(os.listdir(tmp_path)) == listing


def test_the_checkpoint_config_guards_a_run_without_config_json(run_copy):
  tmp_path = run_copy
  os.remove(tmp_path / "config.json")
  with pytest.raises(ConfigError, match=r"task.num_tasks: 16 -> 64; from "
                     r"its checkpoint at step 20"):
    _train(tmp_path, task={"num_tasks": 64})
  assert not os.path.exists(tmp_path / "config.json")


def test_a_finished_run_cannot_be_shortened(run_copy):
  tmp_path = run_copy
  before = open(tmp_path / "results.json", "rb").read()
  with pytest.raises(ConfigError, match="train.steps must be at least 20"):
    _train(tmp_path, train=dict(SHORT, steps=10))
  assert open(tmp_path / "results.json", "rb").read() == before


def test_extra_checkpoints_are_pruned_to_keep(run_copy):
  # As a run killed right after a save leaves one checkpoint too many.
  ckpt = checkpoint.Checkpointer(str(run_copy / "checkpoints"), 3)
  assert ckpt.all_steps() == [10, 20]
  ckpt.close()
  _train(run_copy, train=dict(SHORT, keep_checkpoints=1))
  ckpt = checkpoint.Checkpointer(str(run_copy / "checkpoints"), 1)
  assert ckpt.all_steps() == [20]
  ckpt.close()


def test_a_live_writer_locks_the_workdir(tmp_path):
  os.makedirs(tmp_path / "run")
  holder = rundir.Lock(str(tmp_path / "run"))
  try:
    with pytest.raises(ConfigError, match=r"is in use by pid \d+ on "):
      _train(tmp_path / "run")
    assert sorted(os.listdir(tmp_path / "run")) == [".lock"]
  finally:
    holder.release()


def test_a_sigkilled_holders_lock_is_taken_over(run_copy):
  workdir = run_copy
  # A process that takes the lock as a run would, then dies by SIGKILL.
  code = ("import fcntl, os, sys, time; f = open(sys.argv[1], 'a+'); "
          "fcntl.flock(f, fcntl.LOCK_EX); f.seek(0); f.truncate(); "
          "f.write(f'pid {os.getpid()}'); f.flush(); print('held', "
          "flush=True); time.sleep(600)")
  proc = subprocess.Popen([sys.executable, "-c", code,
                           str(workdir / ".lock")], stdout=subprocess.PIPE,
                          text=True)
  assert proc.stdout.readline().strip() == "held"
  with pytest.raises(ConfigError, match=f"in use by pid {proc.pid}"):
    rundir.Lock(str(workdir))
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  _train(workdir)  # the finished run, re-reported under the taken lock
  assert os.path.exists(workdir / "results.json")
  assert f"pid {os.getpid()}" in open(workdir / ".lock").read()


def test_output_json_is_strict_with_null_for_non_finite_numbers(tmp_path):
  text = files.dumps({"loss": float("nan"), "curve": [1.0, float("inf")],
                        "ok": np.float32(0.5)})
  assert json.loads(text) == {"loss": None, "curve": [1.0, None], "ok": 0.5}
  assert "NaN" not in text and "Infinity" not in text
  log = metrics.JsonlWriter(str(tmp_path / "m.jsonl"))
  log.write({"step": 1, "train/loss": float("nan")})
  assert open(tmp_path / "m.jsonl").read() == (
      '{"step": 1, "train/loss": null}\n')


def test_a_diverged_run_writes_no_bare_nan(tmp_path):
  config = tiny_config(train={"steps": 30, "checkpoint_every": 1,
                              "log_every": 1, "eval_every": 1})
  config.optimizer.update(learning_rate=1e4, grad_clip_norm=0.0,
                          warmup_fraction=0.0, schedule="constant")
  with pytest.raises(train.NonFiniteError):  # a workdir given as epath
    train.train_and_evaluate(config, epath.Path(tmp_path), verbose=False,
                             devices=ONE_DEVICE)
  for root, _, names in os.walk(tmp_path):
    for name in names:
      if name.endswith((".json", ".jsonl")) and "checkpoints" not in root:
        text = open(os.path.join(root, name)).read()
        assert "NaN" not in text and "Infinity" not in text, name


def test_load_run_round_trips_params_and_results(run_copy):
  import jax

  import icl
  from icl import evaluators, rng
  tmp_path = run_copy
  # Through etils.epath, the API a gs:// workdir goes through too.
  loaded = icl.load_run(epath.Path(tmp_path))
  step, params = checkpoint.load_params(str(tmp_path))
  assert loaded.step == step == 20
  jax.tree.map(np.testing.assert_array_equal, loaded.params, params)
  assert loaded.task.num_tasks == 16 and loaded.run.evals == ("regression",)
  # The reopened model reproduces the run's own results.
  evals = evaluators.build(loaded.run.evals, loaded.model, loaded.task,
                           loaded.config.eval,
                           rng.stream(loaded.run.seed, "eval"))
  got = rundir.summary({n: e(loaded.params) for n, e in evals.items()})
  want = loaded.results["summary"]
  assert set(got) == set(want)
  np.testing.assert_allclose([got[k] for k in sorted(want)],
                             [want[k] for k in sorted(want)], rtol=1e-4)
  # Read-only: a damaged latest step is skipped, not moved.
  _truncate(tmp_path, 20)
  assert icl.load_run(str(tmp_path)).step == 10
  assert not os.path.exists(tmp_path / "damaged_checkpoints")


def test_files_replace_whole_files_and_append_where_stores_cannot(
    tmp_path, monkeypatch):
  target = tmp_path / "sub" / "results.json"
  files.write_json(target, {"loss": float("nan"), "step": 3})
  assert files.read_json(target) == {"loss": None, "step": 3}
  assert os.listdir(tmp_path / "sub") == ["results.json"]  # no temp left
  log = tmp_path / "metrics.jsonl"
  files.append_text(log, "a\n")
  monkeypatch.setattr(files, "is_local", lambda p: False)  # as on gs://
  files.append_text(log, "b\n")  # rewritten whole: no append there
  assert log.read_text() == "a\nb\n"


def test_only_reads_abandoned_on_a_closed_loop_are_quieted(monkeypatch):
  import asyncio
  import types
  seen = []
  monkeypatch.setattr(sys, "unraisablehook", seen.append)
  checkpoint._quiet_abandoned_reads()

  def unraisable(error):
    return types.SimpleNamespace(exc_type=type(error), exc_value=error,
                                 exc_traceback=error.__traceback__,
                                 err_msg=None, object=None)

  loop = asyncio.new_event_loop()
  loop.close()
  try:
    loop.call_soon_threadsafe(print)
  except RuntimeError as e:
    abandoned = unraisable(e)
  try:
    raise RuntimeError("Event loop is closed")  # not from asyncio
  except RuntimeError as e:
    elsewhere = unraisable(e)
  for event in (abandoned, elsewhere, unraisable(ValueError("x"))):
    sys.unraisablehook(event)
  assert seen == [elsewhere, seen[1]] and seen[1].exc_type is ValueError


def test_only_orbax_reads_never_collected_are_quieted():
  import logging
  checkpoint._orbax()  # installs the asyncio filter

  def record(message, filename):
    try:
      exec(compile("raise ValueError('damaged')", filename, "exec"))
    except ValueError:
      exc_info = sys.exc_info()
    return logging.LogRecord("asyncio", logging.ERROR, "", 0, message, (),
                             exc_info)

  asyncio_log = logging.getLogger("asyncio")
  orbax_file = "/site-packages/orbax/checkpoint/serialization.py"
  assert not asyncio_log.filter(record(
      "Task exception was never retrieved\nfuture: <Task>", orbax_file))
  assert asyncio_log.filter(record(
      "Task exception was never retrieved\nfuture: <Task>", "/mine.py"))
  assert asyncio_log.filter(record("Event loop stopped", orbax_file))
