r"""PyTorch eager reference for benchmarks/train_lenet5: the same LeNet-5 step, for comparison.

Run once in a throwaway venv (PyTorch is never a cnn_jax dependency):
  python -m venv torchref && torchref/bin/pip install torch==2.13.0 numpy
  torchref/bin/python benchmarks/torch_lenet5_train.py --out benchmarks/torch_results/train_lenet5.json
  python launch.py --config experiments/bench_train_lenet5.py   # picks the JSON up

Times (a) the bare step on a fixed batch and (b) the loop over MNIST-sized random uint8
batches (numpy -> tensor -> float each step), batch 256, AdamW, 2 threads, and writes them in
cnn_jax.bench's JSON format under the same case names as the JAX suite.
"""
import argparse
import json
import os
import platform
import statistics
import sys
import time

import numpy as np
import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from cnn_jax._cpu import cpu_model  # noqa: E402  (standard library only)


def lenet5():
  return nn.Sequential(
      nn.Conv2d(1, 6, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(),
      nn.MaxPool2d(2), nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84),
      nn.ReLU(), nn.Linear(84, 10))


def result(name, impl, samples, batch):
  q = np.percentile(samples, [10, 90])
  med = statistics.median(samples)
  return dict(name=name, impl=impl, compile_s=None, median_s=med, min_s=min(samples),
              max_s=max(samples), p10_s=float(q[0]), p90_s=float(q[1]), runs=len(samples),
              number=1, flops=None, gflops=None, source=f'torch {torch.__version__} eager',
              info={'items': batch}, samples_s=samples)


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument('--out', required=True)
  parser.add_argument('--batch', type=int, default=256)
  parser.add_argument('--steps', type=int, default=60)
  args = parser.parse_args()
  torch.set_num_threads(2)
  torch.manual_seed(0)
  model = lenet5()
  opt = torch.optim.AdamW(model.parameters(), 1e-3, weight_decay=0.1)
  rng = np.random.default_rng(0)
  images = rng.integers(0, 256, (4000, 32, 32, 1), dtype=np.uint8)
  labels = rng.integers(0, 10, 4000)

  def step(x, y):
    opt.zero_grad(set_to_none=True)
    loss = nn.functional.cross_entropy(model(x), y, label_smoothing=0.1)
    loss.backward()
    opt.step()
    return loss

  x = torch.from_numpy(images[:args.batch]).permute(0, 3, 1, 2).float() / 255
  y = torch.from_numpy(labels[:args.batch])
  for _ in range(5):
    step(x, y)
  bare = []
  for _ in range(args.steps):
    t = time.perf_counter()
    step(x, y)
    bare.append(time.perf_counter() - t)
  loop = []
  for i in range(args.steps):
    t = time.perf_counter()
    idx = rng.integers(0, len(images), args.batch)
    xb = torch.from_numpy(images[idx]).permute(0, 3, 1, 2).float() / 255
    loss = step(xb, torch.from_numpy(labels[idx]))
    if i % 50 == 0:
      loss.item()  # what a progress bar reads
    loop.append(time.perf_counter() - t)
  name = f'lenet5 train b{args.batch}'
  out = dict(baseline=None, peak_gflops=None,
             machine=dict(cpu=cpu_model(),
                          processor=platform.processor(), torch=torch.__version__, threads=2),
             results=[result(name, 'torch step', bare, args.batch),
                      result(name, 'torch loop', loop, args.batch)])
  os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
  with open(args.out, 'w') as f:
    json.dump(out, f, indent=1)
  for r in out['results']:
    print(f"{r['impl']}: median {r['median_s'] * 1e3:.2f} ms, {args.batch / r['median_s']:.0f} img/s")


if __name__ == '__main__':
  main()
