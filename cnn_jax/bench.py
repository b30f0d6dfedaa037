"""Honest timing of jitted functions, side by side (knows nothing about convnets).

    cases = [bench.Case('matmul 512', 'xla', lambda a, b: a @ b, (a, b)), ...]
    report = bench.run(cases, baseline='xla', runs=20)
    print(bench.table(report)); bench.write_json(report, 'bench.json')

For each case: `jax.jit(fn).lower(*args).compile()` is timed on its own (compile_s), the
compiled executable is warmed up, then timed `runs` times with `block_until_ready`; each
sample repeats the call `number` times (chosen so a sample lasts >= `min_sample_s`, so that
sub-millisecond kernels are not all timer noise) and reports seconds per call. The cases of
one workload (same `name`) are sampled interleaved, round-robin, so that on a shared machine
they see the same background load and their ratios stay honest (`time_group`).

    GFLOP/s = flops / median_s / 1e9,   peak fraction = GFLOP/s / matmul peak,
    speedup vs baseline = baseline median_s / median_s  (> 1: faster than the baseline)

`flops` is the case's own count when given (e.g. 2 M K N for a matmul, 3x forward for
forward + backward), else XLA's cost analysis of the compiled executable. The matmul peak is
a large square `jnp.dot` measured in the same run, so every figure is also a fraction of what
this machine can do right now.
"""
import dataclasses
import functools
import json
import math
import platform
import statistics
import time
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np


@dataclasses.dataclass
class Case:
  """One thing to time.

  Attributes:
    name: the workload (a table row group), e.g. 'resnet18 s1 3x3 64->64 fwd+bwd'.
    impl: the variant being compared on that workload, e.g. 'xla', 'im2col'.
    fn: a function of `*args` returning a pytree of arrays; it is jitted by the harness.
    args: example arguments (arrays or pytrees), or a zero-argument callable returning them
      (built lazily, just before this case is timed, and freed after).
    flops: floating-point operations per call; None asks XLA's cost analysis.
    info: free-form extra fields copied into the result (shapes, dtype, ...).
    compiler_options: XLA options for the harness's jit, or a function of the built args
      returning them (e.g. the runner's whole-step choice, `train.compile_tuning`).
  """
  name: str
  impl: str
  fn: Callable[..., Any]
  args: tuple | Callable[[], tuple] = ()
  flops: float | None = None
  info: dict = dataclasses.field(default_factory=dict)
  compiler_options: dict | Callable[[tuple], dict] | None = None


@dataclasses.dataclass
class Result:
  """Timing of one case. Times in seconds; `samples_s` holds every per-call sample."""
  name: str
  impl: str
  compile_s: float | None
  median_s: float
  min_s: float
  max_s: float
  p10_s: float
  p90_s: float
  runs: int
  number: int
  flops: float | None
  gflops: float | None
  peak_fraction: float | None = None
  speedup: float | None = None       # baseline median / this median, same `name`
  source: str = 'jax'               # 'jax', or where an external result came from
  info: dict = dataclasses.field(default_factory=dict)
  samples_s: list = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Report:
  """All results of one run, with the machine and its measured matmul peak."""
  results: list
  baseline: str | None
  peak_gflops: float | None
  machine: dict


def _block(tree):
  return jax.tree.map(lambda a: a.block_until_ready() if hasattr(a, 'block_until_ready') else a,
                      tree)


def _cost_flops(compiled) -> float | None:
  try:
    cost = compiled.cost_analysis()
  except Exception:  # some backends have no cost model
    return None
  if isinstance(cost, (list, tuple)):
    cost = cost[0] if cost else None
  if not cost or 'flops' not in cost:
    return None
  return float(cost['flops'])


def _sample(call: Callable[[], Any], number: int) -> float:
  t = time.perf_counter()
  for _ in range(number):
    out = call()
  _block(out)
  return (time.perf_counter() - t) / number


def _warm(call: Callable[[], Any], warmup: int, min_sample_s: float) -> int:
  """Runs `warmup` calls, then returns `number`: calls per sample so a sample >= min_sample_s."""
  for _ in range(max(warmup, 1)):
    _block(call())
  once = _sample(call, 1)
  return max(1, math.ceil(min_sample_s / max(once, 1e-9))) if once < min_sample_s else 1


def time_compiled(call: Callable[[], Any], runs: int = 20, warmup: int = 2,
                  min_sample_s: float = 0.02) -> tuple[list[float], int]:
  """Times `call()` (already compiled): returns (per-call seconds of each sample, number).

  Warm-up calls come first; `number` calls per sample make each sample >= min_sample_s.
  """
  number = _warm(call, warmup, min_sample_s)
  return [_sample(call, number) for _ in range(runs)], number


def _summarise(name, impl, compile_s, samples, number, flops, info, source='jax') -> Result:
  q = np.percentile(samples, [10, 90])
  median = statistics.median(samples)
  return Result(name=name, impl=impl, compile_s=compile_s, median_s=median,
                min_s=min(samples), max_s=max(samples), p10_s=float(q[0]), p90_s=float(q[1]),
                runs=len(samples), number=number, flops=flops,
                gflops=flops / median / 1e9 if flops else None, source=source,
                info=dict(info), samples_s=[float(s) for s in samples])


def time_group(cases: Sequence[Case], runs: int = 20, warmup: int = 2,
               min_sample_s: float = 0.02) -> list[Result]:
  """Times cases *interleaved*: sample i of every case is taken before sample i + 1 of any,
  in an order rotated every round.

  On a shared, noisy machine this makes the cases of one workload see the same background
  load, so their ratios stay meaningful even when absolute times drift. Each case is
  compiled first (lower + compile, timed separately) and warmed up.
  """
  prepared = []
  for case in cases:
    args = _block(case.args() if callable(case.args) else case.args)
    t = time.perf_counter()
    options = (case.compiler_options(args) if callable(case.compiler_options)
               else case.compiler_options)
    compiled = jax.jit(case.fn, compiler_options=options or None).lower(*args).compile()
    compile_s = time.perf_counter() - t
    flops = case.flops if case.flops is not None else _cost_flops(compiled)
    call = functools.partial(compiled, *args)
    prepared.append((case, call, compile_s, flops, _warm(call, warmup, min_sample_s)))
  samples = [[] for _ in prepared]
  for r in range(runs):
    # Rotate the order every round: a case that runs right after a memory-hungry one pays
    # its page faults, so no case may always hold the same position.
    for j in range(len(prepared)):
      i = (j + r) % len(prepared)
      samples[i].append(_sample(prepared[i][1], prepared[i][4]))
  return [_summarise(c.name, c.impl, compile_s, s, number, flops, c.info)
          for (c, _, compile_s, flops, number), s in zip(prepared, samples)]


def summarise(name: str, impl: str, samples: Sequence[float], *, number: int = 1,
              compile_s: float | None = None, flops: float | None = None,
              info: dict | None = None, source: str = 'jax') -> Result:
  """A Result from per-call seconds timed elsewhere (e.g. by a training loop itself)."""
  return _summarise(name, impl, compile_s, list(samples), number, flops, info or {}, source)


def time_case(case: Case, runs: int = 20, warmup: int = 2, min_sample_s: float = 0.02) -> Result:
  """Compiles (timed separately: lower + compile), warms up and times one case."""
  return time_group([case], runs, warmup, min_sample_s)[0]


def matmul_peak(n: int = 2048, dtype=jnp.float32, runs: int = 10) -> Result:
  """The machine's practical peak: median time of an n x n @ n x n `jnp.dot` (2 n^3 flops)."""
  a = jax.random.normal(jax.random.key(0), (n, n), dtype)
  b = jax.random.normal(jax.random.key(1), (n, n), dtype)
  case = Case(f'matmul {n}x{n}x{n} {jnp.dtype(dtype).name}', 'peak', jnp.dot, (a, b),
              flops=2.0 * n ** 3)
  return time_case(case, runs=runs, warmup=2)


def machine() -> dict:
  """Backend, device kind and count, CPU, versions: enough to know where numbers came from."""
  dev = jax.devices()[0]
  return dict(backend=jax.default_backend(), device=dev.device_kind,
              devices=jax.device_count(), processor=platform.processor() or platform.machine(),
              python=platform.python_version(), jax=jax.__version__)


def finish(results: Sequence[Result], baseline: str | None,
           peak: Result | None = None) -> Report:
  """Fills peak fractions and speedups (vs the `baseline` impl of the same name)."""
  peak_gflops = peak.gflops if peak is not None else None
  base = {r.name: r.median_s for r in results if r.impl == baseline}
  for r in results:
    if peak_gflops and r.gflops:
      r.peak_fraction = r.gflops / peak_gflops
    if r.name in base:
      r.speedup = base[r.name] / r.median_s
  results = list(results) + ([peak] if peak is not None else [])
  return Report(results=results, baseline=baseline, peak_gflops=peak_gflops, machine=machine())


def run(cases: Sequence[Case], baseline: str | None = None, runs: int = 20, warmup: int = 2,
        min_sample_s: float = 0.02, peak_n: int = 2048, external: Sequence[Result] = (),
        log: Callable[[str], None] | None = print) -> Report:
  """Times every case, measures the matmul peak (`peak_n` = 0 skips it) and builds a Report.

  Consecutive cases with the same name (one workload, several impls) are timed interleaved
  (`time_group`). The peak is measured before and after the cases; the better one is kept.

  Args:
    cases: what to time, in order.
    baseline: the `impl` that speedups are relative to (per case name).
    external: results measured elsewhere (e.g. PyTorch, via `load_results`) to show alongside.
    log: called with one line per finished case (None: silent).
  """
  results = []
  peaks = [matmul_peak(peak_n)] if peak_n else []
  if log and peaks:
    log(f'matmul peak: {peaks[0].gflops:.1f} GFLOP/s ({peaks[0].name}, '
        f'median {peaks[0].median_s * 1e3:.2f} ms)')
  groups: list[list[Case]] = []
  for case in cases:  # consecutive cases of one name are timed interleaved
    if groups and groups[-1][0].name == case.name:
      groups[-1].append(case)
    else:
      groups.append([case])
  for group in groups:
    for r in time_group(group, runs=runs, warmup=warmup, min_sample_s=min_sample_s):
      results.append(r)
      if log:
        g = f'{r.gflops:7.1f} GFLOP/s' if r.gflops else ''
        log(f'  {r.name} [{r.impl}]: compile {r.compile_s:.2f} s, '
            f'median {r.median_s * 1e3:.3f} ms {g}')
  if peak_n:
    peaks.append(matmul_peak(peak_n))
  names = {r.name for r in results}
  results += [dataclasses.replace(e) for e in external if e.name in names]
  # Background load only ever lowers the peak: keep the better of the two measurements.
  peak = max(peaks, key=lambda r: r.gflops) if peaks else None
  report = finish(results, baseline, peak)
  report.machine['peak_gflops_start_end'] = [round(p.gflops, 1) for p in peaks]
  return report


def to_dict(report: Report) -> dict:
  """JSON-ready dict of a Report."""
  return dict(baseline=report.baseline, peak_gflops=report.peak_gflops, machine=report.machine,
              results=[dataclasses.asdict(r) for r in report.results])


def write_json(report: Report, path: str) -> None:
  """Writes `to_dict(report)` to `path`."""
  with open(path, 'w') as f:
    json.dump(to_dict(report), f, indent=1)


def load_results(path: str) -> list[Result]:
  """Reads the results of a JSON written by `write_json` (or an external timer in that format)."""
  with open(path) as f:
    data = json.load(f)
  fields = {f.name for f in dataclasses.fields(Result)}
  return [Result(**{k: v for k, v in r.items() if k in fields}) for r in data['results']]


def items_per_s(r: Result) -> float | None:
  """Throughput: `info['items']` (images, boxes, ... per call) / median seconds, if given."""
  items = r.info.get('items') if r.info else None
  return items / r.median_s if items else None


def _fmt(v, spec, scale=1.0, none='-'):
  return none if v is None else format(v * scale, spec)


def table(report: Report, compare: str | None = None) -> str:
  """Side-by-side text table: one block per case name, one row per impl.

  Columns: compile (s), median and p10-p90 spread (ms), items/s (when a case's info has
  'items'), GFLOP/s, % of matmul peak, speedup vs
  the baseline impl, and (if `compare` names an impl, e.g. 'torch') time ratio vs that impl.
  """
  head = (f'{"case":<38} {"impl":<10} {"compile s":>9} {"median ms":>10} {"p10-p90 ms":>15} '
          f'{"items/s":>9} {"GFLOP/s":>8} {"%peak":>6} {"vs " + str(report.baseline):>10}')
  if compare:
    head += f' {"vs " + compare:>9}'
  lines = [head, '-' * len(head)]
  order = []
  for r in report.results:
    if r.name not in order:
      order.append(r.name)
  for name in order:
    rows = [r for r in report.results if r.name == name]
    ref = next((r for r in rows if r.impl == compare), None)
    for r in rows:
      spread = f'{r.p10_s * 1e3:.2f}-{r.p90_s * 1e3:.2f}'
      line = (f'{name[:38]:<38} {r.impl[:10]:<10} {_fmt(r.compile_s, ".2f"):>9} '
              f'{r.median_s * 1e3:>10.3f} {spread:>15} {_fmt(items_per_s(r), ".0f"):>9} '
              f'{_fmt(r.gflops, ".1f"):>8} '
              f'{_fmt(r.peak_fraction, ".0f", 100):>6} {_fmt(r.speedup, ".2f") + "x":>10}')
      if compare:
        ratio = ref.median_s / r.median_s if ref else None
        line += f' {_fmt(ratio, ".2f") + "x":>9}'
      lines.append(line)
  if report.peak_gflops:
    lines.append(f'matmul peak {report.peak_gflops:.1f} GFLOP/s; speedup = baseline time / time '
                 '(> 1 is faster)')
  return '\n'.join(lines)
