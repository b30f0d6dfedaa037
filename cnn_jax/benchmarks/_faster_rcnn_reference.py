"""Workloads of the `faster_rcnn` benchmark suite's proposal stage, and torchvision's time for it.

The RPN outputs (objectness logits, box deltas) and anchors are numpy and seeded, shared by
`cnn_jax.benchmarks.faster_rcnn` (the JAX side, `ops.rpn.proposals` vmapped) and by this file
run as a script in a throwaway venv with torch==2.14.1 torchvision==0.29.1 (never a project
dependency). There it times torchvision's own proposal stage on the same inputs, in eval mode:
`RegionProposalNetwork.box_coder.decode` then `RegionProposalNetwork.filter_proposals`
(per-level top-k, clip, remove small, score threshold, batched NMS 0.7, top-N), which is what
its `forward` runs after the head and the anchor generator. It writes a `cnn_jax.bench` JSON
(impl 'reference') that the benchmark task joins:

    python cnn_jax/benchmarks/_faster_rcnn_reference.py \
        --out benchmarks/torch_results/faster_rcnn.json [--smoke]

This file imports no jax (run as a script it imports nothing of cnn_jax either).
"""
import argparse
import json
import os

import numpy as np

from cnn_jax._cpu import cpu_model

try:
  from cnn_jax.benchmarks._boxes_reference import _result, _time
except ImportError:  # run as a script in the torch venv, where cnn_jax is not installed
  from _boxes_reference import _result, _time

NMS = 0.7


def workloads(smoke: bool) -> list[dict]:
  """Proposal workloads: batch, image side, feature grids per level, anchors per cell, top-n.

  'canvas': the faster_rcnn_canvas model at test time (64x64, stride 4, 9 anchors); 'coco':
  one feature level of an 800x800 image at stride 16 with 15 anchors, torchvision's test-time
  1000 / 1000 (a C4 model's proposal stage).
  """
  if smoke:
    return [dict(tag='smoke', batch=2, image=32, grids=(4,), anchors=3, pre=20, post=10)]
  return [dict(tag='canvas', batch=50, image=64, grids=(16,), anchors=9, pre=300, post=100),
          dict(tag='coco', batch=2, image=800, grids=(50,), anchors=15, pre=1000, post=1000)]


def name(w: dict) -> str:
  m = sum(g * g for g in w['grids']) * w['anchors']
  return (f"rpn proposals {w['tag']} {w['batch']}x{m} anchors top {w['pre']}->{w['post']} "
          f"NMS {NMS}")


def inputs(w: dict, seed: int = 0):
  """(objectness [B, M], deltas [B, M, 4], anchors [M, 4] xyxy, level sizes), float32.

  Anchors tile each level's grid (stride = image / grid) with `anchors` random shapes; the
  logits are spread so that a few anchors stand out, as in a trained RPN.
  """
  rng = np.random.default_rng(seed)
  b, a = w['batch'], w['anchors']
  anchors, sizes = [], []
  for g in w['grids']:
    stride = w['image'] / g
    wh = rng.uniform(0.5, 3.0, (a, 2)) * stride
    ys, xs = np.meshgrid(np.arange(g) * stride, np.arange(g) * stride, indexing='ij')
    c = np.stack([xs, ys], -1).reshape(-1, 1, 2)
    anchors.append(np.concatenate([c - wh / 2, c + wh / 2], -1).reshape(-1, 4))
    sizes.append(g * g * a)
  anchors = np.concatenate(anchors).astype(np.float32)
  m = anchors.shape[0]
  objectness = rng.normal(-2.0, 2.0, (b, m)).astype(np.float32)
  deltas = rng.normal(0, 0.2, (b, m, 4)).astype(np.float32)
  return objectness, deltas, anchors, sizes


def reference_results(smoke: bool = False, runs: int = 10) -> list[dict]:
  import torch
  import torchvision
  from torchvision.models.detection.anchor_utils import AnchorGenerator
  from torchvision.models.detection.rpn import RegionProposalNetwork, RPNHead
  torch.set_num_threads(2)
  out = []
  for w in workloads(smoke):
    objectness, deltas, anchors, sizes = (x if isinstance(x, list) else torch.from_numpy(x)
                                          for x in inputs(w))
    b = w['batch']
    # The head and anchor generator are unused: only decode + filter_proposals are timed.
    rpn = RegionProposalNetwork(AnchorGenerator(), RPNHead(1, 1), 0.7, 0.3, 256, 0.5,
                                dict(training=w['pre'], testing=w['pre']),
                                dict(training=w['post'], testing=w['post']), NMS).eval()
    shapes = [(w['image'], w['image'])] * b

    def propose():
      with torch.no_grad():
        boxes = rpn.box_coder.decode(deltas.reshape(-1, 4), [anchors] * b).view(b, -1, 4)
        return rpn.filter_proposals(boxes, objectness.reshape(-1, 1), shapes, sizes)

    samples, number = _time(propose, runs, 2, 0.02)
    out.append(_result(name(w), samples, number, f'torch {torch.__version__} torchvision '
                       f'{torchvision.__version__} (2 threads)', dict(w, items=b)))
  return out


def write(results: list[dict], path: str, threads: int = 2) -> None:
  """`results` in `cnn_jax.bench.write_json`'s format, with the CPU they were taken on."""
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  with open(path, 'w') as f:
    json.dump(dict(baseline=None, peak_gflops=None, results=results,
                   machine=dict(cpu=cpu_model(), backend='torch-cpu', threads=threads)), f,
              indent=1)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--out', default='benchmarks/torch_results/faster_rcnn.json')
  parser.add_argument('--smoke', action='store_true')
  parser.add_argument('--runs', type=int, default=10)
  args = parser.parse_args()
  write(reference_results(args.smoke, args.runs), args.out)
  print(f'wrote {args.out}')


if __name__ == '__main__':
  main()
