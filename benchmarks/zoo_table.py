r"""Markdown table of a bench_models run (for docs/zoo.md): img/s, compile, memory, vs PyTorch.

  python benchmarks/zoo_table.py runs/bench_models/benchmark.json \
      [benchmarks/torch_results/models.json]

Reads cnn_jax.bench JSON files (the benchmark task's benchmark.json; PyTorch's from
benchmarks/torch_zoo_train.py) and prints one row per (workload, impl): median step time,
img/s = batch / median, compile time, XLA's GFLOP/s and peak memory of the step, and the
time ratio vs PyTorch eager (> 1: cnn_jax faster).
"""
import json
import re
import sys


def main(paths):
  rows, seen = [], set()
  for path in paths:  # benchmark.json may already hold the PyTorch rows: keep each once
    with open(path) as f:
      for r in json.load(f)['results']:
        if r['impl'] != 'peak' and (r['name'], r['impl']) not in seen:
          seen.add((r['name'], r['impl']))
          rows.append(r)
  torch = {r['name']: r for r in rows if r['impl'] == 'torch'}
  print('| workload | impl | median ms | img/s | compile s | GFLOP/s | peak MB | vs torch |')
  print('|---|---|---:|---:|---:|---:|---:|---:|')
  order = list(dict.fromkeys(r['name'] for r in rows))
  rows.sort(key=lambda r: order.index(r['name']))  # group by workload, stable within one
  for r in rows:
    batch = int(re.search(r' b(\d+) ', r['name'] + ' ').group(1))
    ref = torch.get(r['name'])
    fmt = lambda v, spec: '-' if v is None else format(v, spec)
    print(f"| {r['name']} | {r['impl']} | {r['median_s'] * 1e3:.1f} | {batch / r['median_s']:.1f} "
          f"| {fmt(r.get('compile_s'), '.1f')} | {fmt(r.get('gflops'), '.1f')} "
          f"| {fmt(r.get('info', {}).get('peak_mb'), '.0f')} "
          f"| {fmt(ref['median_s'] / r['median_s'] if ref else None, '.2f')} |")


if __name__ == '__main__':
  main(sys.argv[1:])
