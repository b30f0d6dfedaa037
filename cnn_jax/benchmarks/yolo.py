"""YOLO side by side: post-process vs torchvision, inference and train step throughput.

Workloads (`_yolo_reference.sizes`): decode + score threshold + per-class NMS of B images x
S x S x A predictions (`ops.yolo.postprocess` vmapped, against torchvision's decode in torch
ops + `batched_nms` per image from `_yolo_reference.py`, impl 'reference', joined from
`config.external`); the detector's inference (model + post-process) on B canvases; its train
step (loss + gradient + AdamW) on B canvases, both in images/s (the items/s column).

Config keys (besides those of `tasks.benchmark`): smoke, batch (images per call; the
post-process size is the reference's).
"""
import importlib.util
import os

import jax
import jax.numpy as jnp
import numpy as np
import optax

from cnn_jax import bench
from cnn_jax.benchmarks import _yolo_reference as ref
from cnn_jax.losses.yolo import yolo_loss
from cnn_jax.models.yolo import YOLO
from cnn_jax.ops import yolo

BASELINE = 'reference'


def _model_cases(s: dict, batch: int) -> list[bench.Case]:
  size = s['grid'] * s['stride']
  widths = (4, 8, 8) if batch <= 2 else (16, 32, 64)
  model = YOLO(num_classes=s['classes'], num_anchors=s['anchors'], widths=widths,
               head_width=8 if batch <= 2 else 128)
  _, anchors = ref.inputs(s)
  x = jnp.zeros((batch, size, size, 1))
  variables = jax.jit(lambda k: model.init(k, x[:1]))(jax.random.key(0))
  rng = np.random.default_rng(0)
  xy = rng.uniform(0, size - 40, (batch, 6, 2))
  boxes = np.concatenate([xy, xy + rng.uniform(10, 40, (batch, 6, 2))], -1).astype(np.float32)
  labels = rng.integers(0, s['classes'], (batch, 6)).astype(np.int32)
  valid = np.ones((batch, 6), bool)
  tx = optax.adamw(1e-3)
  params, state = variables['params'], {k: v for k, v in variables.items() if k != 'params'}

  def infer(params, state, images):
    raw = model.apply({'params': params, **state}, images, train=False)
    return jax.vmap(lambda r: yolo.postprocess(r, anchors, s['stride'], (size, size), 0.005,
                                               0.5, 100))(raw)

  def train_step(params, state, opt, images, boxes, labels, valid):
    def loss_fn(p):
      raw, new = model.apply({'params': p, **state}, images, train=True, mutable=list(state))
      return yolo_loss(raw, boxes, labels, valid, anchors, s['stride'], (size, size))[0], new
    (loss, new), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
    updates, opt = tx.update(grads, opt, params)
    return optax.apply_updates(params, updates), new, opt, loss

  images = np.random.default_rng(1).uniform(0, 1, (batch, size, size, 1)).astype(np.float32)
  info = dict(batch=batch, image=[size, size], items=batch)
  return [bench.Case(f'yolo inference {batch}x{size}x{size}', 'jax', infer,
                     (params, state, images), info=info),
          bench.Case(f'yolo train step {batch}x{size}x{size}', 'jax', train_step,
                     (params, state, tx.init(params), images, boxes, labels, valid), info=info)]


def cases(config) -> list[bench.Case]:
  """The JAX cases (module docstring); refreshes the reference JSON when torch is importable."""
  s = ref.sizes(config.smoke)
  external = list(config.external)
  if external and all(importlib.util.find_spec(m) for m in ('torch', 'torchvision')):
    ref.write(ref.reference_results(config.smoke, runs=config.runs), external[0])
  elif external and not os.path.exists(external[0]):
    print('(no reference timings: run `python cnn_jax/benchmarks/_yolo_reference.py --out '
          f'{external[0]}` in a throwaway venv with torch and torchvision to add them)')
  raw, anchors = ref.inputs(s)
  post = lambda r: jax.vmap(lambda x: yolo.postprocess(
      x, anchors, s['stride'], (s['grid'] * s['stride'],) * 2, ref.SCORE, ref.IOU,
      ref.MAX_DET))(r)
  out = [bench.Case(ref.post_name(s), 'jax', post, (raw,), flops=0.0, info=dict(s))]
  return out + _model_cases(s, config.batch)
