"""Runs ``python -m MODULE ARGS`` commands, each in a forked child of one
process that has already imported what they import: the command's own
code path (its module runs as ``__main__``, as ``-m`` runs it, with its
flags defined afresh), without paying the interpreter start and about 3 s
of imports per command.

    python -m tests.launcher < requests.jsonl > outcomes.jsonl

One JSON request per line: ``{"argv": [module, *args], "cwd": dir,
"env": {...}, "timeout": s, "refuse_compile": bool}``; one outcome per
line: ``{"rc", "stdout", "stderr", "seconds"}``. With ``refuse_compile``
a child that would reach compilation prints ``COMPILED`` and exits 97, so
a test can tell that no input got that far.

No JAX backend starts in this process (the children each start their own,
with the device count their ``JAX_NUM_CPU_DEVICES`` asks for): forking a
process whose XLA thread pools run is unsafe.
"""

import atexit
import faulthandler
import importlib
import json
import os
import pkgutil
import runpy
import signal
import sys
import tempfile
import time
import traceback

import jax
import matplotlib.backends.backend_agg  # noqa: F401 (preloaded for plots)
import matplotlib.figure  # noqa: F401

import icl.experiments
from icl import cli, evaluators, sweep  # noqa: F401
from icl.train import loop

# Entry modules define their absl flags on import: they must run fresh.
ENTRY_POINTS = ("icl.main", "icl.experiments.run", "icl.experiments.benchmark")
for _info in pkgutil.walk_packages(icl.experiments.__path__,
                                   "icl.experiments."):
  if _info.name not in ENTRY_POINTS and not _info.name.endswith(".__main__"):
    importlib.import_module(_info.name)


def _refuse_to_compile(*args, **kwargs):
  print("COMPILED", file=sys.stderr, flush=True)
  os._exit(97)


def _exit_code(e: SystemExit) -> int:
  """What the interpreter exits with for ``e``."""
  if e.code is None:
    return 0
  if isinstance(e.code, int):
    return e.code
  print(e.code, file=sys.stderr)
  return 1


def _child(request: dict, out_fd: int, err_fd: int) -> None:
  os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
  os.dup2(out_fd, 1)
  os.dup2(err_fd, 2)
  code = 1
  try:
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    if os.environ.get("PYTHONFAULTHANDLER"):
      faulthandler.enable()
    # jax read its environment on import; the backend starts later.
    jax.config.update("jax_num_cpu_devices",
                      int(os.environ.get("JAX_NUM_CPU_DEVICES", "1")))
    if request.get("refuse_compile"):
      loop.Program = _refuse_to_compile
    module, *args = request["argv"]
    sys.argv = [module, *args]
    sys.path[0] = os.getcwd()  # as `python -m` sets it
    try:
      runpy.run_module(module, run_name="__main__", alter_sys=True)
      code = 0
    except SystemExit as e:
      code = _exit_code(e)
    atexit._run_exitfuncs()
  except BaseException:
    traceback.print_exc()
  finally:
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def run(request: dict) -> dict:
  """Runs one request in a forked child; its outcome."""
  files = [tempfile.TemporaryFile() for _ in range(2)]
  start = time.time()
  sys.stdout.flush()
  sys.stderr.flush()
  pid = os.fork()
  if pid == 0:
    _child(request, files[0].fileno(), files[1].fileno())
  deadline = start + request.get("timeout", 600)
  while True:
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
      break
    if time.time() > deadline:
      os.kill(pid, signal.SIGABRT)  # faulthandler prints every stack
      _, status = os.waitpid(pid, 0)
      break
    time.sleep(0.02)
  outcome = {"rc": os.waitstatus_to_exitcode(status),
             "seconds": time.time() - start}
  for name, f in zip(("stdout", "stderr"), files):
    f.seek(0)
    outcome[name] = f.read().decode(errors="replace")
    f.close()
  return outcome


if __name__ == "__main__":
  for line in sys.stdin:
    if line.strip():
      print(json.dumps(run(json.loads(line))), flush=True)
