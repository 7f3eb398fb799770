"""Two processes (2 CPU devices each) train one run through
``jax.distributed``, as two hosts would, started from the README's
multi-host command."""

import os
import shlex
import socket
import subprocess
import sys

import jax
import numpy as np

from icl import metrics, train
from tests import test_readme
from tests.conftest import REPO, config_flags, tiny_config


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


def _host_command(process_id: int, port: int, workdir) -> list[str]:
  """The README's command for host ``process_id``, with the coordinator
  on localhost and the workdir here."""
  (command,) = test_readme.DISTRIBUTED
  out = []
  for arg in shlex.split(command)[1:]:  # "python" dropped
    name = arg.split("=", 1)[0]
    out.append({"--coordinator_address": f"{name}=localhost:{port}",
                "--process_id": f"{name}={process_id}",
                "--workdir": f"{name}={workdir}"}.get(name, arg))
  assert f"--process_id={process_id}" in out and "--num_processes=2" in out
  return out


def test_two_hosts_train_like_one_host_with_the_same_devices(tmp_path):
  config = tiny_config()
  workdir = tmp_path / "two_hosts"
  port = _free_port()
  env = dict(os.environ, JAX_NUM_CPU_DEVICES="2")
  procs, logs = [], []
  for process_id in (0, 1):
    logs.append(open(tmp_path / f"process_{process_id}.log", "w+"))
    procs.append(subprocess.Popen(
        [sys.executable, *_host_command(process_id, port, workdir),
         *config_flags(config)],
        cwd=REPO, env=env, stdout=logs[-1], stderr=subprocess.STDOUT))
  # The reference, while the hosts run (they spend much of their time
  # starting up and waiting on each other): one process with the same 4
  # devices must follow the same trajectory.
  reference = tmp_path / "one_host"
  try:
    train.train_and_evaluate(config, str(reference), verbose=False,
                             devices=jax.devices()[:4])
    for proc in procs:
      proc.wait(timeout=300)
  finally:  # a host that never finished must not outlive the test
    for proc in procs:
      if proc.poll() is None:
        proc.kill()
  for proc, log in zip(procs, logs):
    log.seek(0)
    assert proc.returncode == 0, log.read()[-3000:]

  # Metrics are written once: one record per logged step, not one per host.
  records = metrics.read_jsonl(workdir / "metrics.jsonl")
  train_steps = [r["step"] for r in records if "train/loss" in r]
  assert train_steps == [5, 10, 15, 20]
  assert sorted(os.listdir(workdir / "checkpoints")) == ["10", "20"]
  assert (workdir / "results.json").exists()

  # The mesh spanned both hosts' 4 devices, as the reference's did.
  expected = [r["train/loss"] for r in metrics.read_jsonl(
      reference / "metrics.jsonl") if "train/loss" in r]
  np.testing.assert_allclose([r["train/loss"] for r in records
                              if "train/loss" in r], expected, rtol=1e-5)
