"""The command line: a run, and clear errors for missing or bad flags."""

import json
import os

from tests.conftest import run_module
TINY = ["--config.task.dim=3", "--config.task.num_points=4",
        "--config.task.num_tasks=4", "--config.model.num_layers=1",
        "--config.model.d_model=8", "--config.train.steps=4",
        "--config.train.batch_size=4", "--config.train.log_every=2",
        "--config.eval.batch_size=8"]


def _run(*args):
  return run_module("icl.main", *args)


def test_cli_trains_and_prints_the_table(tmp_path):
  out = _run("--config=configs/regression.py:cpu", f"--workdir={tmp_path}",
             *TINY)
  assert out.returncode == 0, out.stderr[-2000:]
  assert "step 4/4" in out.stdout
  assert "| pretrain |" in out.stdout and "| true |" in out.stdout
  assert f"results: {tmp_path}/results.json, {tmp_path}/results.md; " \
      "plots: error_vs_position.png" in out.stdout
  for name in ("config.json", "metrics.jsonl", "results.json"):
    assert os.path.exists(tmp_path / name)
  assert json.load(open(tmp_path / "config.json"))["model"]["num_layers"] == 1


def test_cli_requires_a_workdir():
  out = _run("--config=configs/regression.py")
  assert out.returncode != 0
  assert "workdir must be a non-empty directory path" in out.stderr
  assert "Traceback" not in out.stderr


def test_cli_rejects_a_bad_override_before_compiling(tmp_path):
  out = _run("--config=configs/regression.py", f"--workdir={tmp_path}",
             "--config.task.num_tasks=0")
  assert out.returncode != 0
  assert "task.num_tasks must be a positive int or -1 (infinite), got 0" in (
      out.stderr)
  assert "Traceback" not in out.stderr
  assert not os.path.exists(tmp_path / "config.json")


def test_cli_rejects_an_unknown_encoding_before_writing(tmp_path):
  out = _run("--config=configs/sequences.py", f"--workdir={tmp_path}/run",
             "--config.model.positional=rotary")
  assert out.returncode != 0
  assert "model.positional must be one of ['abacus', 'alibi', 'fire'" in out.stderr
  assert "Traceback" not in out.stderr
  assert not os.path.exists(tmp_path / "run")
