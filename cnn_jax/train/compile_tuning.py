"""XLA compiler options of a jitted step, chosen by timing the whole step (once per machine).

The conv autotuner (`ops.conv_autotune`) times each convolution pass alone; some costs show
only in the whole program. XLA:CPU's loop-fusion code generator is one: its newer fusion
emitters (the default) make ResNet-18's and LeNet-5's steps 2-20% faster than the legacy
elemental emitter, but MobileNetV2's 1.22x slower (its many elementwise batch-norm, ReLU6 and
depthwise fusions; docs/conv_bench.md). XLA:CPU's instruction scheduler is another: its
default orders the program to run independent instructions concurrently; the plain
memory-minimising order (the same buffers and numbers, only the order of the thunks
differs) was 2.5-8.6% faster for ResNet-18, 3-4% for MobileNetV2 and 1% for LeNet-5 in
interleaved runs on the 2-core AVX2 test machine, gains the size of that host's noise, so
it is a candidate like the others (docs/conv_bench.md). So `tuned_jit` compiles the step with each of
`CANDIDATES` on the first call, times each on copies of the real arguments, and keeps the
fastest (`pick`: by more than MIN_GAIN, and repaying any extra compile time within
PAYBACK_STEPS steps): a cuDNN-benchmark-mode choice at the level of the whole program.

    step = tuned_jit(fn, in_shardings=..., donate_argnums=0)   # as jax.jit
    state, metrics = step(state, batch)                         # first call: tunes

The choice is stored per machine (`cnn_jax._json_cache`: CPU model, instruction sets, JAX
version, XLA's conv library) and per program (a hash of the lowered program), in
`$CNN_JAX_CACHE/step_tuning.json`; later runs compile only the chosen variant. The same
choice is the same program, so results stay bit-identical across runs on a machine with the
file (a fresh machine may choose differently, like the conv autotuner).

Environment: CNN_JAX_STEP_TUNING = 'measure' (default) as above; 'off' compiles XLA's default
(the test suite sets it); a candidate name uses that candidate untimed. Only single-process
CPU runs tune (the options are XLA:CPU's; every process of a multi-process run must compile
the same program); elsewhere this is `jax.jit`.
"""
import hashlib
import logging
import os
import statistics
import time
from typing import Any, Callable

import jax

from cnn_jax import _json_cache

# 2: two warm-up calls; 3: the memory_scheduler candidate; 4: compile time counts (PAYBACK_STEPS);
# each re-measures the older choices.
VERSION = 4
FILE = 'step_tuning.json'
ENV = 'CNN_JAX_STEP_TUNING'
# name -> XLA debug options for `jax.jit(..., compiler_options=...)`; the first is XLA's default.
CANDIDATES: dict[str, dict[str, Any]] = {
    'default': {},
    'legacy_fusion_emitter': {'xla_cpu_use_fusion_emitters': False},
    'memory_scheduler': {'xla_cpu_enable_concurrency_optimized_scheduler': False},
}
ROUNDS = 5          # timed calls per candidate (interleaved), after WARMUP calls
WARMUP = 2          # the first calls also grow the heap to the step's size (cnn_jax._malloc)
MIN_GAIN = 0.03     # another candidate must be this much faster than 'default' to be chosen
PAYBACK_STEPS = 100  # ... and repay any extra compile time within this many steps


def _mode() -> str:
  mode = os.environ.get(ENV, 'measure')
  if mode not in ('measure', 'off', *CANDIDATES):
    raise ValueError(f'${ENV}={mode!r}: use measure, off or one of {list(CANDIDATES)}.')
  return mode


def _copy(args):
  """Fresh buffers for a timing call (the step donates its state)."""
  return jax.tree.map(lambda x: x.copy() if isinstance(x, jax.Array) else x, args)


def _time(compiled: dict[str, Any], args) -> dict[str, float]:
  """{name: median seconds} of the compiled variants, interleaved, each on copies of args."""
  samples = {n: [] for n in compiled}
  for n, c in compiled.items():  # warm-up: first-call costs are not the step's
    for _ in range(WARMUP):
      jax.block_until_ready(c(*_copy(args)))
  for _ in range(ROUNDS):
    for n, c in compiled.items():
      fresh = _copy(args)
      jax.block_until_ready(fresh)
      t = time.perf_counter()
      jax.block_until_ready(c(*fresh))
      samples[n].append(time.perf_counter() - t)
  return {n: statistics.median(s) for n, s in samples.items()}


def pick(seconds: dict[str, float], compile_s: dict[str, float] | None = None) -> str:
  """'default' unless another candidate is more than MIN_GAIN faster (noise keeps XLA's) and,
  where compile times are given, repays its extra compile time within PAYBACK_STEPS steps.

  The second condition keeps a slower-compiling variant for a few percent: ResNet-18's step
  compiled ~3 s slower with the legacy emitter (9.3 against 6-7 s) for a gain of the size
  of the host's noise, while MobileNetV2's 1.22x from it repays its compile in tens of steps.
  """
  if 'default' not in seconds:
    return min(seconds, key=seconds.get)
  base, extra = seconds['default'], compile_s or {}
  eligible = [n for n, s in seconds.items() if n != 'default' and (1 + MIN_GAIN) * s < base
              and extra.get(n, 0) - extra.get('default', 0) <= PAYBACK_STEPS * (base - s)]
  return min(eligible, key=seconds.get) if eligible else 'default'


class TunedStep:
  """`jax.jit(fun, **jit_kwargs)` whose compiler options are chosen on the first call."""

  def __init__(self, fun: Callable, **jit_kwargs):
    self._fun, self._jit_kwargs = fun, jit_kwargs
    self._default = jax.jit(fun, **jit_kwargs)
    self._compiled = None  # the chosen variant's executable, for the args it was made for
    self._call = None
    self.choice: dict | None = None  # {'name', 'options', 'source', 'seconds'}

  def _jit(self, name: str):
    options = CANDIDATES[name]
    return jax.jit(self._fun, compiler_options=options, **self._jit_kwargs) if options else self._default

  def _choose(self, args) -> None:
    mode = _mode()
    if (mode == 'off' or jax.process_count() > 1
        or jax.devices()[0].platform != 'cpu'):
      self.choice, self._call = dict(name='default', source=f'not tuned ({mode})'), self._default
      return
    lowered = self._default.lower(*args)
    compile_s = {}
    if mode != 'measure':
      name, source, seconds = mode, f'fixed (${ENV})', None
    else:
      key = hashlib.sha256(lowered.as_text().encode()).hexdigest()[:16]
      file = _json_cache.cache_dir() / FILE
      entry = _json_cache.section(file, VERSION, 'steps', _json_cache.machine_id()).get(key)
      if isinstance(entry, dict) and entry.get('name') in CANDIDATES:
        name, source, seconds = entry['name'], 'measured (cached)', entry.get('seconds')
      else:
        t = time.perf_counter()
        compiled = {}
        for n in CANDIDATES:
          t_n = time.perf_counter()
          compiled[n] = (lowered if n == 'default' else self._jit(n).lower(*args)).compile()
          compile_s[n] = time.perf_counter() - t_n
        seconds = {n: round(s, 5) for n, s in _time(compiled, args).items()}
        name, source = pick(seconds, compile_s), 'measured'
        self._compiled = compiled[name]  # reuse the timing compile: no second compile
        logging.info('step compiler options: %s (median s %s; tuning %.1f s)', name, seconds,
                     time.perf_counter() - t)
        m = _json_cache.machine()
        _json_cache.merge(file, VERSION, 'steps', m, _json_cache.machine_id(m), {key: dict(
            name=name, seconds=seconds, compile_s={n: round(c, 3) for n, c in compile_s.items()})})
    if self._compiled is None:
      t = time.perf_counter()
      self._compiled = (lowered if name == 'default' else self._jit(name).lower(*args)).compile()
      compile_s[name] = time.perf_counter() - t
    self.choice = dict(name=name, options=CANDIDATES[name], source=source, seconds=seconds,
                       compile_s=round(compile_s[name], 3))
    logging.info('step compiler options %s (%s); compile %.1f s', name, source, compile_s[name])
    self._call = self._jit(name)

  def __call__(self, *args):
    if self._call is None:
      if any(isinstance(x, jax.core.Tracer) for x in jax.tree.leaves(args)):
        return self._default(*args)  # inside another trace (jit of the step): nothing to time
      self._choose(args)
    if self._compiled is not None:
      try:
        return self._compiled(*args)
      except (TypeError, ValueError):  # other shapes or shardings: jit retraces
        self._compiled = None
    return self._call(*args)

  def lower(self, *args):
    """The lowered program of the chosen variant (chooses first if needed)."""
    if self._call is None:
      self._choose(args)
    return self._call.lower(*args)


def tuned_jit(fun: Callable, **jit_kwargs) -> TunedStep:
  """`jax.jit(fun, **jit_kwargs)` with its XLA compiler options chosen by timing (module doc)."""
  return TunedStep(fun, **jit_kwargs)
