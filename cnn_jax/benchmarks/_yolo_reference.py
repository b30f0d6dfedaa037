"""Workloads of the `yolo` benchmark suite, and torchvision's time for the same post-process.

The raw YOLO outputs are numpy and seeded, shared by `cnn_jax.benchmarks.yolo` (the JAX side)
and by this file run as a script in a throwaway venv with torch==2.14.1 torchvision==0.29.1
(never a project dependency), which times the same decode + per-class NMS there (torch ops for
the decode, `torchvision.ops.batched_nms` per image, the top `max_detections`) and writes a
`cnn_jax.bench` JSON (impl 'reference') that the benchmark task joins:

    python cnn_jax/benchmarks/_yolo_reference.py --out benchmarks/torch_results/yolo.json [--smoke]

This file imports no jax (run as a script it imports nothing of cnn_jax either).
"""
import argparse
import json
import os

import numpy as np

try:
  from cnn_jax.benchmarks._boxes_reference import _result, _time, write
except ImportError:  # run as a script in the torch venv, where cnn_jax is not installed
  from _boxes_reference import _result, _time, write

SCORE, IOU, MAX_DET = 0.005, 0.5, 100


def sizes(smoke: bool) -> dict:
  """(batch, grid, anchors, classes, stride) of the post-process workload."""
  if smoke:
    return dict(batch=2, grid=6, anchors=3, classes=4, stride=8)
  return dict(batch=32, grid=12, anchors=5, classes=10, stride=8)


def post_name(s: dict) -> str:
  return (f"yolo post-process {s['batch']}x{s['grid']}x{s['grid']}x{s['anchors']} boxes, "
          f"{s['classes']} classes")


def inputs(s: dict, seed: int = 0):
  """(raw [B, S, S, A, 5 + C] float32, anchors [A, 2] float32)."""
  rng = np.random.default_rng(seed)
  raw = rng.normal(0, 1.5, (s['batch'], s['grid'], s['grid'], s['anchors'],
                            5 + s['classes'])).astype(np.float32)
  raw[..., 4] -= 2.0  # most predictors see background, as in a trained net
  anchors = rng.uniform(10, 40, (s['anchors'], 2)).astype(np.float32)
  return raw, anchors


def reference_results(smoke: bool = False, runs: int = 10) -> list[dict]:
  import torch
  import torchvision
  torch.set_num_threads(2)
  s = sizes(smoke)
  raw, anchors = (torch.from_numpy(a) for a in inputs(s))
  g, stride = s['grid'], s['stride']
  size = g * stride
  rows, cols = torch.meshgrid(torch.arange(g), torch.arange(g), indexing='ij')
  cells = torch.stack([cols, rows], -1).float()[:, :, None, :]

  def post():
    out = []
    centre = (torch.sigmoid(raw[..., :2]) + cells) * stride
    wh = anchors * torch.exp(raw[..., 2:4])
    boxes = torch.cat([centre - wh / 2, centre + wh / 2], -1).clamp(0, size)
    probs = torch.softmax(raw[..., 5:], -1)
    score, label = (torch.sigmoid(raw[..., 4])[..., None] * probs).max(-1)
    for b in range(raw.shape[0]):
      bx, sc, lb = boxes[b].reshape(-1, 4), score[b].reshape(-1), label[b].reshape(-1)
      keep = sc > SCORE
      bx, sc, lb = bx[keep], sc[keep], lb[keep]
      k = torchvision.ops.batched_nms(bx, sc, lb, IOU)[:MAX_DET]
      out.append((bx[k], sc[k], lb[k]))
    return out

  samples, number = _time(post, runs, 2, 0.02)
  return [_result(post_name(s), samples, number, f'torch {torch.__version__} torchvision '
                  f'{torchvision.__version__} (2 threads)', dict(s))]


def machine(threads: int = 2) -> dict:
  """Where the reference was timed: CPU model, cores, threads, load average, versions."""
  import os
  import platform
  import torch
  import torchvision
  cpu = ''
  try:
    with open('/proc/cpuinfo') as f:
      cpu = next((l.split(':', 1)[1].strip() for l in f if l.startswith('model name')), '')
  except OSError:
    pass
  return dict(cpu=cpu or platform.processor(), machine=platform.machine(),
              cores=os.cpu_count(), threads=threads,
              load_average=[round(x, 2) for x in os.getloadavg()],
              torch=torch.__version__, torchvision=torchvision.__version__)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--out', default='benchmarks/torch_results/yolo.json')
  parser.add_argument('--smoke', action='store_true')
  parser.add_argument('--runs', type=int, default=10)
  args = parser.parse_args()
  load_before = os.getloadavg()
  results = reference_results(args.smoke, args.runs)
  write(results, args.out)
  with open(args.out) as f:   # the same JSON, with where it was measured
    data = json.load(f)
  data['machine'] = {**machine(), 'load_average_before': [round(x, 2) for x in load_before]}
  with open(args.out, 'w') as f:
    json.dump(data, f, indent=1)
  print(f'wrote {args.out}')


if __name__ == '__main__':
  main()
