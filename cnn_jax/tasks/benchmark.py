"""The `benchmark` task: time a suite of jitted functions side by side (`cnn_jax.bench`).

    python launch.py --config experiments/bench_conv.py [--workdir runs/bench_conv]

Suite interface (how to add a benchmark): create `cnn_jax/benchmarks/<suite>.py` with

    def cases(config: ml_collections.ConfigDict) -> list[cnn_jax.bench.Case]:
      '''Builds the cases; read suite-specific knobs from `config` (e.g. config.batch).'''

optionally `def measure(config) -> list[bench.Result]` for what the suite times itself
(e.g. a whole training loop, via `bench.summarise`; shown next to the cases of the same
name), and optionally a module constant `BASELINE = '<impl>'` (the impl speedups are relative to
when the config does not set `baseline`) and `COMPARE = '<impl>'` (a second impl, e.g.
'torch', to show time ratios against). Each `Case(name, impl, fn, args, flops)` is one
(workload, variant) pair: consecutive cases with the same `name` form one block of the table
and are timed interleaved (`bench.time_group`: round-robin samples, so the variants see the
same background load). Build large arrays lazily (`args=lambda: (...)`) so only one
workload's inputs are alive at a time. Honour
`config.smoke` if the suite has a `:smoke` variant (tiny shapes, run by the tests).

Config keys read here: experiments/_benchmark.py lists them all with their defaults (task,
suite, smoke, runs, warmup, min_sample_s, peak_n, baseline, compare, external); every
bench_* experiment derives from it. Sequence-valued keys are tuples, which the command line
can override (--config.shapes="('resnet18',)").

`run(config, workdir)` prints the table and, when `workdir` is given, writes
`<workdir>/benchmark.json` (`bench.to_dict`) and returns the `bench.Report`.
"""
import importlib
import json
import os
import pkgutil

from cnn_jax import bench
from cnn_jax.ops import plan_cache

NEEDS_WORKDIR = False  # launch.py: --workdir is optional (only where benchmark.json goes)


def suites() -> list[str]:
  """Names accepted by `config.suite`."""
  import cnn_jax.benchmarks as pkg
  return sorted(m.name for m in pkgutil.iter_modules(pkg.__path__) if not m.name.startswith('_'))


def load_suite(name: str):
  """The module `cnn_jax.benchmarks.<name>`, or a ValueError listing the suites."""
  if name not in suites():
    raise ValueError(f'Unknown benchmark suite {name!r}; choose one of {suites()} (config.suite).')
  return importlib.import_module(f'cnn_jax.benchmarks.{name}')


def run(config, workdir: str | None = None) -> bench.Report:
  """Runs `config.suite`, prints its table, writes benchmark.json to `workdir` if given."""
  suite = load_suite(config.suite)
  cases = suite.cases(config)
  baseline = config.baseline or getattr(suite, 'BASELINE', None)
  compare = config.compare or getattr(suite, 'COMPARE', None)
  external = []
  for path in config.external:
    if os.path.exists(path):
      # Timings from another CPU are not comparable: no ratios against them (issue 16).
      with open(path) as f:
        theirs, ours = json.load(f).get('machine', {}).get('cpu'), plan_cache.machine()['cpu']
      if theirs == ours:
        external += bench.load_results(path)
      else:
        print(f'(external results {path} are STALE: taken on {theirs or "an unrecorded CPU"}, '
              f'this is {ours}; no ratios against them. Refresh them by re-running the script '
              f'that made them on this machine.)')
    else:
      print(f'(external results {path} not found: run the script that makes them to add them)')
  if hasattr(suite, 'measure'):  # things timed outside bench.time_case, e.g. a whole loop
    external += suite.measure(config)
  print(f'benchmark suite {config.suite!r}: {len(cases)} cases on {bench.machine()}')
  report = bench.run(cases, baseline=baseline, runs=config.runs, warmup=config.warmup,
                     min_sample_s=config.min_sample_s, peak_n=config.peak_n, external=external)
  if compare and not any(r.impl == compare for r in report.results):
    compare = None
  print(bench.table(report, compare=compare))
  if workdir:
    os.makedirs(workdir, exist_ok=True)
    bench.write_json(report, os.path.join(workdir, 'benchmark.json'))
  return report
