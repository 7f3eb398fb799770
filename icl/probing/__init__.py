"""Looking inside trained models (TransformerLens's ideas, as pure JAX).

- ``hooks``: ``run_with_cache``, ``run_with_hooks``, stacked views.
- ``patching``: ablations, activation patching sweeps (one vmapped pass),
  attribution patching.
- ``scores``: logit difference, normalised patching score, MSE.
- ``lens``: residual decomposition, logit lens, direct attribution.
- ``heads``: previous-token, duplicate-token and induction detectors.
- ``probes``: linear and MLP probes with controls, layer sweeps, and the
  in-context regression targets.
- ``render``: attention as PNG or self-contained HTML.
- ``successor``: the sorting successor-attention statistic.
"""

from icl.probing.hooks import (run_with_cache, run_with_hooks, site_shapes,
                               stack_heads, stack_layers)

__all__ = ["run_with_cache", "run_with_hooks", "site_shapes", "stack_heads",
           "stack_layers"]
