"""'auto': each conv pass uses the formulation measured fastest on this machine (autotuner).

In the spirit of cuDNN's benchmark mode. The first time a (pass, x shape, w shape, dtype,
strides, pads, dilation, groups) is traced, every candidate formulation of that pass
(`candidates`: 'xla', 'im2col', 'taps', plus 'toeplitz' for thin, narrow 2-D convs,
'winograd' and 'winograd4' for 3x3 stride-1 dense 2-D convs and 'depth2d' for 3-D) is
compiled on zero inputs of the real shapes and timed on the host, and the fastest (median of
at least `ROUNDS` interleaved calls; `pick`) is used, except that the dx of a conv whose
Winograd dx is its forward's program takes the forward's tile size (`_share_tile`). Passes:

    fwd  y  = conv(x, w)          dx = VJP of conv w.r.t. x at dy      dw = VJP w.r.t. w at dy

The choice is static: it happens while tracing (under jit, vmap, grad, sharding: the lookup
sees the traced shapes), so the compiled program is an ordinary one; the same plan always
gives the same program, so numerics are deterministic per plan. Plans are kept in memory
and in a versioned JSON file (`plan_cache.py`, keyed by CPU model, instruction sets and JAX
version) so later runs on the machine reuse them without timing.

Why the IO lives here, in ops (no flax): 'auto' is an `ops.conv.conv` impl like the others,
usable without a Flax layer, and the cache is plain json/os, not framework code.

Environment: CNN_JAX_CONV_AUTOTUNE = 'measure' (default) times as above; a fixed impl name
('xla', 'fast', 'taps', ...) makes 'auto' use that impl's choice without timing (the test
suite sets 'xla' so its runs stay reproducible and cheap). Passes under `MIN_FLOPS` are not
timed (noise beats the difference; the 'fast' rules choose), nor are any once this process
has spent `TOTAL_BUDGET_S` timing; multi-process runs use the 'fast' rules too (every process
must compile the same program, and timings differ from host to host).

Cost: the first run on a machine compiles every candidate of every pass (0.01-1 s each on
the 2-core CPU) and runs it 6-16 times: LeNet-5 10 s, ResNet-18 40 s, MobileNetV2 39 s
(`benchmarks/side_by_side.py` on a fresh cache, docs/conv_bench.md); later runs only read
the file.
"""
import contextlib
import logging
import math
import os
import statistics
import threading
import time
from typing import Callable, Sequence

import jax
import jax.numpy as jnp

from cnn_jax.ops import conv_fast, conv_toeplitz, conv_winograd, plan_cache
from cnn_jax.ops.conv_geometry import check, geometry
from cnn_jax.ops.padding import Padding

PASSES = ('fwd', 'dx', 'dw')
ROUNDS = 5            # at least this many timed calls per surviving candidate (median)
MIN_SAMPLE_MS = 50.0  # ... and at least this much time in them (short ops get more calls)
MAX_ROUNDS = 15
DROP_FACTOR = 3.0     # after the first timed call, candidates this much slower than the best stop
XLA_MARGIN = 0.05     # another formulation must beat the tie winner (`pick`) by more than this
BUDGET_S = 20.0       # per pass: no more timing rounds once this much time was spent
MIN_FLOPS = 2e6       # passes with less work use the 'fast' rules untimed
TOTAL_BUDGET_S = 600  # per process: once spent, new passes use the 'fast' rules (not saved)

_LOCK = threading.RLock()
_PLANS: dict[str, dict] = {}    # key -> entry, this process (loaded from file or measured)
_USED: dict[str, dict] = {}     # key -> entry, the plans the traced programs actually use
_LOADED = [False]
_SPENT = [0.0]                  # seconds of tuning in this process
_UNTIMED = threading.local()    # .on: inside `untimed()`


@contextlib.contextmanager
def untimed():
  """Inside, 'auto' takes the 'fast' rules without timing or recording anything: for
  shape-only traces (`jax.eval_shape(model.init, ...)`), where no conv ever runs."""
  before = getattr(_UNTIMED, 'on', False)
  _UNTIMED.on = True
  try:
    yield
  finally:
    _UNTIMED.on = before


def candidates(pass_: str, x_shape, w_shape: Sequence[int], strides, pads, dilation,
               groups: int, dtype=jnp.float32) -> list[str]:
  """The formulations that compute this conv pass (all equal `lax.conv`; tests/test_autotune).

  'toeplitz' joins where `conv_toeplitz.worthwhile` (thin, narrow 2-D convs), 'winograd' and
  'winograd4' (F(2x2, 3x3), F(4x4, 3x3); the latter only for float32 and wider,
  `conv_winograd.tile4_accurate`) for 3x3 stride-1 dense 2-D convs, 'depth2d' for 3-D.
  The forward of a dense conv with one input channel leaves out 'taps': with K = 1 its per-tap
  matmuls become elementwise products, which XLA fuses into, and so recomputes in, every
  consumer of the output inside a train step, so timing the pass alone misleads (LeNet-5's
  first conv: 1.7 ms alone against 8.9 for 'xla', but the whole step 47 ms against 31;
  docs/conv_bench.md)."""
  names = ['xla', 'im2col', 'taps']
  if pass_ == 'fwd' and groups == 1 and w_shape[-2] == 1:
    names.remove('taps')
  if conv_toeplitz.worthwhile(x_shape, w_shape, pads,
                              _out_shape(x_shape, w_shape, strides, pads, dilation), groups):
    names.append('toeplitz')
  if conv_winograd.supports(w_shape, strides, dilation, groups):
    names += ['winograd', 'winograd4'] if conv_winograd.tile4_accurate(dtype) else ['winograd']
  if len(w_shape) == 5:
    names.append('depth2d')
  return names


def key_of(pass_, x_shape, w_shape, dtype, strides, pads, dilation, groups) -> str:
  """The cache key of one pass: readable, and exact in everything the program depends on."""
  return (f'{pass_} x{list(x_shape)} w{list(w_shape)} {jnp.dtype(dtype).name} s{list(strides)} '
          f'p{[list(p) for p in pads]} d{list(dilation)} g{groups}')


def pass_flops(x_shape, w_shape, out_shape) -> float:
  """2 N prod(out) prod(k) C_g C_out: the multiply-adds of every pass (fwd, dx and dw alike)."""
  return 2.0 * x_shape[0] * math.prod(out_shape) * math.prod(w_shape[:-1]) * w_shape[-1]


def _host_timer(pass_: str, fns: dict[str, Callable], args: tuple) -> dict[str, dict]:
  """Compiles each candidate and calls it once (warm-up: first-call costs, not used), times
  one call of each, drops those DROP_FACTOR x slower than the best, then times interleaved
  rounds (order rotated) until every survivor has ROUNDS calls and MIN_SAMPLE_MS of them (at
  most MAX_ROUNDS, within BUDGET_S). Returns {impl: {'ms': median ms or None if dropped,
  'compile_s', 'warmup_ms', 'calls'}}."""
  out, runners = {}, {}
  start = time.perf_counter()
  for name, fn in fns.items():
    t = time.perf_counter()
    compiled = jax.jit(fn).lower(*args).compile()
    out[name] = {'compile_s': round(time.perf_counter() - t, 3)}
    t = time.perf_counter()
    jax.block_until_ready(compiled(*args))
    out[name]['warmup_ms'] = round((time.perf_counter() - t) * 1e3, 3)
    runners[name] = compiled
  samples = {n: [] for n in runners}
  alive = list(runners)
  for r in range(MAX_ROUNDS):
    for name in alive[r % len(alive):] + alive[:r % len(alive)]:
      t = time.perf_counter()
      jax.block_until_ready(runners[name](*args))
      samples[name].append((time.perf_counter() - t) * 1e3)
    if r == 0:
      best = min(samples[n][0] for n in alive)
      alive = [n for n in alive if samples[n][0] <= DROP_FACTOR * best]
    enough = all(len(samples[n]) >= ROUNDS and sum(samples[n]) >= MIN_SAMPLE_MS for n in alive)
    if enough or time.perf_counter() - start > BUDGET_S:
      break
  for name in out:
    out[name]['calls'] = len(samples[name])
    out[name]['ms'] = round(statistics.median(samples[name]), 3) if name in alive else None
  return out


def pick(times: dict[str, float], groups: int = 1) -> str:
  """The fastest median, with ties (within XLA_MARGIN) going to the formulation that composes
  better inside a whole step:

  - dense convs: 'xla' (one op, faster to compile, Flax's numbers);
  - grouped (depthwise) convs: 'taps', whose per-tap multiply-adds fuse with the neighbouring
    batch-norm and ReLU6 work, where XLA's grouped convolution is an opaque call on
    materialised operands. Timed alone on zero inputs the two tie (MobileNetV2's 3x3
    depthwise weight gradients: 108 vs 111 ms at 32x32x144), inside the train step 'taps'
    wins: 674 against 806 ms for the whole MobileNetV2 step (docs/conv_bench.md)."""
  best = min(times, key=times.get)
  preferred = 'taps' if groups > 1 else 'xla'
  if preferred in times and times[preferred] <= (1 + XLA_MARGIN) * times[best]:
    return preferred
  return best


def _timed_ms(entry: dict) -> dict[str, float]:
  """{candidate: median ms} of a measured plan entry (those that were timed)."""
  return {n: t['ms'] for n, t in entry.get('times', {}).items()
          if isinstance(t, dict) and t.get('ms') is not None}


# The timer, replaceable in tests: timer(pass, fns, args) -> {impl: {'ms': float | None, ...}}.
timer: Callable[[str, dict, tuple], dict] = _host_timer


def _out_shape(x_shape, w_shape, strides, pads, dilation) -> tuple[int, ...]:
  return geometry(jax.ShapeDtypeStruct(x_shape, jnp.float32),
                  jax.ShapeDtypeStruct(w_shape, jnp.float32), strides, pads, dilation)[3]


def _measure(names, pass_, x_shape, w_shape, dtype, strides, pads, dilation, groups) -> dict:
  fns = {n: conv_fast.pass_fn(pass_, n, strides, pads, dilation, groups) for n in names}
  t = time.perf_counter()
  with jax.ensure_compile_time_eval():  # run now, on the host, even while tracing
    x, w = jnp.zeros(x_shape, dtype), jnp.zeros(w_shape, dtype)
    args = (x, w)
    if pass_ != 'fwd':
      args += (jnp.zeros((x_shape[0], *_out_shape(x_shape, w_shape, strides, pads, dilation),
                          w_shape[-1]), dtype),)
    times = timer(pass_, fns, args)
  timed = _timed_ms(dict(times=times))
  if not timed:
    raise RuntimeError(f'conv autotuner: no candidate of {names} could be timed.')
  return dict(impl=pick(timed, groups), source='measured', times=times,
              tuning_s=round(time.perf_counter() - t, 3))


def choose(pass_: str, x_shape, w_shape, dtype, strides, pads, dilation, groups) -> str:
  """The formulation of one pass: from memory, the cache file, or measured now (and saved).
  The chooser of `conv_fast.conv_planned` for impl 'auto'."""
  if getattr(_UNTIMED, 'on', False):
    return conv_fast.fixed_plan(pass_, x_shape, w_shape, dtype, strides, pads, dilation, groups)
  key = key_of(pass_, x_shape, w_shape, dtype, strides, pads, dilation, groups)
  mode = os.environ.get('CNN_JAX_CONV_AUTOTUNE', 'measure')
  if mode == 'measure' and jax.process_count() > 1:
    mode = 'fast'  # every process must compile the same program: no per-host timing noise
  with _LOCK:
    if mode != 'measure':
      entry = _fixed_entry(mode, pass_, x_shape, w_shape, dtype, strides, pads, dilation, groups)
    else:
      if not _LOADED[0]:
        _PLANS.update(plan_cache.load())
        _LOADED[0] = True
      entry = _PLANS.get(key)
      names = candidates(pass_, x_shape, w_shape, strides, pads, dilation, groups, dtype)
      if entry is not None and 'times' in entry:
        timed = {n: t for n, t in _timed_ms(entry).items() if n in names}
        if set(names) - set(entry['times']):
          entry = None  # timed before one of today's candidates was offered: measure again
        elif timed:
          # The stored times are the measurement; `pick` is code: a changed tie rule (or a
          # candidate no longer offered) applies to old plans without timing them again.
          entry = {**entry, 'impl': pick(timed, groups)}
      if entry is not None and entry.get('impl') not in names:
        entry = None  # a plan this version cannot run: measure again
      if entry is None:
        out = _out_shape(x_shape, w_shape, strides, pads, dilation)
        if pass_flops(x_shape, w_shape, out) < MIN_FLOPS or _SPENT[0] > TOTAL_BUDGET_S:
          entry = _fixed_entry('fast', pass_, x_shape, w_shape, dtype, strides, pads, dilation,
                               groups)
          if _SPENT[0] > TOTAL_BUDGET_S:
            entry['source'] = 'fast rules (tuning budget spent; measured in a later run)'
        else:
          entry = _measure(names, pass_, x_shape, w_shape, dtype, strides, pads, dilation,
                           groups)
          _SPENT[0] += entry['tuning_s']
          logging.info('conv autotune %s -> %s (%s; %.1f s)', key, entry['impl'], ', '.join(
              f"{n} {t['ms']} ms" for n, t in entry['times'].items()), entry['tuning_s'])
          plan_cache.save({key: entry})
        _PLANS[key] = entry
      entry = _share_tile(pass_, entry, x_shape, w_shape, dtype, strides, pads, dilation, groups)
    if key not in _USED:
      logging.info('conv plan %s: %s (%s)', key, entry['impl'], entry['source'])
    _USED[key] = entry
    return entry['impl']


def _share_tile(pass_, entry, x_shape, w_shape, dtype, strides, pads, dilation, groups) -> dict:
  """The dx of a conv whose Winograd dx is its forward's program
  (`conv_winograd.dx_is_forward_program`) uses the forward's tile size: XLA then compiles
  that program's transform kernels once for both (ResNet-18: a stage's fwd and dx picked
  F(4x4) and F(2x2) on timings 5-15% apart, adding ~0.4 s of code generation per stage).
  The dx is traced after the forward; the forward's own choice is untouched, so a plan is
  the same in the first run as in every later one."""
  tiles = conv_fast.WINOGRAD_TILES
  if (pass_ != 'dx' or entry.get('impl') not in tiles
      or not conv_winograd.dx_is_forward_program(w_shape, strides, pads, dilation, groups)):
    return entry
  fwd = _USED.get(key_of('fwd', x_shape, w_shape, dtype, strides, pads, dilation, groups))
  if fwd is None or fwd['impl'] not in tiles or fwd['impl'] == entry['impl']:
    return entry
  return {**entry, 'impl': fwd['impl'], 'source': entry['source'] + '; the forward\'s tile'}


def _fixed_entry(impl, pass_, x_shape, w_shape, dtype, strides, pads, dilation, groups) -> dict:
  if impl == 'fast':
    chosen = conv_fast.fixed_plan(pass_, x_shape, w_shape, dtype, strides, pads, dilation, groups)
  elif impl in conv_fast.PASS_IMPLS:
    chosen = impl
  else:
    raise ValueError(f'CNN_JAX_CONV_AUTOTUNE={impl!r}: use measure, fast or one of '
                     f'{list(conv_fast.PASS_IMPLS)}.')
  return dict(impl=chosen, source='fast rules' if impl == 'fast' else f'fixed ({impl})')


def tuning_seconds() -> float:
  """Seconds this process spent timing candidates (0 when every plan came from the cache)."""
  return _SPENT[0]


def used_plans() -> dict[str, dict]:
  """{key: entry} of every conv pass traced with impl 'auto' in this process so far."""
  with _LOCK:
    return dict(_USED)


def write_used_plans(path: str | os.PathLike) -> None:
  """Writes `used_plans()` with the machine key to `path` (a run's conv_plan.json)."""
  plan_cache.write_json(path, dict(machine=plan_cache.machine(), cache=str(plan_cache.path()),
                                   plans=used_plans()))


def reset() -> None:
  """Forgets the in-memory plans (the file is re-read on the next choice). For tests."""
  with _LOCK:
    _PLANS.clear()
    _USED.clear()
    _LOADED[0] = False
    _SPENT[0] = 0.0


def conv_auto(x: jax.Array, w: jax.Array, strides: int | Sequence[int] = 1,
              padding: Padding = 'VALID', dilation: int | Sequence[int] = 1,
              groups: int = 1) -> jax.Array:
  """Convolution whose forward, dx and dw passes each use the formulation measured fastest
  on this machine for these shapes (`choose`). Args and returns as `ops.conv.conv`:
  x `[N, *spatial, C_in]`, w `[*k, C_in/groups, C_out]` -> `[N, *out, C_out]`.
  """
  check(x, w, groups)
  strides, dilation, pads, _ = geometry(x, w, strides, padding, dilation)
  # Eager (op-by-op) calls, e.g. an un-jitted model.init, are not worth timing: 'fast' rules.
  chooser = choose if isinstance(x, jax.core.Tracer) else conv_fast.fixed_plan
  return conv_fast.conv_planned(x, w, strides, tuple(map(tuple, pads)), dilation, groups, chooser)
