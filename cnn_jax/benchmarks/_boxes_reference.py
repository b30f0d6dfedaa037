"""Workloads of the `boxes` benchmark suite, and their torchvision / pycocotools timings.

The inputs are numpy and seeded, shared by `cnn_jax.benchmarks.boxes` (the JAX side) and by
this file run as a script in a venv that has torch, torchvision and pycocotools (never a
project dependency): it times the same workloads there and writes a `cnn_jax.bench` JSON
(impl 'reference') that the benchmark task shows next to the JAX rows:

    python cnn_jax/benchmarks/_boxes_reference.py \
        --out benchmarks/torch_results/boxes.json [--smoke]

This file imports neither jax nor cnn_jax (it runs in that other venv).
"""
import argparse
import contextlib
import io
import json
import math
import os
import statistics
import time

import numpy as np

IMAGE = 1000.0  # NMS boxes live in a 1000 x 1000 image, 10 to 100 pixels a side


def sizes(smoke: bool) -> dict:
  """The workload sizes; `smoke` is the tiny variant the tests run."""
  if smoke:
    return dict(nms=(200,), classes=4, rois=16, roi_features=(1, 16, 16, 8), coco_images=4,
                coco_dets=20, coco_classes=3)
  return dict(nms=(1000, 5000, 20000), classes=20, rois=512, roi_features=(2, 50, 50, 256),
              coco_images=50, coco_dets=100, coco_classes=20)


def nms_name(n: int) -> str:
  return f'nms {n} boxes IoU>0.5'


def batched_name(n: int, classes: int) -> str:
  return f'batched_nms {n} boxes {classes} cls'


def roi_name(rois: int, features, mode: str) -> str:
  return f'roi_align {rois}x7x7 {"x".join(map(str, features))} {mode}'


def coco_name(images: int, dets: int) -> str:
  return f'coco mAP {images} imgs x {dets} dets'


def nms_inputs(n: int, classes: int, seed: int = 0):
  """boxes `[n, 4]` xyxy float32, scores `[n]`, labels `[n]` int32."""
  rng = np.random.default_rng(seed)
  xy = rng.uniform(0, IMAGE, (n, 2))
  wh = rng.uniform(10, 100, (n, 2))
  boxes = np.concatenate([xy, xy + wh], 1).astype(np.float32)
  return boxes, rng.uniform(size=n).astype(np.float32), rng.integers(0, classes, n).astype(np.int32)


def roi_inputs(rois: int, features, seed: int = 0):
  """NHWC features, `[K, 4]` boxes in image pixels (stride 16), `[K]` batch index, cotangent."""
  rng = np.random.default_rng(seed)
  n, h, w, c = features
  feats = rng.normal(size=features).astype(np.float32)
  xy = rng.uniform(0, [16 * w * 0.8, 16 * h * 0.8], (rois, 2))
  wh = rng.uniform(16, 16 * min(h, w) * 0.5, (rois, 2))
  boxes = np.concatenate([xy, xy + wh], 1).astype(np.float32)
  index = rng.integers(0, n, rois).astype(np.int32)
  cot = rng.normal(size=(rois, 7, 7, c)).astype(np.float32)
  return feats, boxes, index, cot


def coco_inputs(images: int, dets: int, classes: int, seed: int = 0) -> dict:
  """Padded per-image arrays (the `CocoEvaluator.update` arguments): 10 objects per image
  (1 in 10 a crowd), `dets` detections around them and at random."""
  rng = np.random.default_rng(seed)
  g = 10
  side = np.exp(rng.uniform(np.log(8), np.log(300), (images, g, 2)))
  xy = rng.uniform(0, 640 - side)
  gt = np.round(np.concatenate([xy, xy + side], -1) * 4) / 4
  gt_labels = rng.integers(0, classes, (images, g))
  crowd = rng.uniform(size=(images, g)) < 0.1
  pick = rng.integers(0, g, (images, dets))
  base = np.take_along_axis(gt, pick[..., None], 1)
  wh = np.concatenate([base[..., 2:] - base[..., :2]] * 2, -1)
  det = np.round((base + rng.normal(0, 0.15, base.shape) * wh) * 4) / 4
  det[..., 2:] = np.maximum(det[..., 2:], det[..., :2] + 1)
  det_labels = np.where(rng.uniform(size=(images, dets)) < 0.8,
                        np.take_along_axis(gt_labels, pick, 1),
                        rng.integers(0, classes, (images, dets)))
  return dict(det_boxes=det.astype(np.float32),
              det_scores=(np.round(rng.uniform(size=(images, dets)) * 2 ** 20)
                          / 2 ** 20).astype(np.float32),
              det_labels=det_labels.astype(np.int32), det_valid=np.ones((images, dets), bool),
              gt_boxes=gt.astype(np.float32), gt_labels=gt_labels.astype(np.int32),
              gt_valid=np.ones((images, g), bool), gt_crowd=crowd)


def _time(fn, runs: int, warmup: int, min_sample_s: float):
  """Per-call seconds of `runs` samples, each long enough to beat timer noise (as bench.py)."""
  for _ in range(max(warmup, 1)):
    fn()
  t = time.perf_counter()
  fn()
  once = time.perf_counter() - t
  number = max(1, math.ceil(min_sample_s / max(once, 1e-9))) if once < min_sample_s else 1
  samples = []
  for _ in range(runs):
    t = time.perf_counter()
    for _ in range(number):
      fn()
    samples.append((time.perf_counter() - t) / number)
  return samples, number


def _result(name, samples, number, source, info=None) -> dict:
  q = np.percentile(samples, [10, 90])
  return dict(name=name, impl='reference', compile_s=None, median_s=statistics.median(samples),
              min_s=min(samples), max_s=max(samples), p10_s=float(q[0]), p90_s=float(q[1]),
              runs=len(samples), number=number, flops=None, gflops=None, source=source,
              info=info or {}, samples_s=[float(s) for s in samples])


def _coco_objects(batch: dict, classes: int):
  from pycocotools.coco import COCO
  anns, dets = [], []
  for i in range(batch['gt_boxes'].shape[0]):
    for box, label, crowd in zip(batch['gt_boxes'][i], batch['gt_labels'][i], batch['gt_crowd'][i]):
      x1, y1, x2, y2 = map(float, box)
      anns.append(dict(id=len(anns) + 1, image_id=i + 1, category_id=int(label) + 1,
                       bbox=[x1, y1, x2 - x1, y2 - y1], area=(x2 - x1) * (y2 - y1),
                       iscrowd=int(crowd)))
    for box, label, score in zip(batch['det_boxes'][i], batch['det_labels'][i],
                                 batch['det_scores'][i]):
      x1, y1, x2, y2 = map(float, box)
      dets.append(dict(image_id=i + 1, category_id=int(label) + 1, bbox=[x1, y1, x2 - x1, y2 - y1],
                       score=float(score)))
  gt = COCO()
  gt.dataset = dict(images=[dict(id=i + 1) for i in range(batch['gt_boxes'].shape[0])],
                    annotations=anns, categories=[dict(id=c + 1) for c in range(classes)])
  with contextlib.redirect_stdout(io.StringIO()):
    gt.createIndex()
    dt = gt.loadRes(dets)
  return gt, dt


def reference_results(smoke: bool = False, runs: int = 10, warmup: int = 2,
                      min_sample_s: float = 0.02, log=print) -> list[dict]:
  """Times torchvision's nms / batched_nms / roi_align and pycocotools' COCOeval."""
  import torch
  import torchvision
  from pycocotools.cocoeval import COCOeval
  s = sizes(smoke)
  tv = (f'torchvision {torchvision.__version__} (torch {torch.__version__}, '
        f'{torch.get_num_threads()} threads)')
  out = []

  def add(name, fn, source, info=None):
    samples, number = _time(fn, runs, warmup, min_sample_s)
    out.append(_result(name, samples, number, source, info))
    if log:
      log(f'  {name} [{source.split(" (")[0]}]: median {out[-1]["median_s"] * 1e3:.3f} ms')

  for n in s['nms']:
    boxes, scores, labels = (torch.from_numpy(a) for a in nms_inputs(n, s['classes']))
    add(nms_name(n), lambda: torchvision.ops.nms(boxes, scores, 0.5), tv)
    add(batched_name(n, s['classes']),
        lambda: torchvision.ops.batched_nms(boxes, scores, labels.long(), 0.5), tv)
  feats, boxes, index, cot = roi_inputs(s['rois'], s['roi_features'])
  x = torch.from_numpy(feats.transpose(0, 3, 1, 2).copy())
  rois = torch.from_numpy(np.concatenate([index[:, None].astype(np.float32), boxes], 1))
  g = torch.from_numpy(cot.transpose(0, 3, 1, 2).copy())
  align = lambda t: torchvision.ops.roi_align(t, rois, 7, 1 / 16, 2, True)
  with torch.no_grad():
    add(roi_name(s['rois'], s['roi_features'], 'fwd'), lambda: align(x), tv)

  def fwd_bwd():
    t = x.detach().requires_grad_(True)
    y = align(t)
    y.backward(g)
    return y, t.grad
  add(roi_name(s['rois'], s['roi_features'], 'fwd+bwd'), fwd_bwd, tv)

  from importlib import metadata
  batch = coco_inputs(s['coco_images'], s['coco_dets'], s['coco_classes'])
  gt, dt = _coco_objects(batch, s['coco_classes'])

  def evaluate():
    with contextlib.redirect_stdout(io.StringIO()):
      ev = COCOeval(gt, dt, 'bbox')
      ev.evaluate()
      ev.accumulate()
      ev.summarize()
    return ev.stats
  add(coco_name(s['coco_images'], s['coco_dets']), evaluate,
      f'pycocotools {metadata.version("pycocotools")}',
      info=dict(stats=evaluate().tolist()))
  return out


def write(results: list[dict], path: str) -> None:
  """Writes `results` in `cnn_jax.bench.write_json`'s format."""
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  with open(path, 'w') as f:
    json.dump(dict(baseline=None, peak_gflops=None, machine={}, results=results), f, indent=1)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--out', default='benchmarks/torch_results/boxes.json')
  parser.add_argument('--smoke', action='store_true')
  parser.add_argument('--runs', type=int, default=10)
  args = parser.parse_args()
  write(reference_results(args.smoke, runs=args.runs), args.out)
  print(f'wrote {args.out}')


if __name__ == '__main__':
  main()
