"""setup.cfg's lower bounds are the versions CI tests: .ci/minimum.txt pins
each one exactly, and ``make test-minimum`` runs the suite on them; CI runs
it on the newest versions too (``make test-newest``)."""

import configparser
import os

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.conftest import REPO


def _lower_bounds() -> dict[str, Version]:
  cfg = configparser.ConfigParser()
  cfg.read(os.path.join(REPO, "setup.cfg"))
  bounds = {}
  for line in cfg["options"]["install_requires"].splitlines():
    line = line.split("#")[0].strip()
    if line:
      requirement = Requirement(line)
      lows = [s.version for s in requirement.specifier if s.operator == ">="]
      assert len(lows) == 1, f"{line}: one lower bound, tested in CI"
      bounds[canonicalize_name(requirement.name)] = Version(lows[0])
  return bounds


def _pins() -> dict[str, Version]:
  pins = {}
  for line in open(os.path.join(REPO, ".ci", "minimum.txt")):
    line = line.split("#")[0].strip()
    if line:
      name, version = line.split("==")
      pins[canonicalize_name(name)] = Version(version)
  return pins


def test_every_lower_bound_is_pinned_for_the_minimum_versions_run():
  bounds, pins = _lower_bounds(), _pins()
  assert "jax" in bounds and "tensorflow-datasets" in bounds  # parsed
  assert {n: pins.get(n) for n in bounds} == bounds
  # jaxlib is jax's own dependency, pinned to jax's release.
  assert set(pins) - set(bounds) == {"jaxlib"}
  assert pins["jaxlib"] == pins["jax"]


def test_ci_runs_the_suite_on_the_minimum_and_newest_versions():
  ci = open(os.path.join(REPO, ".ci", "run")).read()
  assert "make test\n" in ci and "make test-minimum" in ci
  assert "make test-newest" in ci
  makefile = open(os.path.join(REPO, "Makefile")).read()
  assert "-c .ci/minimum.txt" in makefile
