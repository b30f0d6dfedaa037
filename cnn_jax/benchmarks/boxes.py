"""Detection primitives side by side: NMS, per-class NMS, RoIAlign and COCO mAP.

Workloads (`_boxes_reference.sizes`): greedy NMS at IoU > 0.5 and per-class NMS (20
classes) on 1k / 5k / 20k random boxes; RoIAlign of 512 boxes to 7 x 7 (stride 16,
sampling_ratio 2, aligned) forward and forward + feature gradient; COCO box mAP of
50 images x 100 detections (5,000), 20 classes, crowd boxes included.

impl 'jax' is cnn_jax (jitted; all outputs are static-shaped); impl 'reference' is
torchvision (CPU kernels) and pycocotools on the same numpy inputs, timed by
`_boxes_reference.py` in a venv that has them. When they are importable in this process the
suite times them itself and writes the JSON named first in `config.external`; otherwise it
uses that JSON if it exists (made by the command in `_boxes_reference.py`).

The 'jax' COCO case is the whole evaluation: the matching (JAX, vmapped over images) and
pycocotools' float64 accumulation on the host (a `pure_callback`), returning the 12 stats.
FLOPs are not meaningful here: flops = 0 so no GFLOP/s are shown.

Config keys (besides those of `tasks.benchmark`): smoke (tiny sizes), iou_threshold,
cases (subset of ['nms', 'batched_nms', 'roi_align', 'coco']).
"""
import importlib.util
import os

import jax
import jax.numpy as jnp
import numpy as np

from cnn_jax import bench
from cnn_jax.benchmarks import _boxes_reference as ref
from cnn_jax.metrics import coco
from cnn_jax.ops import nms as nms_ops
from cnn_jax.ops import roi as roi_ops

BASELINE = 'reference'
KINDS = ('nms', 'batched_nms', 'roi_align', 'coco')


def _reference_importable() -> bool:
  return all(importlib.util.find_spec(m) is not None
             for m in ('torch', 'torchvision', 'pycocotools'))


def _coco_case(images: int, dets: int, classes: int) -> bench.Case:
  batch = ref.coco_inputs(images, dets, classes)
  gt_area = ((batch['gt_boxes'][..., 2] - batch['gt_boxes'][..., 0])
             * (batch['gt_boxes'][..., 3] - batch['gt_boxes'][..., 1]))

  def host_accumulate(matches, det_scores, det_labels, gt_labels, gt_valid):
    ev = coco.CocoEvaluator(classes)
    ev.add_matches(matches, det_scores, det_labels, gt_labels, gt_valid)
    return ev.result()['stats'].astype(np.float32)

  def evaluate(det_boxes, det_scores, det_labels, det_valid, gt_boxes, gt_labels, gt_valid,
               gt_crowd, gt_area):
    matches = jax.vmap(coco.coco_match)(det_boxes, det_scores, det_labels, det_valid, gt_boxes,
                                        gt_labels, gt_valid, gt_crowd, gt_area)
    return jax.pure_callback(host_accumulate, jax.ShapeDtypeStruct((12,), jnp.float32),
                             matches, det_scores, det_labels, gt_labels, gt_valid)

  args = tuple(batch[k] for k in ('det_boxes', 'det_scores', 'det_labels', 'det_valid',
                                  'gt_boxes', 'gt_labels', 'gt_valid', 'gt_crowd')) + (gt_area,)
  return bench.Case(ref.coco_name(images, dets), 'jax', evaluate, args, flops=0.0,
                    info=dict(images=images, dets=images * dets, classes=classes))


def cases(config) -> list[bench.Case]:
  """The JAX cases (module docstring); also refreshes the reference JSON when it can."""
  smoke = bool(config.get('smoke', False))
  s = ref.sizes(smoke)
  thr = float(config.get('iou_threshold', 0.5))
  kinds = list(config.get('cases', KINDS) or KINDS)
  external = list(config.get('external', ()) or ())
  if external and _reference_importable():
    print(f'torch, torchvision and pycocotools importable: timing them into {external[0]}')
    ref.write(ref.reference_results(smoke, runs=int(config.get('runs', 10))), external[0])
  elif external and not os.path.exists(external[0]):
    print(f'(no reference timings: run `python '
          f'cnn_jax/benchmarks/_boxes_reference.py --out {external[0]}` in a throwaway venv with '
          'torch, torchvision and pycocotools to add them)')

  out = []
  for n in s['nms']:
    if 'nms' in kinds:
      out.append(bench.Case(ref.nms_name(n), 'jax', lambda b, sc: nms_ops.nms(b, sc, thr),
                            lambda n=n: ref.nms_inputs(n, s['classes'])[:2], flops=0.0,
                            info=dict(boxes=n)))
    if 'batched_nms' in kinds:
      out.append(bench.Case(ref.batched_name(n, s['classes']), 'jax',
                            lambda b, sc, lab: nms_ops.batched_nms(b, sc, lab, thr),
                            lambda n=n: ref.nms_inputs(n, s['classes']), flops=0.0,
                            info=dict(boxes=n, classes=s['classes'])))
  if 'roi_align' in kinds:
    align = lambda f, b, i: roi_ops.roi_align(f, b, i, 7, 1 / 16, 2, True)

    def fwd_bwd(f, b, i, g):
      y, vjp = jax.vjp(lambda f: align(f, b, i), f)
      return y, vjp(g)[0]

    inputs = lambda: ref.roi_inputs(s['rois'], s['roi_features'])
    info = dict(rois=s['rois'], features=list(s['roi_features']), sampling_ratio=2)
    out.append(bench.Case(ref.roi_name(s['rois'], s['roi_features'], 'fwd'), 'jax', align,
                          lambda: inputs()[:3], flops=0.0, info=info))
    out.append(bench.Case(ref.roi_name(s['rois'], s['roi_features'], 'fwd+bwd'), 'jax', fwd_bwd,
                          inputs, flops=0.0, info=info))
  if 'coco' in kinds:
    out.append(_coco_case(s['coco_images'], s['coco_dets'], s['coco_classes']))
  return out
