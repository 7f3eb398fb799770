"""Arithmetic problems rendered once, on the host, as padded token tables
(and, for stream packing, one concatenated stream); the task samples rows
of them on device."""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from icl.data.vocab import BOS, EOS, PAD
from icl.tasks.arithmetic import formats, positions


@dataclasses.dataclass(frozen=True)
class Table:
  """Rendered examples as padded numpy rows (host side)."""

  tokens: np.ndarray  # int32 [N, L]: BOS prompt answer EOS PAD...
  answer_mask: np.ndarray  # float32 [N, L]: answer tokens and their EOS
  position_ids: np.ndarray  # int32 [N, L]: scheme ids (0 where none)
  prompt_length: np.ndarray  # int32 [N]: BOS + prompt tokens
  length: np.ndarray  # int32 [N]: real tokens


def render(task, pairs, split: str) -> Table:
  ids = {t: i for i, t in enumerate(task.vocab)}
  fmt = task.text_format
  rows, masks, pos, prompts = [], [], [], []
  for i, (a, b) in enumerate(pairs):
    # Random spaces are fixed per example: seeded by split and index.
    rng = np.random.default_rng([task.data_seed, split == "test", i])
    example = formats.render(a, b, task.op, fmt, rng)
    tokens = [BOS] + [ids[t] for t in example.tokens] + [EOS]
    rows.append(tokens)
    prompts.append(1 + example.answer_start)
    masks.append([0.0] * prompts[-1] + [1.0] * (len(tokens) - prompts[-1]))
    scheme = positions.ids(task.positions, example)
    pos.append([0] + scheme + [0] if scheme is not None
               else list(range(len(tokens))))
  width = max(map(len, rows))
  pad = lambda xs, v, dtype: np.array(
      [x + [v] * (width - len(x)) for x in xs], dtype)
  return Table(tokens=pad(rows, PAD, np.int32),
               answer_mask=pad(masks, 0.0, np.float32),
               position_ids=pad(pos, 0, np.int32),
               prompt_length=np.array(prompts, np.int32),
               length=np.array(list(map(len, rows)), np.int32))


# Keyed by the task with num_train=0: one rendering serves every N.
@functools.lru_cache(maxsize=8)
def rendered_splits(task) -> dict[str, Table]:
  data = task.dataset
  return {"train": render(task, data.train, "train"),
          "test": render(task, data.test, "test")}


@functools.lru_cache(maxsize=8)
def training_stream(task) -> dict[str, np.ndarray]:
  t = task.tables["train"]
  keep = [np.arange(1, n) for n in t.length]  # drop BOS, keep EOS
  take = lambda arr: np.concatenate([arr[i, k] for i, k in enumerate(keep)])
  sizes = np.array([len(k) for k in keep])
  return {"tokens": take(t.tokens), "answer_mask": take(t.answer_mask),
          "position_ids": take(t.position_ids),
          "offsets": np.concatenate([[0], np.cumsum(sizes)]).astype(np.int32)}
