r"""Pooling formulations side by side (cnn_jax.benchmarks.pool).

Command:
  python launch.py --config experiments/bench_pool.py [--workdir runs/bench_pool]

Prints the matmul peak, then one line per (workload, pass, impl) and a table: compile time,
median and p10-p90 per call, window-cell Gop/s, speedup vs `lax.reduce_window` ('xla'), and
time ratio vs PyTorch when `benchmarks/torch_results/pool.json` exists (made by
`/work/torchvenv/bin/python benchmarks/torch_reference.py pool`).
Tuples can be overridden: --config.shapes="('resnet18',)" --config.passes="('fwd+bwd',)".
Time and result on the 2-core CPU (shared, load ~8): 1 min 19 s. 'slices' vs reduce_window:
2-3x on 2x2/2 pools, 1.3-1.8x fwd+bwd on 3x3, 0.01x for the 7x7 global backward (use
ops.pool.global_avg_pool). Full table: docs/conv_bench.md.
`:smoke` is a tiny variant (one small max pool, 3 runs) that the tests run.
"""
import ml_collections


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.task = 'benchmark'
  c.suite = 'pool'
  c.impls = ('xla', 'slices')
  c.passes = ('fwd', 'fwd+bwd')
  c.shapes = ()                 # workload-name prefixes; () = all
  c.smoke = False
  c.runs = 10
  c.warmup = 2
  c.min_sample_s = 0.02
  c.peak_n = 2048
  c.baseline = 'xla'
  c.compare = 'torch'
  c.external = ('benchmarks/torch_results/pool.json',)
  if arg == 'smoke':
    c.smoke = True
    c.runs = 3
    c.warmup = 1
    c.min_sample_s = 0.0
    c.peak_n = 128
    c.external = ()
  elif arg:
    raise ValueError(f'Unknown config argument {arg!r}; use nothing or "smoke".')
  return c
