"""Faster R-CNN: the proposal stage vs torchvision's, inference and train step throughput.

Workloads: `ops.rpn.proposals` vmapped over B images on the seeded RPN outputs of
`_faster_rcnn_reference.workloads` (decode, per-level top-k, clip, remove small, NMS 0.7,
top-N), against torchvision's decode + `filter_proposals` on the same arrays (impl
'reference', joined from `config.external`); the whole detector's inference (backbone, RPN,
proposals, RoIAlign, box head, post-process) on B canvases; its train step (anchor and RoI
sampling, the four losses, gradient, AdamW) on B canvases with 1..4 boxes each; with
`config.yolo`, the YOLO experiment's detector's inference on the same B canvases. Images/s is
the items/s column; compile time is its own column (bench.Case's harness).

Config keys (besides those of `tasks.benchmark`): smoke; model (models.faster_rcnn.FasterRCNN
fields, e.g. the faster_rcnn_canvas experiment's `model` block, name dropped); image (side);
channels; infer_batch; train_batch; yolo (widths, head_width, anchors, score_threshold,
iou_threshold, max_detections; empty = no YOLO row).
"""
import importlib.util
import os

import jax
import jax.numpy as jnp
import numpy as np
import optax

from cnn_jax import bench
from cnn_jax.benchmarks import _faster_rcnn_reference as ref
from cnn_jax.losses.faster_rcnn import faster_rcnn_losses
from cnn_jax.models.faster_rcnn import FasterRCNN
from cnn_jax.ops import rpn

BASELINE = 'reference'


def _proposal_case(w: dict) -> bench.Case:
  objectness, deltas, anchors, sizes = ref.inputs(w)
  size = (w['image'], w['image'])
  fn = jax.vmap(lambda o, d: rpn.proposals(o, d, jnp.asarray(anchors), sizes, size, w['pre'],
                                           w['post'], ref.NMS))
  return bench.Case(ref.name(w), 'jax', fn, (objectness, deltas), flops=0.0,
                    info=dict(w, items=w['batch']))


def _targets(batch: int, size: int, seed: int = 0):
  """1..4 boxes 8..24 px per image (padded to 4), labels 1..10, validity."""
  rng = np.random.default_rng(seed)
  wh = rng.uniform(8, 24, (batch, 4, 2))
  xy = rng.uniform(0, size - 24, (batch, 4, 2))
  boxes = np.concatenate([xy, xy + wh], -1).astype(np.float32)
  labels = rng.integers(1, 11, (batch, 4)).astype(np.int32)
  valid = np.arange(4)[None] < rng.integers(1, 5, (batch, 1))
  return boxes, labels, valid


def _model_cases(config) -> list[bench.Case]:
  m = {k: tuple(v) if isinstance(v, list) else v for k, v in config.model.to_dict().items()}
  m.pop('name', None)
  m['backbone'] = m.get('backbone') or None
  model = FasterRCNN(num_classes=11, **m)
  size, ch = config.image, config.channels
  x1 = jnp.zeros((1, size, size, ch))
  variables = jax.jit(lambda k: model.init(k, x1))(jax.random.key(0))
  params = variables['params']
  state = {k: v for k, v in variables.items() if k != 'params'}
  tx = optax.adamw(1e-3)
  rng = np.random.default_rng(1)

  def infer(params, state, images):
    return model.apply({'params': params, **state}, images)

  def train_step(params, state, opt, images, boxes, labels, valid, key):
    def loss_fn(p):
      out, new = model.apply({'params': p, **state}, images, train=True,
                             targets=(boxes, labels, valid), key=key, mutable=list(state))
      return sum(faster_rcnn_losses(out).values()), new
    (loss, new), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
    updates, opt = tx.update(grads, opt, params)
    return optax.apply_updates(params, updates), new, opt, loss

  bi, bt = config.infer_batch, config.train_batch
  images_i = rng.uniform(0, 1, (bi, size, size, ch)).astype(np.float32)
  images_t = rng.uniform(0, 1, (bt, size, size, ch)).astype(np.float32)
  shape = f'{size}x{size}x{ch}'
  return [
      bench.Case(f'faster_rcnn inference {bi}x{shape}', 'jax', infer,
                 (params, state, images_i), info=dict(batch=bi, image=[size, size], items=bi)),
      bench.Case(f'faster_rcnn train step {bt}x{shape}', 'jax', train_step,
                 (params, state, tx.init(params), images_t, *_targets(bt, size),
                  jax.random.key(2)), info=dict(batch=bt, image=[size, size], items=bt))]


def _yolo_case(config) -> bench.Case:
  """The YOLO experiment's detector (model + decode + per-class NMS) on the same canvases, for
  the side-by-side table: config.yolo holds its widths, head_width, anchors and thresholds."""
  from cnn_jax.models.yolo import YOLO
  from cnn_jax.ops import yolo
  y = config.yolo
  anchors = jnp.asarray(y.anchors, jnp.float32)
  model = YOLO(num_classes=10, num_anchors=anchors.shape[0], widths=tuple(y.widths),
               head_width=y.head_width, conv_impl='xla')
  size, ch, b = config.image, config.channels, config.infer_batch
  variables = jax.jit(lambda k: model.init(k, jnp.zeros((1, size, size, ch))))(jax.random.key(0))

  def infer(variables, images):
    raw = model.apply(variables, images, train=False)
    return jax.vmap(lambda r: yolo.postprocess(r, anchors, model.stride(), (size, size),
                                               y.score_threshold, y.iou_threshold,
                                               y.max_detections))(raw)

  images = np.random.default_rng(1).uniform(0, 1, (b, size, size, ch)).astype(np.float32)
  return bench.Case(f'yolo inference {b}x{size}x{size}x{ch}', 'jax', infer, (variables, images),
                    info=dict(batch=b, image=[size, size], items=b))


def cases(config) -> list[bench.Case]:
  """The JAX cases (module docstring); refreshes the reference JSON when torch is importable."""
  external = list(config.external)
  if external and all(importlib.util.find_spec(m) for m in ('torch', 'torchvision')):
    ref.write(ref.reference_results(config.smoke, runs=config.runs), external[0])
  elif external and not os.path.exists(external[0]):
    print('(no reference timings: run `python cnn_jax/benchmarks/_faster_rcnn_reference.py '
          f'--out {external[0]}` in a throwaway venv with torch and torchvision to add them)')
  out = [_proposal_case(w) for w in ref.workloads(config.smoke)] + _model_cases(config)
  return out + ([_yolo_case(config)] if config.get('yolo') else [])
