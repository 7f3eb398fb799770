"""Every command in a README (the root's and the guides'), in the config
files' and in the sweep files' docstrings runs as written, in smoke mode
(``ICL_SMOKE=1``: a few steps of a toy model, a sweep's first arms; see
``icl/smoke.py``), from a fresh directory holding only a link to
``configs/``: its module runs as ``python -m`` runs it, in a process
forked for it (``tests/launcher.py``). A command fails the test if it
exits non-zero, prints a traceback, or leaves out the files it promises."""

import json
import os
import re
import shlex

import pytest

from tests import test_experiments
from tests.conftest import REPO, Launcher

_COMMAND = re.compile(r"python -m icl\.(?:main|experiments\.\w+)\b")
EXPERIMENTS = os.path.join(REPO, "experiments")




def _commands(text: str) -> list[str]:
  """Shell commands: whole lines of code (continuations joined, comments
  dropped) and inline `...` spans that start with ``python -m icl.``."""
  text = text.replace("\\\\\n", " ").replace("\\\n", " ")
  found = [m.group(1) for m in re.finditer(r"`(python -m icl\.[^`]+)`",
                                           text)]
  for line in text.splitlines():
    line = line.strip()
    if line.startswith("python -m icl."):
      found.append(line)
  return [shlex.join(shlex.split(c, comments=True)) for c in found]


def documents() -> list[str]:
  """Where commands are documented: every README.md (the root's and the
  guides' under configs/, icl/ and experiments/), the config files and
  every experiment's sweep file."""
  paths = [os.path.join(REPO, "README.md")]
  for top in ("configs", "icl", "experiments"):
    for root, _, names in sorted(os.walk(os.path.join(REPO, top))):
      paths += [os.path.join(root, n) for n in sorted(names)
                if n == "README.md"
                or (top == "configs" and n.endswith(".py"))
                or (top == "experiments" and n == "sweep.py")]
  return paths


def documented_commands() -> list[str]:
  """One of each: commands that differ only in ``--workdir`` run the
  same thing."""
  text = "\n".join(open(path).read() for path in documents())
  unique = {}
  for command in _commands(text):
    assert _COMMAND.match(command), command
    unique.setdefault(re.sub(r" --workdir=\S+", "", command), command)
  return sorted(unique.values())


COMMANDS = documented_commands()
# The multi-host command names one host of several; tests/test_multihost.py
# starts them all from exactly this command.
DISTRIBUTED = [c for c in COMMANDS if " --distributed" in c]


def _workdir(argv: list[str]) -> str | None:
  for arg in argv:
    if arg.startswith("--workdir="):
      return arg.split("=", 1)[1]
  return None


def _check_main(workdir, stdout, argv):
  results = json.load(open(os.path.join(workdir, "results.json")))
  member_dirs = sorted(d for d in os.listdir(workdir)
                       if d.startswith("member_"))
  if member_dirs:  # an ensemble: each member's own run directory
    assert [m["member"] for m in results["members"]] == [
        int(d.split("_")[1]) for d in member_dirs]
    results = json.load(open(os.path.join(workdir, member_dirs[0],
                                          "results.json")))
  assert results["step"] == 2 and results["summary"]
  assert "step 2/2" in stdout
  # The run ends by saying where its results went.
  last = stdout.splitlines()[-1]
  assert last.startswith("results: ") and "results.md" in last
  # config.json records what ran: smoke mode's toy model.
  config = json.load(open(os.path.join(workdir, "config.json")))
  assert config["model"]["num_layers"] == 1 and config["train"]["steps"] == 2


def _entry(argv: list[str]) -> str:
  """What a command runs: its module, or for the sweep runner the sweep's
  name (``sweep:task_diversity``)."""
  if argv[0] == "icl.experiments.run":
    spec = next(a.split("=", 1)[1] for a in argv if a.startswith("--sweep="))
    return "sweep:" + spec.partition(":")[0]
  return argv[0]


SWEEPS = sorted(d for d in os.listdir(EXPERIMENTS)
                if os.path.isfile(os.path.join(EXPERIMENTS, d, "sweep.py")))
# What each entry point promises to write: each check gets the workdir,
# the command's stdout and its argv (module and flags).
CHECKS = {"icl.main": _check_main,
          "icl.experiments.benchmark": test_experiments.check_benchmark} | {
    f"sweep:{name}": getattr(test_experiments, f"check_{name}")
    for name in SWEEPS}


def test_the_docs_hold_commands_for_every_config_and_experiment():
  entries = {_entry(shlex.split(c)[2:]) for c in COMMANDS}
  assert entries == set(CHECKS)
  configs = {re.search(r"--config=(configs/\w+\.py)", c).group(1)
             for c in COMMANDS if c.split()[2] == "icl.main"}
  assert configs == {"configs/regression.py", "configs/sequences.py",
                     "configs/sorting.py", "configs/arithmetic.py",
                     "configs/functions.py"}


def _label(command: str) -> str:
  argv = shlex.split(command)
  return f"{argv[2]}:{_workdir(argv) or ' '.join(argv[3:])}"


@pytest.fixture(scope="module")
def launcher():
  """Each command runs as ``python -m`` runs it, forked from one process
  that has imported its code (tests/launcher.py): 28 interpreter starts
  and their imports cost about 80 s of the suite. Start-up itself is run
  for real by the multi-host test and the benchmark's start-up command."""
  launcher = Launcher(dict(os.environ))
  yield launcher
  launcher.close()


@pytest.mark.parametrize("command", [c for c in COMMANDS
                                     if c not in DISTRIBUTED], ids=_label)
def test_documented_command_runs_in_smoke_mode(command, tmp_path, launcher):
  os.symlink(os.path.join(REPO, "configs"), tmp_path / "configs")
  env = dict(os.environ, ICL_SMOKE="1", ICL_DATA_DIR=str(tmp_path / "data"),
             JAX_NUM_CPU_DEVICES="8" if "mesh.shape" in command else "1",
             PYTHONFAULTHANDLER="1")
  argv = shlex.split(command)[2:]  # "python -m" dropped: [module, flags...]
  out = launcher.run(argv, cwd=str(tmp_path), env=env, timeout=400)
  assert out["rc"] == 0, out["stderr"][-3000:]
  assert "Traceback" not in out["stderr"], out["stderr"][-3000:]
  CHECKS[_entry(argv)](os.path.join(tmp_path, _workdir(argv) or ""),
                       out["stdout"], argv)


def _markdown_files() -> list[str]:
  out = []
  for root, dirs, names in os.walk(REPO):
    dirs[:] = [d for d in dirs if not d.startswith(".") and d not in (
        "runs", "build") and not d.endswith(".egg-info")]
    out += [os.path.join(root, n) for n in names if n.endswith(".md")]
  return sorted(out)


def test_every_relative_link_in_the_docs_resolves():
  links = 0
  broken = []
  for path in _markdown_files():
    for match in re.finditer(r"\]\(([^)#\s]+)(?:#[^)]*)?\)",
                             open(path).read()):
      target = match.group(1)
      if re.match(r"^[a-z]+:", target):  # http:, https:, mailto:
        continue
      links += 1
      if not os.path.exists(os.path.join(os.path.dirname(path), target)):
        broken.append(f"{os.path.relpath(path, REPO)} -> {target}")
  assert links > 20  # the walk found the docs
  assert not broken, broken
