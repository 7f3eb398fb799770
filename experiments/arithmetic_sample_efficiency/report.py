"""The sample-efficiency report: exact match against N per format and
protocol, over seeds, beside Lee et al.'s numbers."""

from __future__ import annotations

import os

from icl import report
from icl.sweep import Outcome

KEY = "exact_match"
# Lee et al. 2023, 3-digit addition, test accuracy (%) by N (quoted from
# the paper; ../shared/REFERENCES.md). Their protocol is ``lee`` here.
PAPER = {
    "plain": {1000: 0.4, 2000: 1.7, 4000: 62.3, 10000: 87.4},
    "reverse": {1000: 1.6, 2000: 30.6, 4000: 98.2, 10000: 100.0},
    "scratchpad": {1000: 84.6, 2000: 99.7, 4000: 99.9, 10000: 100.0},
}


def parse(arm: str) -> tuple[str, str, int]:
  protocol, fmt, size = arm.split(".")
  return protocol, fmt, int(size.removeprefix("N="))


def _grid(outcome: Outcome):
  """{protocol: {fmt: {n: arm}}} in the sweep's order."""
  grid = {}
  for arm in outcome.cells:
    protocol, fmt, n = parse(arm)
    grid.setdefault(protocol, {}).setdefault(fmt, {})[n] = arm
  return grid


def protocol_table(outcome: Outcome, by_format: dict) -> str:
  sizes = sorted({n for arms in by_format.values() for n in arms})
  rows = {f"N={n}": {fmt: outcome.stats(arms[n])["arithmetic"][KEY]
                     for fmt, arms in by_format.items() if n in arms}
          for n in sizes}
  extra = {f"N={n}": [f"{PAPER[f][n] / 100:.3f}" if n in PAPER.get(f, {})
                      else "" for f in by_format] for n in sizes}
  return report.stats_table(
      rows, list(by_format), first="N", extra=extra,
      extra_header=[f"{f}, paper" for f in by_format],
      chance={f: 0.0 for f in by_format})


def plot(outcome: Outcome, path: str, title: str) -> None:
  grid = _grid(outcome)
  fig, axes = report.figure(len(grid), 1, width=5.0, sharey=True)
  for ax, (protocol, by_format) in zip(axes[0], grid.items()):
    for fmt, arms in by_format.items():
      sizes = sorted(arms)
      per_n = [outcome.values(arms[n], "arithmetic", KEY) for n in sizes]
      report.band(ax, sizes, list(zip(*per_n)), fmt, marker="o")
      paper = PAPER.get(fmt, {})
      if protocol == "lee" and all(n in paper for n in sizes):
        ax.plot(sizes, [paper[n] / 100 for n in sizes], ls="--", lw=1,
                color=ax.lines[-1].get_color(), label=f"{fmt}, paper")
    ax.set(xscale="log", xlabel="training problems N", ylim=(-0.02, 1.02),
           title=f"protocol: {protocol}")
    ax.legend(fontsize=6)
  axes[0][0].set_ylabel("exact match")
  report.save(fig, path, title)


def write(outcome: Outcome, workdir: str) -> str:
  sweep = outcome.sweep
  configs = outcome.configs
  first = next(iter(configs.values()))
  m = first.model
  dataset = next(iter(next(iter(outcome.cells.values())).values()))[
      "results"]["arithmetic"]["dataset"]
  lines = [
      f"# Sample efficiency of arithmetic formats ({sweep.description})",
      f"3-digit addition; {m.num_layers} layers x {m.d_model}, "
      f"{m.num_heads} heads; {first.train.steps} steps; seeds "
      f"{list(sweep.seeds)}. Exact match of greedy decoding on "
      f"{dataset['test_size']} test problems disjoint from the training "
      "split; mean ± std over seeds, then the best seed (the headline is "
      "the mean). Chance (a uniform guess of every answer digit) is "
      "below 0.001. Lee et al.'s numbers are quoted from the paper (6 x "
      "384 NanoGPT, 5000 steps of 256 windows of 256 characters), as "
      "fractions.",
      f"Dataset `{dataset['name']}` version {dataset['version']}, sha256 "
      f"`{dataset['sha256']}`."]
  for protocol, by_format in _grid(outcome).items():
    c = configs[next(iter(next(iter(by_format.values())).values()))]
    t = c.task
    shape = (f"{c.train.batch_size} windows of {t.window} tokens"
             if t.packing == "stream" else
             f"{c.train.batch_size} examples per step")
    lines += [f"## Protocol `{protocol}`: packing={t.packing}, loss on "
              f"{t.loss_on}, delimiters={t.delimiters}; {shape}",
              protocol_table(outcome, by_format)]
  lines.append(report.compute(outcome))
  plot(outcome, os.path.join(workdir, "accuracy_vs_examples.png"),
       f"3-digit addition, n = {len(sweep.seeds)} seeds")
  return "\n\n".join(lines) + "\n"
