"""The command line: clear errors for missing or bad flags (a run through it:
tests/test_readme.py)."""

import os
import subprocess
import sys

from tests.conftest import run_module


def _run(*args):
  return run_module("icl.main", *args)


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


def test_the_entry_point_imports_nothing_heavy_it_may_not_need():
  # Each of these took 0.15-0.6 s to import, paid by every run and every
  # subprocess of the suite; they load when a run first needs them.
  script = ("import sys, icl.main\n"
            "heavy = ['tensorflow', 'tensorflow_datasets', 'orbax', "
            "'scipy.stats', 'sklearn', 'xgboost', 'matplotlib.pyplot']\n"
            "print([m for m in heavy if m in sys.modules])")
  out = subprocess.run([sys.executable, "-c", script], capture_output=True,
                       text=True, check=True)
  assert out.stdout.split("\n")[-2] == "[]"
