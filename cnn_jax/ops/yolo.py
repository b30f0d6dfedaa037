"""YOLOv2 on an S_h x S_w grid with A anchors: targets, decoding, post-processing (course §3).

The network's raw output per image is `[S_h, S_w, A, 5 + C]`: for anchor a of cell (row i,
column j), t = (tx, ty, tw, th), the objectness logit to and C class logits. Decoding
(`ops.boxes.yolo_decode`):

    bx = (σ(tx) + j) stride      bw = pw exp(tw)       p_c = σ(to)
    by = (σ(ty) + i) stride      bh = ph exp(th)       P(class c | object) = softmax(logits)_c

and the course's detection score is p_c x P(class | object).

Targets (`build_targets`, one image, static shapes): each valid object goes to the cell that
holds its centre (`ops.boxes.yolo_cells`, exact at cell borders) and to the anchor whose
shape fits it best (IoU of centred boxes, `ops.anchor_kmeans.wh_iou`). **Collisions**: when
two objects claim the same (cell, anchor), the one with the higher anchor IoU keeps it (on a
tie, the lower slot index); the other gets no target of its own (YOLOv2's limitation) but
still counts for the no-object ignore rule of the loss, and `assigned` reports it, so the
fraction lost can be measured (`assignment_rate`).

Post-processing (`postprocess`, one image; `jax.vmap` it over a batch): every (cell, anchor)
box with its best class c* and score p_c x P(c* | object); boxes with score <= the score
threshold (the course's 0.6 is a config value) are dropped, the rest go through per-class
NMS with torchvision's semantics (suppress when IoU > threshold, classes never suppress
each other), the best `max_detections` kept, padded with a validity mask. The NMS is
`top_k_per_class_nms`: the result of `ops.nms.batched_nms` truncated to max_detections, by an
early-exit scan that is much cheaper for this truncated case, vmapped or not.
"""
from typing import NamedTuple

import jax
import jax.numpy as jnp

from cnn_jax.ops import boxes as box_ops
from cnn_jax.ops.anchor_kmeans import wh_iou


class Detections(NamedTuple):
  """Per image, padded to D: boxes `[D, 4]` xyxy, scores `[D]`, labels `[D]` int32 (-1
  padding), valid `[D]` bool."""
  boxes: jax.Array
  scores: jax.Array
  labels: jax.Array
  valid: jax.Array


def grid_cells(grid: tuple[int, int], num_anchors: int) -> jax.Array:
  """`[S_h, S_w, A, 2]` float32 (column j, row i) of every prediction."""
  rows, cols = jnp.meshgrid(jnp.arange(grid[0]), jnp.arange(grid[1]), indexing='ij')
  cells = jnp.stack([cols, rows], -1).astype(jnp.float32)
  return jnp.broadcast_to(cells[:, :, None, :], (*grid, num_anchors, 2))


def decode(raw: jax.Array, anchors: jax.Array, stride: float) -> dict:
  """raw `[..., S_h, S_w, A, 5 + C]` -> {'boxes' xyxy pixels `[..., S_h, S_w, A, 4]`,
  'objectness' σ(to) `[..., S_h, S_w, A]`, 'class_probs' softmax `[..., S_h, S_w, A, C]`}."""
  grid, a = raw.shape[-4:-2], raw.shape[-2]
  boxes = box_ops.yolo_decode(raw[..., :4], grid_cells(grid, a), jnp.asarray(anchors), stride)
  return {'boxes': boxes, 'objectness': jax.nn.sigmoid(raw[..., 4]),
          'class_probs': jax.nn.softmax(raw[..., 5:], axis=-1)}


def build_targets(boxes: jax.Array, labels: jax.Array, valid: jax.Array, anchors: jax.Array,
                  grid: tuple[int, int], stride: float) -> dict:
  """Training targets of one image (module docstring for the rules).

  Args:
    boxes: `[N, 4]` xyxy pixels (padded); labels: `[N]` int; valid: `[N]` bool.
    anchors: `[A, 2]` (w, h) pixels. grid: (S_h, S_w). stride: pixels per cell.
  Returns:
    {'object' `[S_h, S_w, A]` bool: the predictor has an object,
     'offset' `[S_h, S_w, A, 2]`: the centre's position in its cell, (bx / stride - j, ...) in [0, 1),
     'log_wh' `[S_h, S_w, A, 2]`: (log(bw / pw), log(bh / ph)),
     'label' `[S_h, S_w, A]` int32, 'box' `[S_h, S_w, A, 4]` xyxy,
     'assigned' `[N]` bool: the object got a predictor of its own (valid and not displaced)}.
  """
  anchors = jnp.asarray(anchors, jnp.float32)
  sh, sw = grid
  a = anchors.shape[0]
  n = boxes.shape[0]
  valid = jnp.asarray(valid, bool)
  cells = box_ops.yolo_cells(boxes, stride)
  col = jnp.clip(cells[:, 0], 0, sw - 1)
  row = jnp.clip(cells[:, 1], 0, sh - 1)
  wh = jnp.maximum(boxes[:, 2:] - boxes[:, :2], 1e-6)
  fit = wh_iou(wh, anchors)                                   # [N, A]
  best = jnp.argmax(fit, axis=1)
  priority = jnp.max(fit, axis=1)
  slot = (row * sw + col) * a + best                          # [N]
  idx = jnp.arange(n)
  # m displaces n: same slot, both valid, higher priority, or equal and a lower index.
  beats = (priority[None, :] > priority[:, None]) | (
      (priority[None, :] == priority[:, None]) & (idx[None, :] < idx[:, None]))
  displaced = jnp.any((slot[None, :] == slot[:, None]) & valid[None, :] & beats
                      & (idx[None, :] != idx[:, None]), axis=1)
  assigned = valid & ~displaced
  owner = (slot[:, None] == jnp.arange(sh * sw * a)[None, :]) & assigned[:, None]  # [N, G]
  has = owner.any(0)
  who = jnp.argmax(owner, axis=0)                             # object index per predictor
  centre = (boxes[who, :2] + boxes[who, 2:]) / 2
  cell_xy = jnp.stack([col[who], row[who]], -1).astype(jnp.float32)
  offset = centre / stride - cell_xy
  anchor_wh = anchors[jnp.arange(sh * sw * a) % a]
  log_wh = jnp.log(wh[who] / anchor_wh)
  shape = (sh, sw, a)
  zero = lambda x: jnp.where(has.reshape(-1, *([1] * (x.ndim - 1))), x, 0)
  return {'object': has.reshape(shape),
          'offset': zero(offset).reshape(*shape, 2),
          'log_wh': zero(log_wh).reshape(*shape, 2),
          'label': zero(jnp.asarray(labels, jnp.int32)[who]).reshape(shape),
          'box': zero(boxes[who]).reshape(*shape, 4),
          'assigned': assigned}


def assignment_rate(boxes, valid, anchors, grid, stride) -> jax.Array:
  """Fraction of the valid objects of a batch `[B, N, ...]` that get a predictor of their own."""
  def one(b, v):
    return build_targets(b, jnp.zeros(b.shape[0], jnp.int32), v, anchors, grid, stride)['assigned']
  assigned = jax.vmap(one)(boxes, valid)
  return assigned.sum() / jnp.maximum(jnp.sum(valid), 1)


def top_k_per_class_nms(boxes: jax.Array, scores: jax.Array, labels: jax.Array,
                        iou_threshold: float, max_detections: int, score_threshold: float,
                        pre_nms_top_k: int | None = None) -> jax.Array:
  """Per-class NMS truncated to the best `max_detections` K: the indices of
  `ops.nms.batched_nms(boxes, scores, labels, iou_threshold, K, score_threshold=...,
  pre_nms_top_k=...)` (torchvision's batched_nms + [:K]), computed by one early-exit scan.

  Boxes are visited once in decreasing score (stable: ties by input index). A box is kept when
  no kept box of its class overlaps it by IoU > iou_threshold; that decision only involves
  higher-scoring boxes of its class, so it equals per-class greedy NMS, and the first K kept
  are the K best of the per-class result. The scan stops at K kept boxes or at the first box
  at or below the score threshold. Work O(visited x K) against a [K, 4] buffer of kept boxes,
  instead of ops.nms's per-class sweep of every box, whose `cond`/`switch` run every branch
  under `vmap`: on the yolo benchmark (32 images x 720 boxes, K = 100) about 14x faster
  vmapped. Under `vmap` the loop runs as long as the batch's longest scan.

  Args: boxes `[N, 4]` xyxy, scores `[N]` (NaN never kept), labels `[N]` int >= 0.
  Returns: `[K]` int32 indices into the inputs, decreasing score, -1 padded.
  """
  n, k = boxes.shape[0], max_detections
  ok = ~jnp.isnan(scores) & (scores > score_threshold)
  order = jnp.argsort(jnp.where(ok, scores, -jnp.inf), descending=True,
                      stable=True).astype(jnp.int32)
  sboxes, slabels, alive = box_ops.sanitize(boxes[order]), labels[order], ok[order]
  areas = box_ops.box_area(sboxes)
  visit = n if pre_nms_top_k is None else min(pre_nms_top_k, n)

  def cond(state):
    i, count = state[:2]
    return (i < visit) & (count < k) & alive[jnp.minimum(i, n - 1)]  # sorted: dead from here on

  def body(state):
    i, count, kept_boxes, kept_areas, kept_labels, out = state
    b = sboxes[i]
    w = jnp.maximum(jnp.minimum(b[2], kept_boxes[:, 2]) - jnp.maximum(b[0], kept_boxes[:, 0]), 0)
    h = jnp.maximum(jnp.minimum(b[3], kept_boxes[:, 3]) - jnp.maximum(b[1], kept_boxes[:, 1]), 0)
    inter = w * h
    union = areas[i] + kept_areas - inter   # empty slots: label -1, never match
    iou = jnp.where(union > 0, inter / jnp.where(union > 0, union, 1), 0)
    keep = ~jnp.any((iou > iou_threshold) & (kept_labels == slabels[i]))
    slot = jnp.where(keep, count, k)        # k is out of range: the writes are dropped
    put = lambda buf, v: buf.at[slot].set(v, mode='drop')
    return (i + 1, count + keep, put(kept_boxes, b), put(kept_areas, areas[i]),
            put(kept_labels, slabels[i]), put(out, order[i]))

  state = (jnp.int32(0), jnp.int32(0), jnp.zeros((k, 4), sboxes.dtype),
           jnp.zeros((k,), sboxes.dtype), jnp.full((k,), -1, slabels.dtype),
           jnp.full((k,), -1, jnp.int32))
  return jax.lax.while_loop(cond, body, state)[-1]


def postprocess(raw: jax.Array, anchors: jax.Array, stride: float, image_size: tuple[int, int],
                score_threshold: float = 0.6, iou_threshold: float = 0.5,
                max_detections: int = 100, pre_nms_top_k: int | None = None) -> Detections:
  """One image's raw output `[S_h, S_w, A, 5 + C]` -> Detections padded to max_detections
  (boxes clipped to the image (H, W)); module docstring for the rules. jit/vmap-safe."""
  d = decode(raw, anchors, stride)
  c = raw.shape[-1] - 5
  boxes = box_ops.clip_boxes(d['boxes'].reshape(-1, 4), image_size)
  probs = d['class_probs'].reshape(-1, c)
  labels = jnp.argmax(probs, axis=-1).astype(jnp.int32)
  scores = d['objectness'].reshape(-1) * jnp.max(probs, axis=-1)
  kept = top_k_per_class_nms(boxes, scores, labels, iou_threshold, max_detections,
                             score_threshold, pre_nms_top_k)
  ok = kept >= 0
  i = jnp.maximum(kept, 0)
  return Detections(jnp.where(ok[:, None], boxes[i], 0.0), jnp.where(ok, scores[i], 0.0),
                    jnp.where(ok, labels[i], -1), ok)
