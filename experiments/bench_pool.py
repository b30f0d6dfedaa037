r"""Pooling formulations side by side (cnn_jax.benchmarks.pool).

Command:
  python launch.py --config experiments/bench_pool.py [--workdir runs/bench_pool]

Prints the matmul peak, then one line per (workload, pass, impl) and a table: compile time,
median and p10-p90 per call, window-cell Gop/s, speedup vs `lax.reduce_window` ('xla'), and
time ratio vs PyTorch when `benchmarks/torch_results/pool.json` exists (made by
`python benchmarks/torch_reference.py pool` in a throwaway venv with torch==2.14.1).
Tuples can be overridden: --config.shapes="('resnet18',)" --config.passes="('fwd+bwd',)".
Time and result on the 2-core CPU (shared, load ~8): 1 min 19 s. 'slices' vs reduce_window:
2-3x on 2x2/2 pools, 1.3-1.8x fwd+bwd on 3x3, 0.01x for the 7x7 global backward (use
ops.pool.global_avg_pool). Full table: docs/conv_bench.md.
`:smoke` is a tiny variant (one small max pool, 3 runs) that the tests run.
"""
import os
import runpy

import ml_collections

_FAMILY = runpy.run_path(os.path.join(os.path.dirname(__file__), '_benchmark.py'))


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  c = _FAMILY['base']('pool')
  c.impls = ('xla', 'slices')
  c.passes = ('fwd', 'fwd+bwd')
  c.shapes = ()                 # workload-name prefixes; () = all
  c.update(runs=10, warmup=2, min_sample_s=0.02, peak_n=2048, baseline='xla', compare='torch',
           external=('benchmarks/torch_results/pool.json',))
  if arg == 'smoke':
    c.update(smoke=True, runs=3, warmup=1, min_sample_s=0.0, peak_n=128, external=())
  elif arg:
    raise ValueError(f'Unknown config argument {arg!r}; use nothing or "smoke".')
  return c
