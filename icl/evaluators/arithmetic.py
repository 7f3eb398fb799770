"""The arithmetic evaluator (``arithmetic``): exact match of decoded
answers on the test split.

Every test problem is decoded from its prompt (greedy at
``eval.temperature`` 0, else sampled), and its answer is parsed from the
generated text up to EOS: the last line of a scratchpad, a reversed answer
read back to front, hints and spaces skipped. An example is right when the
parsed number equals the true result. Scratchpad steps may differ from the
reference and still count, as in Lee et al. 2023.

Generated tokens get the position ids the reference answer would have.
For an answer generated correctly these are exactly the ids computed from
the generated text; any other answer is wrong whatever ids it got.

Breakdowns: by number of carries, and by operand lengths (len_a, len_b) on
the grid of the test ranges, each cell marked as seen in training or not.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from icl import decoding, fields, files
from icl.data.vocab import EOS
from icl.evaluators.base import DataResult, Evaluator
from icl.metrics import markdown_table
from icl.tasks.arithmetic import formats, problems

NUM_EXAMPLES = 8  # decoded examples kept in the results, for reading


class ArithmeticEvaluator(Evaluator):
  """``evaluate(params) -> ArithmeticResult``."""

  eval_fields = {"batch_size": 256, "temperature": 0.0}
  needs = ("tables", "dataset")

  @classmethod
  def validate(cls, eval_cfg, task) -> None:
    super().validate(eval_cfg, task)
    fields.non_negative_number("eval.temperature", eval_cfg.temperature)

  def __init__(self, model, task, eval_cfg, key: jax.Array, positions=None):
    # Evaluation uses the plain or scheme ids of the table.
    super().__init__(model, task, eval_cfg, key, None)
    self.temperature = float(eval_cfg.temperature)
    table = task.tables["test"]
    tokens = table.tokens.copy()
    if task.packing == "stream":
      tokens[:, 0] = EOS  # a stream-trained model saw EOS before each one
    self.tokens, self.table = tokens, table
    self.problems = task.dataset.test

  def decode(self, params) -> np.ndarray:
    """Generated rows [N, L] (prompt tokens as given)."""
    n, b = len(self.problems), self.batch_size
    chunks = []
    for start in range(0, n, b):
      index = np.minimum(np.arange(start, start + b), n - 1)  # pad: repeat
      out = decoding.complete(
          self.model, params, jnp.asarray(self.tokens[index]),
          jnp.asarray(self.table.prompt_length[index]),
          jnp.asarray(self.table.position_ids[index]),
          jax.random.fold_in(self.key, start), self.temperature)
      chunks.append(np.asarray(jax.device_get(out))[:min(b, n - start)])
    return np.concatenate(chunks)

  def __call__(self, params) -> "ArithmeticResult":
    rows = self.decode(params)
    vocab, fmt, op = self.task.vocab, self.task.text_format, self.task.op
    right = []
    texts = []
    for (a, b), row, p in zip(self.problems, rows, self.table.prompt_length):
      answer_tokens = [vocab[int(t)] for t in row[p:]]
      got = formats.parse_answer(answer_tokens, fmt)
      right.append(got == problems.answer(a, b, op))
      if len(texts) < NUM_EXAMPLES:
        texts.append(self.task.decode_tokens(row))
    return ArithmeticResult(breakdown(np.array(right), self.problems, op,
                                      self.task, texts))


def breakdown(right_N: np.ndarray, pairs, op: str, task, texts=()) -> dict:
  carries = np.array([problems.carries(a, b, op) for a, b in pairs])
  len_a = np.array([problems.digits(a) for a, _ in pairs])
  len_b = np.array([problems.digits(b) for _, b in pairs])
  by_carries = {str(c): [float(right_N[carries == c].mean()),
                         int((carries == c).sum())]
                for c in sorted(set(carries.tolist()))}
  rows_a = list(range(task.test_digits_a[0], task.test_digits_a[1] + 1))
  cols_b = list(range(task.test_digits_b[0], task.test_digits_b[1] + 1))
  grid = np.full((len(rows_a), len(cols_b)), np.nan)
  count = np.zeros_like(grid, dtype=np.int64)
  for i, la in enumerate(rows_a):
    for j, lb in enumerate(cols_b):
      chosen = (len_a == la) & (len_b == lb)
      count[i, j] = chosen.sum()
      if chosen.any():
        grid[i, j] = right_N[chosen].mean()
  seen = (len_a <= task.digits_a[1]) & (len_b <= task.digits_b[1])
  return {
      "exact_match": float(right_N.mean()),
      "exact_match_seen": float(right_N[seen].mean()) if seen.any() else None,
      "exact_match_beyond": (float(right_N[~seen].mean()) if (~seen).any()
                             else None),
      "num_test": int(len(right_N)),
      "by_carries": by_carries,
      "grid": {"len_a": rows_a, "len_b": cols_b,
               "exact_match": [[None if np.isnan(v) else float(v) for v in r]
                               for r in grid],
               "count": count.tolist()},
      "train_digits": [list(task.digits_a), list(task.digits_b)],
      "dataset": task.dataset.describe(),
      "examples": list(texts),
  }


def summarize(results: dict) -> dict[str, float]:
  out = {"exact_match": results["exact_match"]}
  for group in ("seen", "beyond"):
    if results.get(f"exact_match_{group}") is not None:
      out[f"exact_match/{group}"] = results[f"exact_match_{group}"]
  return out


def table(results: dict) -> str:
  rows = [[c, acc, n] for c, (acc, n) in results["by_carries"].items()]
  text = (f"exact match {results['exact_match']:.4f} on "
          f"{results['num_test']} test problems\n\n"
          + markdown_table(["carries", "exact match", "problems"], rows))
  g = results["grid"]
  if len(g["len_a"]) * len(g["len_b"]) > 1:
    grid_rows = [[f"a={la}"] + row for la, row in zip(g["len_a"],
                                                      g["exact_match"])]
    text += "\n\n" + markdown_table(
        ["len_a \\ len_b"] + [f"b={lb}" for lb in g["len_b"]], grid_rows)
  return text


def plot(results_by_label: dict[str, dict], path: str, title: str = ""):
  """One accuracy heat map over (len_a, len_b) per label; the training
  range is outlined."""
  # A bare Figure: no pyplot state, so a notebook's backend is left alone.
  from matplotlib.figure import Figure
  from matplotlib.patches import Rectangle
  labels = list(results_by_label)
  fig = Figure(figsize=(3.6 * len(labels), 3.4))
  axes = fig.subplots(1, len(labels), squeeze=False)
  for ax, label in zip(axes[0], labels):
    r = results_by_label[label]
    g = r["grid"]
    values = np.array([[np.nan if v is None else v for v in row]
                       for row in g["exact_match"]], np.float64)
    image = ax.imshow(values, origin="lower", vmin=0, vmax=1, cmap="viridis",
                      extent=(g["len_b"][0] - .5, g["len_b"][-1] + .5,
                              g["len_a"][0] - .5, g["len_a"][-1] + .5))
    (_, a1), (_, b1) = r["train_digits"]
    ax.add_patch(Rectangle((g["len_b"][0] - .5, g["len_a"][0] - .5),
                           b1 - g["len_b"][0] + 1, a1 - g["len_a"][0] + 1,
                           fill=False, edgecolor="white", lw=1.5))
    ax.set_title(f"{label}: {r['exact_match']:.2f}", fontsize=9)
    ax.set_xlabel("digits of b")
    ax.set_xticks(g["len_b"][1::2] if len(g["len_b"]) > 6 else g["len_b"])
    ax.set_yticks(g["len_a"][1::2] if len(g["len_a"]) > 6 else g["len_a"])
  axes[0][0].set_ylabel("digits of a")
  fig.colorbar(image, ax=axes[0].tolist(), shrink=0.8, label="exact match")
  if title:
    fig.suptitle(title)
  files.save_figure(fig, path, bbox_inches="tight")


class ArithmeticResult(DataResult):
  """``data``: the ``breakdown`` dict."""

  views = (summarize, table, plot)  # in a tuple: never bound as methods

  plot_file = "accuracy_grid.png"

  def __init__(self, data: dict):
    super().__init__(data)
    g = data["grid"]
    if len(g["len_a"]) * len(g["len_b"]) == 1:
      self.plot_file = None  # one cell: nothing to draw
