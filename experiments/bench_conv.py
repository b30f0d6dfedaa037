r"""Convolution formulations side by side (cnn_jax.benchmarks.conv).

Command:
  python launch.py --config experiments/bench_conv.py [--workdir runs/bench_conv]

Prints the matmul peak of the machine, then one line per (workload, pass, impl) and a table:
compile time, median and p10-p90 per call, GFLOP/s, % of the matmul peak, speedup vs
`lax.conv` ('xla'), and time ratio vs PyTorch when `benchmarks/torch_results/conv.json`
exists (made by `torchref/bin/python benchmarks/torch_reference.py conv`, a throwaway venv).
With --workdir it also writes benchmark.json.
Tuples can be overridden: --config.shapes="('resnet18',)" --config.passes="('fwd+bwd',)".
Time and result on the 2-core CPU (shared, load ~8, peak measured 62.7 GFLOP/s): 7 min 48 s.
'fast' vs lax.conv, fwd+bwd: LeNet conv1 2.7x, ResNet-18 s3 1.14x, s4 1.36x, depthwise 2.5x,
1x1 5.2x, 3-D 3.9x; ResNet s1/s2 and LeNet conv2 run lax.conv itself (identical HLO). vs
PyTorch on ResNet-18 fwd+bwd: 0.67-0.97x. Full tables: docs/conv_bench.md.
Those 'fast' figures are the previous plan's; the plan was re-derived per pass on the AVX2
CPU (docs/conv_bench.md, 'Per-pass plan'; whole steps: benchmarks/side_by_side.py).
`:smoke` is a tiny variant (two small shapes, xla vs fast, 3 runs) that the tests run.
"""
import os
import runpy

import ml_collections

_FAMILY = runpy.run_path(os.path.join(os.path.dirname(__file__), '_benchmark.py'))


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  c = _FAMILY['base']('conv')
  c.impls = ('xla', 'im2col', 'taps', 'winograd', 'winograd4', 'fast')
  c.passes = ('fwd', 'fwd+bwd')
  c.shapes = ()                 # workload-name prefixes, e.g. ('resnet18',); () = all
  c.transpose = True            # + transpose convs (benchmarks/conv.py TRANSPOSE)
  c.update(runs=10, warmup=2, min_sample_s=0.02, peak_n=2048, baseline='xla', compare='torch',
           external=('benchmarks/torch_results/conv.json',))
  if arg == 'smoke':
    c.update(impls=('xla', 'fast'), smoke=True, runs=3, warmup=1, min_sample_s=0.0, peak_n=128,
             external=(), transpose=False)   # (the suite's cost; --config.transpose=True)
  elif arg:
    raise ValueError(f'Unknown config argument {arg!r}; use nothing or "smoke".')
  return c
