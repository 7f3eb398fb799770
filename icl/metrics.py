"""Run outputs: metrics.jsonl and TensorBoard event files, the progress
line, and result tables."""

from __future__ import annotations

import json
import math
import sys
import time
from typing import Any, Iterable

from icl import files


class JsonlWriter:
  """Appends one JSON object per line. ``enabled=False`` (every process but
  0 of a multi-host run) makes it a no-op, so each record is written once."""

  def __init__(self, path: files.PathLike, enabled: bool = True):
    self.path = files.path(path)
    self.enabled = enabled

  def write(self, record: dict[str, Any]) -> None:
    if self.enabled:
      files.append_text(self.path, files.dumps(record) + "\n")

  def truncate_after(self, step: int) -> None:
    """Drops records past ``step``: a resumed run rewrites them exactly."""
    if not self.enabled or not self.path.exists():
      return
    kept = []
    for line in self.path.read_text().splitlines(keepends=True):
      try:
        record = json.loads(line)
      except json.JSONDecodeError:  # a line cut short by a killed run
        break
      if record["step"] <= step:
        kept.append(line)
    files.write_text(self.path, "".join(kept))


class MetricLog:
  """Each record to ``metrics.jsonl`` and, as scalars, to TensorBoard event
  files under ``tensorboard/`` (written by tensorboardX: no TensorFlow).

  ``truncate_after(step)`` opens the event files with TensorBoard's purge
  step, so a resumed run's repeated steps replace the old ones there too.
  Non-finite values are left out of the event files (``null`` in JSON).
  """

  def __init__(self, directory: files.PathLike, enabled: bool = True):
    self.jsonl = JsonlWriter(files.path(directory) / "metrics.jsonl", enabled)
    self.events_dir = str(files.path(directory) / "tensorboard")
    self.enabled = enabled
    self._events = None

  def truncate_after(self, step: int) -> None:
    self.jsonl.truncate_after(step)
    if self.enabled:
      from tensorboardX import SummaryWriter  # only runs that write pay
      self.close()
      self._events = SummaryWriter(self.events_dir,
                                   purge_step=step + 1 if step else None)

  def write(self, record: dict[str, Any]) -> None:
    self.jsonl.write(record)
    if self._events is None:
      return
    for name, value in record.items():
      if (name != "step" and isinstance(value, (int, float))
          and math.isfinite(value)):
        self._events.add_scalar(name, value, record["step"])

  def close(self) -> None:
    if self._events is not None:
      self._events.close()
      self._events = None


def read_events(directory: files.PathLike) -> list[tuple[int, str, float]]:
  """(step, tag, value) of every scalar in the TensorBoard event files of
  ``directory``, in file and write order; reads the TFRecord framing
  directly, so no TensorFlow is needed."""
  import struct

  from tensorboardX.proto import event_pb2
  out = []
  for path in sorted(files.path(directory).glob("events.out.*")):
    data = path.read_bytes()
    i = 0
    while i + 12 <= len(data):
      (n,) = struct.unpack("<Q", data[i:i + 8])  # length, then its CRC
      event = event_pb2.Event()
      event.ParseFromString(data[i + 12:i + 12 + n])
      i += 12 + n + 4  # the data, then its CRC
      out += [(event.step, v.tag, v.simple_value)
              for v in event.summary.value]
  return out


def read_jsonl(path: files.PathLike) -> list[dict[str, Any]]:
  return [json.loads(line)
          for line in files.path(path).read_text().splitlines()]


def format_duration(seconds: float) -> str:
  if not math.isfinite(seconds):
    return "?"
  seconds = int(seconds)
  h, rem = divmod(seconds, 3600)
  m, s = divmod(rem, 60)
  return f"{h}h{m:02d}m" if h else (f"{m}m{s:02d}s" if m else f"{s}s")


class Progress:
  """``step 500/3000 | loss 0.4123 | 31.2 steps/s | ETA 1m20s``.

  The rate counts steps since the last report, so compilation time and
  evaluation pauses do not distort the ETA for long.
  """

  def __init__(self, total_steps: int, stream=sys.stdout):
    self.total = total_steps
    self.stream = stream
    self._last_step = None
    self._last_time = None

  def start(self, step: int) -> None:
    self._last_step, self._last_time = step, time.perf_counter()

  def report(self, step: int, **values: float) -> float:
    now = time.perf_counter()
    rate = (step - self._last_step) / max(now - self._last_time, 1e-9)
    self._last_step, self._last_time = step, now
    eta = (self.total - step) / rate if rate > 0 else float("inf")
    fields = " | ".join(f"{k} {v:.4g}" for k, v in values.items())
    width = len(str(self.total))
    print(f"step {step:>{width}}/{self.total} | {fields} | {rate:.2f} steps/s"
          f" | ETA {format_duration(eta)}", file=self.stream, flush=True)
    return rate


def markdown_table(header: Iterable[str], rows: Iterable[Iterable[Any]]) -> str:
  def cell(v):
    if v is None:
      return "n/a"
    return f"{v:.4f}" if isinstance(v, float) else str(v)
  header = list(header)
  lines = ["| " + " | ".join(header) + " |",
           "|" + "|".join("---" for _ in header) + "|"]
  lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
  return "\n".join(lines)
