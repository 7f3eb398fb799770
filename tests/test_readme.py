"""Every training command in the README and in the config files' docstrings
parses and validates as written: its flags exist and its values pass every
check (training them all would take hours; the suite trains tiny versions
of each kind)."""

import os
import re
import shlex

import pytest
from absl import flags
from ml_collections import config_flags

from icl import schema
from tests.conftest import REPO


def _commands(text: str) -> list[str]:
  """``python -m icl.main ...`` commands, continuation lines joined."""
  text = text.replace("\\\\\n", " ").replace("\\\n", " ")
  return [m.group(0).strip() for m in
          re.finditer(r"python -m icl\.main[^\n`]*", text)]


def _all_commands() -> list[str]:
  found = _commands(open(os.path.join(REPO, "README.md")).read())
  for name in sorted(os.listdir(os.path.join(REPO, "configs"))):
    if name.endswith(".py"):
      found += _commands(open(os.path.join(REPO, "configs", name)).read())
  return sorted(set(found))


def _parse(command: str):
  argv = ["icl.main"] + shlex.split(command)[3:]  # "python -m" dropped
  fv = flags.FlagValues()
  config_flags.DEFINE_config_file("config", None, "", flag_values=fv,
                                  lock_config=True, sys_argv=argv)
  for name in ("workdir", "coordinator_address"):
    flags.DEFINE_string(name, None, "", flag_values=fv)
  for name in ("num_processes", "process_id"):
    flags.DEFINE_integer(name, None, "", flag_values=fv)
  flags.DEFINE_bool("distributed", False, "", flag_values=fv)
  fv(argv)
  return fv


def test_the_readme_lists_commands_for_every_config_file():
  configs = {re.search(r"--config=(configs/\w+\.py)", c).group(1)
             for c in _all_commands() if "--config=" in c}
  assert configs == {"configs/regression.py", "configs/sequences.py",
                     "configs/sorting.py", "configs/arithmetic.py"}


@pytest.mark.parametrize("command", [c for c in _all_commands()
                                     if "--config=" in c])
def test_readme_command_parses_and_validates(command, monkeypatch,
                                            tmp_path_factory):
  monkeypatch.chdir(REPO)
  # Arithmetic commands build their (small) datasets while validating.
  monkeypatch.setenv("ICL_DATA_DIR", str(tmp_path_factory.getbasetemp()
                                         / "datasets"))
  fv = _parse(command)
  assert fv.workdir, command
  run = schema.validate(fv.config)
  assert run.evals
