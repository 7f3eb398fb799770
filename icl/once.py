"""Programs that run once per run, compiled for compile time.

Initialization, the fixed evaluation batches and the finiteness check run
once (or once per checkpoint), so their compile time is all they cost.
On XLA:CPU most of a small program's compile time is LLVM optimizing its
fused loops: at -O0 with the older loop emitters, a regression batch
sampler (1024 rows) compiles in 0.25 s instead of 1.35 s and runs in 4.9 ms
instead of 0.7 ms (this machine, jaxlib 0.10.2, one process), which a
program that runs once never pays back. (At -O3 the older emitters compile
slower and run slower.) The HLO is the same, so
results agree to float32 rounding. Other backends keep their defaults, as
does every program that runs at each step or evaluation.
"""

from __future__ import annotations

import functools
import threading

import jax

# XLA debug options, as far as this XLA knows them (cpu_options);
# tests/conftest.py passes the same as XLA_FLAGS.
CPU_OPTIONS = {"xla_backend_optimization_level": 0,
               "xla_cpu_use_fusion_emitters": False}


@functools.cache
def cpu_options() -> dict:
  """The :data:`CPU_OPTIONS` this XLA accepts. XLA drops options as it
  moves on (the older loop emitters went between jaxlib 0.11.0 and 0.11.2),
  and one it does not know fails every compile that names it, so each is
  tried once, on an empty program (milliseconds)."""
  known = {}
  for name, value in CPU_OPTIONS.items():
    try:
      jax.jit(lambda: 0, compiler_options={name: value}).lower().compile()
    except jax.errors.JaxRuntimeError as e:
      if "No such compile option" not in str(e):
        raise
      continue
    known[name] = value
  return known


def xla_flags() -> str:
  """:func:`cpu_options` as ``XLA_FLAGS`` (for a process not yet started)."""
  return " ".join(f"--{k}={str(v).lower()}" for k, v in cpu_options().items())


def compiler_options() -> dict | None:
  """Options for ``Lowered.compile`` of a run-once program."""
  return dict(cpu_options()) if jax.default_backend() == "cpu" else None


def jit(fn=None, **jit_kwargs):
  """``jax.jit`` for a run-once program (also as a decorator with
  keyword arguments). The backend is read at the first call, not at
  import, so importing a module that uses it starts no backend."""
  if fn is None:
    return functools.partial(jit, **jit_kwargs)
  jitted = None

  @functools.wraps(fn)
  def call(*args, **kwargs):
    nonlocal jitted
    if jitted is None:
      jitted = jax.jit(fn, compiler_options=compiler_options(), **jit_kwargs)
    return jitted(*args, **kwargs)

  return call


class Compiling:
  """``lowered.compile(...)`` started in a thread; calling the object waits
  for the program and runs it.

  Why: a compile's HLO passes run on one core, and so does tracing the
  next program in Python. Lowered first and compiled here, a run-once
  program (init) compiles while the training step is traced, which cut
  the cold start of the regression cpu preset by about 1 s on 2 cores.
  A compile error is raised by the first call.
  """

  def __init__(self, lowered, options: dict | None = None):
    self._result = {}

    def compile_():
      try:
        self._result["program"] = lowered.compile(options)
      except BaseException as e:  # re-raised in the caller's thread
        self._result["error"] = e

    self._thread = threading.Thread(target=compile_, daemon=True)
    self._thread.start()

  def __call__(self, *args):
    self._thread.join()
    if "error" in self._result:
      raise self._result["error"]
    return self._result["program"](*args)
