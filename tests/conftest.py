"""Shared helpers: tiny configs that train in seconds on one CPU core, and a
subprocess runner for the command-line entry points.

The whole suite sees 8 simulated CPU devices, so sharded code paths run
here; a test that wants one device passes ``devices=ONE_DEVICE``.
"""

import os
import subprocess
import sys

# XLA:CPU compiles for compile time (icl/once.py's options), in this
# process and every subprocess and notebook kernel it starts: LLVM at -O0,
# with the older loop emitters where this XLA still has them. The HLO
# programs are the same, and compile time is most of the suite's time (a
# smoke sweep, sorting_hints: 33 s at the default, 22 s at -O0, 17 s with
# both). Results agree to float32 rounding, not bit for bit. The benchmark
# times the default. XLA aborts a process whose XLA_FLAGS name a flag it
# does not know, so which it knows is asked of another process, once: xdist
# workers inherit the variable.
if "xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
  os.environ["XLA_FLAGS"] = " ".join(filter(None, [
      os.environ.get("XLA_FLAGS"), subprocess.run(
          [sys.executable, "-c",
           "from icl import once; print(once.xla_flags())"],
          capture_output=True, text=True, check=True).stdout.strip()]))

import jax  # noqa: E402

# Before anything initializes a JAX backend. Test modules import this file
# again as tests.conftest, after the backend is up: jax < 0.8 refuses even
# an update to the same value then.
if jax.config.jax_num_cpu_devices != 8:
  jax.config.update("jax_num_cpu_devices", 8)

import json
import shutil
import tempfile  # noqa: E402
import signal

import pytest  # noqa: E402

from icl.configs import regression  # noqa: E402

ONE_DEVICE = jax.devices()[:1]


def pytest_configure(config):
  """One compilation cache for the whole session (xdist workers and the
  subprocesses they start inherit it); a fresh one each session, so a run
  of the suite never depends on an earlier one."""
  if "ICL_COMPILATION_CACHE" not in os.environ:
    os.environ["ICL_COMPILATION_CACHE"] = tempfile.mkdtemp(
        prefix="icl-test-jax-cache-")
    # Tiny test programs compile in well under jax's 1 s threshold.
    os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
    config.icl_owned_cache = os.environ["ICL_COMPILATION_CACHE"]
  jax.config.update("jax_compilation_cache_dir",
                    os.environ["ICL_COMPILATION_CACHE"])
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)


def pytest_unconfigure(config):
  if getattr(config, "icl_owned_cache", None):
    shutil.rmtree(config.icl_owned_cache, ignore_errors=True)


def tiny_config(**sections):
  """The cpu preset shrunk to a 2-layer, width-16 model and a few steps.

  ``sections`` maps a section name to a dict of overrides, e.g.
  ``tiny_config(train={"steps": 20})``.
  """
  c = regression.get_config("cpu")
  c.task.update(dim=4, num_points=8, num_tasks=16)
  c.model.update(num_layers=2, d_model=16, num_heads=2)
  c.train.update(steps=20, batch_size=8, log_every=5, eval_every=10,
                 checkpoint_every=10)
  c.eval.batch_size = 32
  for section, overrides in sections.items():
    c[section].update(overrides)
  return c


def config_flags(config) -> list[str]:
  """``--config.a.b=v`` flags that rebuild ``config`` from its file."""
  def flags(prefix, d):
    for k, v in d.items():
      if isinstance(v, dict):
        yield from flags(f"{prefix}{k}.", v)
      elif v is not None:
        yield f"--config.{prefix}{k}={v}"
  return list(flags("", config.to_dict()))


def split_example(task, batch, row):
  """(prompt symbols, answer symbols) of one token-task example, with its
  layout and loss mask checked: BOS prompt SEP answer EOS PAD..."""
  from icl.tasks import sequence
  import numpy as np
  n = int(batch.extras["lengths"][row])
  p, a = task.prompt_length(n), task.answer_length(n)
  tokens = np.concatenate([np.asarray(batch.inputs[row]),
                           np.asarray(batch.targets[row, -1:])])
  assert tokens[0] == sequence.BOS and tokens[p + 1] == sequence.SEP
  assert tokens[p + a + 2] == sequence.EOS
  assert np.all(tokens[p + a + 3:] == sequence.PAD)
  mask = np.asarray(batch.loss_mask[row])
  assert mask.sum() == a + 1 and mask[p + 1] == 1 and mask[p] == 0
  symbols = len(sequence.SPECIAL_TOKENS)  # symbol s is token symbols + s
  return (tokens[1:p + 1] - symbols, tokens[p + 2:p + a + 2] - symbols)


def config_error(config, path: str, value) -> str:
  """The message validation raises once ``path`` ('section.field') of
  ``config`` is set to ``value``; fails the test if it raises none."""
  from icl import schema
  section, field = path.split(".")
  config[section][field] = value
  with pytest.raises(ValueError) as e:
    schema.validate(config)
  return str(e.value)


def init_params(model, key, inputs, positions_BT):
  """(params, logical axes) of a fresh model: plain arrays and matching
  axis names."""
  import flax.linen as nn
  boxed = model.init({"params": key}, inputs, positions_BT)["params"]
  return nn.meta.unbox(boxed), nn.get_partition_spec(boxed)


@pytest.fixture
def tiny():
  return tiny_config


REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_module(module: str, *args: str, timeout: float = 300):
  """Runs ``python -m module args`` from the repo root.

  On a timeout the child is sent SIGABRT with faulthandler enabled, so the
  failure shows where every thread was stuck. One retry is allowed: an
  intermittent XLA:CPU stall (README, "Known issues") was seen once in
  about ten runs; its stacks are printed, and a second stall fails the test.
  """
  env = dict(os.environ, PYTHONFAULTHANDLER="1")
  for attempt in (1, 2):
    proc = subprocess.Popen([sys.executable, "-m", module, *args], cwd=REPO,
                            env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
      stdout, stderr = proc.communicate(timeout=timeout)
      return subprocess.CompletedProcess(proc.args, proc.returncode, stdout,
                                         stderr)
    except subprocess.TimeoutExpired:
      proc.send_signal(signal.SIGABRT)
      _, stderr = proc.communicate()
      report = (f"python -m {module} {' '.join(args)} did not finish in "
                f"{timeout}s (attempt {attempt}); thread stacks:\n"
                f"{stderr[-8000:]}")
      print(report, file=sys.stderr)
  pytest.fail(report)


class Launcher:
  """``python -m tests.launcher`` (commands forked from one process that
  has imported their code): ``launcher.run(argv, cwd=..., env=...)`` runs
  ``python -m *argv`` and returns its ``{"rc", "stdout", "stderr"}``."""

  def __init__(self, env: dict):
    self.proc = subprocess.Popen(
        [sys.executable, "-m", "tests.launcher"], cwd=REPO, env=env,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

  def run(self, argv: list[str], **request) -> dict:
    self.proc.stdin.write(json.dumps({"argv": argv, **request}) + "\n")
    self.proc.stdin.flush()
    line = self.proc.stdout.readline()
    if not line:
      pytest.fail(f"tests.launcher died (rc {self.proc.wait()})")
    return json.loads(line)

  def close(self):
    self.proc.stdin.close()
    self.proc.wait()
