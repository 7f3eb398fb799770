"""Tables and figures of seed statistics, for every experiment's report.

A table cell is ``mean ± std`` over seeds and the maximum has a column of
its own, so a reader sees both the typical seed and the best one, and the
report says which one is its headline. Figures draw the mean with a ±1 std
band and every seed as a thin line. Figures are bare ``Figure`` objects:
no pyplot state, so a notebook's backend is left alone.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

from icl import files
from icl.metrics import markdown_table
from icl.sweep import statistics


def mean_std(stats: dict | None, digits: int = 3) -> str:
  """``0.512 ± 0.031 (n=3)``-style cell; n is shown when under 3."""
  if not stats or stats.get("mean") is None:
    return "n/a"
  text = f"{stats['mean']:.{digits}f}"
  if stats.get("std") is not None:
    text += f" ± {stats['std']:.{digits}f}"
  if stats.get("n", 0) < 3:
    text += f" (n={stats['n']})"
  return text


def best_of(stats: dict | None, best: str = "max", digits: int = 3) -> str:
  """The best seed's value: ``best`` is "max" (accuracies) or "min"
  (errors)."""
  if not stats or stats.get(best) is None:
    return "n/a"
  return f"{stats[best]:.{digits}f}"


def stats_table(rows: dict[str, dict[str, dict]],
                columns: Sequence[str | tuple[str, str]],
                first: str = "arm", extra: dict[str, Sequence[str]] | None
                = None, extra_header: Sequence[str] = (),
                chance: dict[str, float] | None = None,
                digits: int = 3, best: str = "max",
                chance_label: str = "chance") -> str:
  """``rows``: ``{label: {column: statistics}}``. Each column gives two:
  ``column (mean ± std)`` and ``column (max)`` (``best="min"``: the
  lowest seed, for errors). ``extra[label]`` cells
  (a paper's numbers, say) follow under ``extra_header``. A column is a
  key of the row's statistics, or (key, header label). ``chance``
  (``{column: value}``) adds a last row: what a random guesser scores."""
  columns = [(c, c) if isinstance(c, str) else tuple(c) for c in columns]
  header = [first]
  for _, name in columns:
    header += [f"{name} (mean ± std)", f"{name} ({best})"]
  header += list(extra_header)
  body = []
  for label, stats in rows.items():
    row = [label]
    for column, _ in columns:
      row += [mean_std(stats.get(column), digits),
              best_of(stats.get(column), best, digits)]
    row += list((extra or {}).get(label, [""] * len(extra_header)))
    body.append(row)
  if chance is not None:
    row = [chance_label]
    for column, _ in columns:
      value = chance.get(column)
      cell = "" if value is None else f"{value:.{digits}g}"
      row += [cell, cell]
    body.append(row + [""] * len(extra_header))
  return markdown_table(header, body)


def band(ax, x: Sequence[float], per_seed: Iterable[Sequence[float]],
         label: str, color=None, marker: str = ".") -> None:
  """The mean over seeds with a ±1 std band (where there are 2+ seeds),
  and each seed as a thin line of the same colour."""
  ys = np.asarray([[np.nan if v is None else v for v in s]
                   for s in per_seed], dtype=float)
  mean = np.nanmean(ys, axis=0)
  (line,) = ax.plot(x, mean, marker=marker, label=f"{label} (n={len(ys)})",
                    color=color, linewidth=1.8)
  color = line.get_color()
  for seed_ys in ys:
    ax.plot(x, seed_ys, color=color, linewidth=0.6, alpha=0.45)
  if len(ys) > 1:
    std = np.nanstd(ys, axis=0, ddof=1)
    ax.fill_between(x, mean - std, mean + std, color=color, alpha=0.15,
                    linewidth=0)


def figure(ncols: int = 1, nrows: int = 1, width: float = 5.0,
           height: float = 3.6, **kwargs):
  from matplotlib.figure import Figure
  fig = Figure(figsize=(width * ncols, height * nrows))
  return fig, fig.subplots(nrows, ncols, squeeze=False, **kwargs)


def save(fig, path: str, title: str = "") -> None:
  if title:
    fig.suptitle(title)
  fig.tight_layout()
  files.save_figure(fig, path)


def compute(outcome) -> str:
  """The sweep's total CPU and wall time, summed over every launch."""
  total = outcome.to_json()["total"]
  return (f"Compute: {total['cpu_seconds'] / 3600:.2f} CPU hours, "
          f"{total['wall_seconds'] / 3600:.2f} wall hours (all launches).")


def curve_stats(per_seed: Iterable[Sequence[float]]) -> list[dict]:
  """:func:`icl.sweep.statistics` at every point of equal-length curves."""
  return [statistics(point) for point in zip(*per_seed)]
