"""icl/sweep: planning, validation once, resume, and seed statistics
checked against hand computation and numpy."""

import json
import math
import os
import shutil
import time

import numpy as np
import pytest

from icl import report, sweep, train
from icl.errors import ConfigError
from icl.sweep import resume
from tests.conftest import tiny_config


def test_statistics_match_a_hand_computation():
  s = sweep.statistics([0.2, 0.5, 0.8])
  assert s["mean"] == pytest.approx(0.5)
  # sample std: sqrt(((-.3)^2 + 0 + .3^2) / 2) = 0.3
  assert s["std"] == pytest.approx(0.3)
  assert (s["min"], s["max"], s["n"]) == (0.2, 0.8, 3)


def test_statistics_agree_with_numpy_and_drop_missing_values():
  values = [3.0, 1.5, None, 7.25, float("nan"), 2.0]
  kept = np.array([3.0, 1.5, 7.25, 2.0])
  s = sweep.statistics(values)
  assert s["n"] == 4
  assert s["mean"] == pytest.approx(kept.mean())
  assert s["std"] == pytest.approx(kept.std(ddof=1))
  one = sweep.statistics([0.4])
  assert one["std"] is None and one["mean"] == one["max"] == 0.4
  assert sweep.statistics([None])["n"] == 0


def test_aggregate_keeps_the_nesting_and_only_shared_numbers():
  per_seed = [{"lengths": {"exact_match/seen": 1.0, "x": 1}, "only": 2.0,
               "label": "a"},
              {"lengths": {"exact_match/seen": 0.0, "x": 3}, "label": "b"}]
  out = sweep.aggregate(per_seed)
  assert set(out) == {"lengths", "only"}
  assert out["lengths"]["exact_match/seen"]["mean"] == 0.5
  assert out["lengths"]["x"]["std"] == pytest.approx(math.sqrt(2))
  assert out["only"]["n"] == 1  # the other seed lacks it


def _regression_sweep(ms=(2, 16), seeds=(0, 1), **kw):
  arms = {f"M={m}": tiny_config(task={"num_tasks": m}, train={"steps": 4})
          for m in ms}
  return sweep.Sweep("tiny", arms, seeds=seeds, **kw)


def test_cells_differing_only_in_ensemble_fields_form_one_ensemble():
  s = _regression_sweep(seed_fields=("task.pool_seed",))
  (group,) = sweep.plan(s)
  assert group.cells == (("M=2", 0), ("M=2", 1), ("M=16", 0), ("M=16", 1))
  e = group.config.ensemble
  assert tuple(e.seed) == (0, 1, 0, 1)
  assert tuple(e.num_tasks) == (2, 2, 16, 16)
  assert tuple(e.pool_seed) == (0, 1, 0, 1)
  # Capped at the seed count, each arm is its own ensemble.
  assert [g.cells for g in sweep.plan(s, max_members=2)] == [
      (("M=2", 0), ("M=2", 1)), (("M=16", 0), ("M=16", 1))]
  # Without ensembles, or with a field an ensemble may not vary: one run
  # per cell.
  assert len(sweep.plan(s, ensemble=False)) == 4
  s.arms["M=16"].model.num_layers = 1
  names = [g.name for g in sweep.plan(s)]
  assert names == ["M=2", "M=16"]


def test_every_arm_is_validated_before_anything_trains(tmp_path):
  s = _regression_sweep()
  s.arms["M=16"].optimizer.learning_rate = -1.0
  with pytest.raises(ConfigError,
                     match=r"^arm M=16: optimizer.learning_rate"):
    sweep.run(s, str(tmp_path / "w"))
  assert not os.path.exists(tmp_path / "w")
  with pytest.raises(ConfigError, match="not an arm of sweep 'tiny'"):
    sweep.select(s, arms=["M=3"])
  with pytest.raises(ConfigError, match="seeds must be distinct"):
    sweep.Sweep("tiny", s.arms, seeds=(1, 1)).validate()
  with pytest.raises(ConfigError, match="names a directory"):
    sweep.Sweep("tiny", {"a/b": s.arms["M=2"]}).validate()


def test_select_sets_steps_and_keeps_the_order():
  s = sweep.select(_regression_sweep(ms=(2, 4, 16)), arms=["M=16", "M=2"],
                   seeds=[5], steps=9)
  assert list(s.arms) == ["M=2", "M=16"] and s.seeds == (5,)
  assert all(c.train.steps == 9 for c in s.arms.values())


def test_a_sweep_trains_aggregates_and_resumes(tmp_path, monkeypatch):
  s = _regression_sweep()
  workdir = str(tmp_path / "w")
  outcome = sweep.run(s, workdir, verbose=False)
  saved = json.load(open(os.path.join(workdir, "results.json")))
  assert saved["seeds"] == [0, 1] and list(saved["arms"]) == ["M=2", "M=16"]
  arm = saved["arms"]["M=16"]
  per_seed = [arm["seeds"][k]["summary"]["regression"]["true/error/model"]
              for k in ("0", "1")]
  stats = arm["stats"]["regression"]["true/error/model"]
  assert stats["mean"] == pytest.approx(np.mean(per_seed))
  assert stats["std"] == pytest.approx(np.std(per_seed, ddof=1))
  assert per_seed[0] != per_seed[1]  # the seeds are different models
  # Member k of the ensemble is cell k, in its own run directory.
  member = json.load(open(os.path.join(workdir, arm["seeds"]["1"]["run_dir"],
                                       "config.json")))
  assert member["seed"] == 1 and member["task"]["num_tasks"] == 16
  # A rerun of a finished sweep takes every group from its results.json:
  # nothing restores, re-evaluates or retrains, and the time record is
  # the one launch that did the work.
  trained = _counting_training(monkeypatch)
  lines = []
  again = sweep.run(s, workdir, log=lines.append, verbose=False)
  assert trained == []
  assert "finished by an earlier launch" in lines[-1]
  assert again.values("M=16", "regression", "true/error/model") == \
      outcome.values("M=16", "regression", "true/error/model")
  (timing,) = again.timing.values()
  assert timing["launches"] == 1
  assert json.load(open(os.path.join(workdir, "results.json"))) == saved


def _burn(seconds):
  end = time.process_time() + seconds
  while time.process_time() < end:
    pass


def test_a_killed_launch_still_counts_in_the_time_record(tmp_path):
  record = str(tmp_path / "group" / "sweep.json")

  def killed_after_a_while():
    os.makedirs(tmp_path / "group")
    _burn(0.3)
    # Kept up to date while the launch runs, not only at its end.
    deadline = time.time() + 10
    while not os.path.exists(record) and time.time() < deadline:
      time.sleep(0.01)
    assert json.load(open(record))["launches"] == 1
    raise KeyboardInterrupt("killed")

  with pytest.raises(KeyboardInterrupt):
    resume.timed(record, killed_after_a_while, every_s=0.05)
  first = json.load(open(record))
  assert first["launches"] == 1 and first["cpu_seconds"] >= 0.3
  _, total = resume.timed(record, lambda: _burn(0.2), every_s=0.05)
  assert total == json.load(open(record))
  assert total["launches"] == 2
  assert total["cpu_seconds"] >= first["cpu_seconds"] + 0.2
  # A launch that fails before making its directory writes nothing.
  nowhere = str(tmp_path / "refused" / "sweep.json")
  with pytest.raises(ValueError):
    resume.timed(nowhere, lambda: (_ for _ in ()).throw(ValueError("bad")))
  assert not os.path.exists(tmp_path / "refused")


def _counting_training(monkeypatch) -> list:
  """The sweep's training calls, one entry (the run directory) each."""
  real, calls = train.train_and_evaluate, []

  def counted(run, workdir, *args, **kwargs):
    calls.append(os.path.basename(workdir))
    return real(run, workdir, *args, **kwargs)
  monkeypatch.setattr(train, "train_and_evaluate", counted)
  return calls


def _failing_from_call(n, monkeypatch):
  """Makes the sweep's n-th training call (1-based) and later ones fail,
  as a sweep killed after n - 1 groups."""
  real, calls = train.train_and_evaluate, []

  def train_or_die(*args, **kwargs):
    calls.append(1)
    if len(calls) >= n:
      raise KeyboardInterrupt("killed")
    return real(*args, **kwargs)
  monkeypatch.setattr(train, "train_and_evaluate", train_or_die)


def test_results_land_arm_by_arm_and_never_lose_an_arm(tmp_path,
                                                       monkeypatch):
  s = _regression_sweep()
  workdir = str(tmp_path / "w")
  path = os.path.join(workdir, "results.json")
  with monkeypatch.context() as m:
    _failing_from_call(2, m)
    with pytest.raises(KeyboardInterrupt):
      sweep.run(s, workdir, verbose=False, max_members=2)
  # Killed in the second group: the first arm's results are there, whole,
  # and the second is named as pending.
  partial = json.load(open(path))
  assert list(partial["arms"]) == ["M=2"] and partial["pending"] == ["M=16"]
  assert list(partial["timing"]) == ["M=2"]
  assert partial["arms"]["M=2"]["stats"]["regression"]["true/error/model"][
      "n"] == 2
  # A later sweep can take the finished arm from it (with nothing to
  # train: the arms after it are another test's).
  later = sweep.run(sweep.select(s, arms=["M=2"]), str(tmp_path / "later"),
                    verbose=False, max_members=2, reuse=path)
  assert not os.path.exists(tmp_path / "later" / "M=2")
  assert later.values("M=2", "regression", "true/error/model") == [
      partial["arms"]["M=2"]["seeds"][k]["summary"]["regression"][
          "true/error/model"] for k in ("0", "1")]

  # The relaunch takes the finished arm from the file and trains the rest.
  with monkeypatch.context() as m:
    trained = _counting_training(m)
    whole = sweep.run(s, workdir, verbose=False, max_members=2)
  assert trained == ["M=16"]
  assert json.load(open(path))["pending"] == []
  assert list(json.load(open(path))["arms"]) == ["M=2", "M=16"]
  # An arm whose run directory is gone trains again, whatever the file says.
  shutil.rmtree(os.path.join(workdir, "M=16"))
  with monkeypatch.context() as m:
    trained = _counting_training(m)
    sweep.run(s, workdir, verbose=False, max_members=2)
  assert trained == ["M=16"]
  assert whole.values("M=16", "regression", "true/error/model") == [
      json.load(open(path))["arms"]["M=16"]["seeds"][k]["summary"][
          "regression"]["true/error/model"] for k in ("0", "1")]
  # A relaunch that trains longer resumes every arm (a changed config is
  # never taken from the file); killed in its second group, it leaves the
  # whole file as it was: its partial view would have lost M=16.
  before = open(path).read()
  with monkeypatch.context() as m:
    _failing_from_call(2, m)
    with pytest.raises(KeyboardInterrupt):
      sweep.run(sweep.select(s, steps=5), workdir, verbose=False,
                max_members=2)
  assert open(path).read() == before


def test_a_later_sweep_takes_the_arms_an_earlier_results_file_holds(
    tmp_path):
  s = _regression_sweep()
  first_dir, later_dir = str(tmp_path / "first"), str(tmp_path / "later")
  first = sweep.run(sweep.select(s, arms=["M=2"]), first_dir, verbose=False,
                    max_members=2)
  earlier = os.path.join(first_dir, "results.json")
  later = sweep.run(s, later_dir, verbose=False, max_members=2,
                    reuse=earlier)
  # M=2 is taken, with its recorded time; only M=16 trains.
  assert not os.path.exists(os.path.join(later_dir, "M=2"))
  assert os.path.isdir(os.path.join(later_dir, "M=16"))
  assert later.values("M=2", "regression", "true/error/model") == \
      first.values("M=2", "regression", "true/error/model")
  assert later.timing["M=2"] == first.timing["M=2"]
  saved = json.load(open(os.path.join(later_dir, "results.json")))
  assert list(saved["arms"]) == ["M=2", "M=16"]
  assert saved["reused"] == {"M=2": earlier}
  # Taken again from the later file, M=2 still names where it trained, so
  # the later file can be overwritten by one that reuses it.
  again = sweep.run(s, str(tmp_path / "again"), verbose=False,
                    max_members=2,
                    reuse=os.path.join(later_dir, "results.json"))
  assert again.reused == {"M=2": earlier,
                          "M=16": os.path.join(later_dir, "results.json")}
  assert saved["total"]["cpu_seconds"] == pytest.approx(
      first.timing["M=2"]["cpu_seconds"]
      + later.timing["M=16"]["cpu_seconds"])
  # An arm trained under another config is refused before anything trains.
  changed = sweep.select(s, steps=5)
  with pytest.raises(ConfigError, match=r"^--reuse: arm M=2 .* different "
                     r"config, at train.steps \(4 there, 5 now\)$"):
    sweep.run(changed, str(tmp_path / "changed"), max_members=2,
              reuse=earlier)
  assert not os.path.exists(tmp_path / "changed")
  other = sweep.Sweep("other", s.arms, seeds=s.seeds)
  with pytest.raises(ConfigError, match="holds sweep 'tiny', not 'other'"):
    sweep.run(other, str(tmp_path / "o"), reuse=earlier)
  with pytest.raises(ConfigError, match="cannot read"):
    sweep.run(s, str(tmp_path / "o"), reuse=str(tmp_path / "missing.json"))


def test_the_stats_table_has_mean_std_max_and_chance():
  rows = {"a": {"acc": sweep.statistics([0.5, 0.7, 0.9])},
          "b": {"acc": sweep.statistics([0.1])}}
  text = report.stats_table(rows, [("acc", "accuracy")],
                            chance={"acc": 0.1}, extra={"a": ["0.92"]},
                            extra_header=["paper"])
  lines = text.splitlines()
  assert lines[0] == ("| arm | accuracy (mean ± std) | accuracy (max) | "
                      "paper |")
  assert lines[2] == "| a | 0.700 ± 0.200 | 0.900 | 0.92 |"
  assert lines[3] == "| b | 0.100 (n=1) | 0.100 |  |"
  assert lines[4] == "| chance | 0.1 | 0.1 |  |"
