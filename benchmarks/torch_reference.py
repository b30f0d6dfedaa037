"""PyTorch timings of the conv / pool benchmark workloads, for the side-by-side tables.

Run in a throwaway venv that has torch (cnn_jax never imports torch):
  torchref/bin/python benchmarks/torch_reference.py conv   # -> torch_results/conv.json
  torchref/bin/python benchmarks/torch_reference.py pool   # -> torch_results/pool.json
  (torchref: a throwaway venv with torch==2.14.1 torchvision==0.29.1, see docs/design.md)

Same workloads and names as `cnn_jax/benchmarks/_shapes.py` (read from there, without
importing jax), same protocol as `cnn_jax.bench`: warm-up, `runs` timed samples, median,
FLOPs counted the same way (fwd+bwd = 3x forward for conv). Each workload is timed in
NCHW and channels_last and the faster layout is kept (recorded in `info.layout`). The JSON
has `cnn_jax.bench.write_json`'s format, so `config.external` can merge it into a table.
"""
import json
import math
import os
import platform
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
from cnn_jax._cpu import cpu_model  # noqa: E402  (standard library only)
from cnn_jax.benchmarks import _shapes  # noqa: E402  (plain data, no jax)
from cnn_jax.benchmarks._boxes_reference import _time  # noqa: E402  (the same timing protocol)

RUNS, WARMUP = 10, 2


def result(name, samples, number, flops, info):
  median = statistics.median(samples)
  q = np.percentile(samples, [10, 90])
  return dict(name=name, impl='torch', compile_s=None, median_s=median, min_s=min(samples),
              max_s=max(samples), p10_s=float(q[0]), p90_s=float(q[1]), runs=len(samples),
              number=number, flops=flops, gflops=flops / median / 1e9 if flops else None,
              source=f'torch {torch.__version__}', info=info, samples_s=samples)


def fmt(t, layout):
  return t.contiguous(memory_format=torch.channels_last if t.ndim == 4 else
                      torch.channels_last_3d) if layout == 'channels_last' else t.contiguous()


def conv_cases():
  out = []
  for name, n, spatial, c_in, kernel, c_out, strides, padding, groups in _shapes.CONV:
    conv = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[len(spatial)]
    pad = tuple(lo for lo, _ in padding)  # symmetric in every workload
    flops = _shapes.conv_flops(n, spatial, c_in, kernel, c_out, strides, padding, groups)
    for mode in ('fwd', 'fwd+bwd'):
      best = None
      for layout in ('nchw', 'channels_last'):
        x = fmt(torch.randn(n, c_in, *spatial), layout)
        w = fmt(torch.randn(c_out, c_in // groups, *kernel) * 0.1, layout)
        if mode == 'fwd':
          def fn():
            with torch.no_grad():
              conv(x, w, None, strides, pad, 1, groups)
        else:
          x.requires_grad_(True)
          w.requires_grad_(True)
          with torch.no_grad():
            g = fmt(torch.randn_like(conv(x, w, None, strides, pad, 1, groups)), layout)

          def fn():
            x.grad = w.grad = None
            conv(x, w, None, strides, pad, 1, groups).backward(g)
        samples, number = _time(fn, RUNS, WARMUP, 0.02)
        r = result(f'{name} {mode}', samples, number, flops * (1 if mode == 'fwd' else 3),
                   dict(layout=layout, mode=mode))
        print(f"  {r['name']} [{layout}]: median {r['median_s'] * 1e3:.3f} ms "
              f"{r['gflops']:.1f} GFLOP/s", flush=True)
        if best is None or r['median_s'] < best['median_s']:
          best = r
      out.append(best)
  return out


def pool_cases():
  out = []
  for name, n, spatial, c, window, strides, padding, kind in _shapes.POOL:
    f = getattr(F, f'{kind}_pool{len(spatial)}d')
    pad = tuple(lo for lo, _ in padding)
    outs = [(s + lo + hi - k) // st + 1 for s, k, st, (lo, hi) in zip(spatial, window, strides,
                                                                      padding)]
    ops = float(n * math.prod(outs) * c * math.prod(window))
    for mode in ('fwd', 'fwd+bwd'):
      best = None
      for layout in ('nchw', 'channels_last'):
        x = fmt(torch.randn(n, c, *spatial), layout)
        if mode == 'fwd':
          def fn():
            with torch.no_grad():
              f(x, window, strides, pad)
        else:
          x.requires_grad_(True)
          g = fmt(torch.randn(n, c, *outs), layout)

          def fn():
            x.grad = None
            f(x, window, strides, pad).backward(g)
        samples, number = _time(fn, RUNS, WARMUP, 0.02)
        r = result(f'{name} {mode}', samples, number, ops * (1 if mode == 'fwd' else 2),
                   dict(layout=layout, mode=mode))
        print(f"  {r['name']} [{layout}]: median {r['median_s'] * 1e3:.3f} ms", flush=True)
        if best is None or r['median_s'] < best['median_s']:
          best = r
      out.append(best)
  return out


def matmul_peak(n=2048):
  a, b = torch.randn(n, n), torch.randn(n, n)
  samples, _ = _time(lambda: a @ b, RUNS, WARMUP, 0.02)
  return 2 * n ** 3 / statistics.median(samples) / 1e9


def main():
  suite = sys.argv[1] if len(sys.argv) > 1 else 'conv'
  if suite not in ('conv', 'pool'):
    raise SystemExit('usage: torch_reference.py conv|pool')
  torch.manual_seed(0)
  peak = matmul_peak()
  print(f'torch {torch.__version__}, {torch.get_num_threads()} threads, matmul peak {peak:.1f} GFLOP/s')
  results = conv_cases() if suite == 'conv' else pool_cases()
  path = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'torch_results', f'{suite}.json')
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, 'w') as f:
    json.dump(dict(baseline=None, peak_gflops=peak, results=results,
                   machine=dict(cpu=cpu_model(),
                                backend='torch-cpu', threads=torch.get_num_threads(),
                                processor=platform.processor() or platform.machine(),
                                torch=torch.__version__)), f, indent=1)
  print(f'wrote {path}')


if __name__ == '__main__':
  main()
