"""Runs ``icl.main`` on many argument lists, each in a forked child of one
process that has imported it once: the real CLI code path (flag parsing,
config loading, validation, the error printing), at a fraction of a
process start per case.

    python -m tests.cli_batch < cases.json > outcomes.json

stdin: a JSON list of argument lists; stdout: one ``{"rc", "stderr",
"seconds"}`` per case. A child that would reach compilation instead prints
``COMPILED`` and exits, so a test can tell that no input got that far.
"""

import json
import os
import sys
import tempfile
import time

from icl import cli, main
from icl.train import loop


def _refuse_to_compile(*args, **kwargs):
  print("COMPILED", file=sys.stderr, flush=True)
  os._exit(97)


def run_case(args: list[str]) -> dict:
  err = tempfile.TemporaryFile(mode="w+")
  start = time.time()
  pid = os.fork()
  if pid == 0:  # the child: exactly what `python -m icl.main ARGS` runs
    os.dup2(err.fileno(), 2)
    sys.stderr = os.fdopen(2, "w", buffering=1)
    sys.argv = ["icl.main", *args]  # config_flags reads its overrides here
    loop.Program = _refuse_to_compile
    try:
      cli.run(main.main, argv=["icl.main", *args])
      code = 0
    except SystemExit as e:
      if isinstance(e.code, str):
        print(e.code, file=sys.stderr)
        code = 1
      else:
        code = e.code or 0
    sys.stderr.flush()
    os._exit(code)
  _, status = os.waitpid(pid, 0)
  err.seek(0)
  return {"rc": os.waitstatus_to_exitcode(status), "stderr": err.read(),
          "seconds": time.time() - start}


if __name__ == "__main__":
  print(json.dumps([run_case(args) for args in json.load(sys.stdin)]))
