"""Attention patterns as pictures: a PNG heat map, or a self-contained HTML
view for notebooks (inline script and data: no PyTorch, no network).

Patterns are one example's [H, T, S] or [L, H, T, S] (``cache[...][i]`` or
``hooks.stack_layers(cache, 'attn.hook_pattern')[:, i]``); ``tokens`` labels
the T positions.
"""

from __future__ import annotations

import html
import json
import uuid

import numpy as np

from icl import files


def _as_LHTS(pattern) -> np.ndarray:
  p = np.asarray(pattern, dtype=np.float32)
  if p.ndim == 3:
    p = p[None]
  if p.ndim != 4 or p.shape[-1] != p.shape[-2]:
    raise ValueError(f"pattern must be [H, T, T] or [L, H, T, T] for one "
                     f"example, got shape {p.shape}")
  return p


def _labels(tokens, t: int) -> list[str]:
  if tokens is None:
    return [str(i) for i in range(t)]
  labels = [str(x) for x in tokens]
  if len(labels) != t:
    raise ValueError(f"{len(labels)} token labels for {t} positions")
  return labels


def attention_png(pattern, tokens=None, path: str | None = None,
                  title: str = ""):
  """A grid of heat maps, one per (layer, head): rows are queries, columns
  keys. Saves to ``path`` if given; returns the matplotlib figure."""
  import matplotlib.pyplot as plt
  p = _as_LHTS(pattern)
  num_layers, num_heads, t, _ = p.shape
  labels = _labels(tokens, t)
  size = max(2.0, 0.18 * t)
  fig, axes = plt.subplots(num_layers, num_heads, squeeze=False,
                           figsize=(size * num_heads + 1, size * num_layers),
                           constrained_layout=True)
  image = None
  for l in range(num_layers):
    for h in range(num_heads):
      ax = axes[l, h]
      image = ax.imshow(p[l, h], vmin=0.0, vmax=1.0, cmap="viridis")
      ax.set_title(f"layer {l} head {h}", fontsize=8)
      ticks = range(t) if t <= 40 else range(0, t, max(1, t // 20))
      ax.set_xticks(list(ticks), [labels[i] for i in ticks], rotation=90,
                    fontsize=6)
      ax.set_yticks(list(ticks), [labels[i] for i in ticks], fontsize=6)
  fig.colorbar(image, ax=axes, shrink=0.6, label="attention")
  if title:
    fig.suptitle(title)
  if path is not None:
    files.save_figure(fig, path)
  return fig


_SCRIPT = """
(function() {
  const root = document.getElementById(%(id)s);
  const data = %(data)s;
  const tokens = %(tokens)s, names = %(names)s;
  const select = root.querySelector("select");
  const text = root.querySelector(".tokens");
  const grid = root.querySelector("canvas");
  names.forEach((n, i) => select.add(new Option(n, i)));
  let head = 0, query = null;
  const cell = Math.max(4, Math.min(18, Math.floor(480 / tokens.length)));
  grid.width = grid.height = cell * tokens.length;
  function shade(w) { return "rgba(30, 90, 200, " + w.toFixed(3) + ")"; }
  function draw() {
    const ctx = grid.getContext("2d"), p = data[head];
    ctx.clearRect(0, 0, grid.width, grid.height);
    for (let q = 0; q < tokens.length; q++)
      for (let k = 0; k < tokens.length; k++) {
        ctx.fillStyle = shade(p[q][k]);
        ctx.fillRect(k * cell, q * cell, cell, cell);
      }
    if (query !== null) {
      ctx.strokeStyle = "#d33";
      ctx.strokeRect(0, query * cell, grid.width, cell);
    }
    text.querySelectorAll("span").forEach((s, k) => {
      s.style.background = query === null ? "" : shade(p[query][k]);
      s.style.outline = k === query ? "2px solid #d33" : "";
    });
  }
  tokens.forEach((t, k) => {
    const s = document.createElement("span");
    s.textContent = t;
    s.title = "position " + k;
    s.onmouseenter = () => { query = k; draw(); };
    text.appendChild(s);
  });
  select.onchange = () => { head = +select.value; draw(); };
  draw();
})();
"""


def attention_html(pattern, tokens=None, title: str = "") -> str:
  """A self-contained HTML fragment: choose a head, hover a token to see
  where it attends (tokens shaded by weight) beside the full heat map."""
  p = _as_LHTS(pattern)
  num_layers, num_heads, t, _ = p.shape
  labels = _labels(tokens, t)
  names = [f"layer {l} head {h}" for l in range(num_layers)
           for h in range(num_heads)]
  data = np.round(p.reshape(num_layers * num_heads, t, t), 4).tolist()
  element = f"icl-attn-{uuid.uuid4().hex[:12]}"
  script = _SCRIPT % {"id": json.dumps(element), "data": json.dumps(data),
                      "tokens": json.dumps(labels),
                      "names": json.dumps(names)}
  return (
      f'<div id="{element}" style="font-family: monospace">'
      f"<b>{html.escape(title)}</b> <select></select>"
      '<div class="tokens" style="margin: 6px 0; line-height: 1.8; '
      'word-spacing: 4px"></div>'
      '<canvas style="border: 1px solid #ccc"></canvas>'
      f"<script>{script}</script></div>")


def show_attention(pattern, tokens=None, title: str = ""):
  """``attention_html`` wrapped for display in a notebook cell."""
  from IPython.display import HTML
  return HTML(attention_html(pattern, tokens, title))
