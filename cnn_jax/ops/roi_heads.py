"""Fast R-CNN box head, the pure parts: proposal sampling with targets, and post-processing.

One image at a time with static shapes; `vmap` over a batch. torchvision's `RoIHeads`
semantics (select_training_samples, postprocess_detections), masks instead of filtering.

Training samples (Fast R-CNN §2.3): the ground-truth boxes are appended to the proposals;
each candidate is matched to its highest-IoU ground truth (IoU >= 0.5 foreground with that
class, < 0.5 background, class 0); `batch_size` = 512 are drawn with at most 25% foreground;
regression targets are class-specific deltas `encode(gt, proposal)` with weights (10, 10, 5, 5).

Post-processing: per proposal and class c >= 1, box = decode(deltas_c, proposal) clipped to the
image, score = softmax(logits)_c; drop the background column, scores <= 0.05 and boxes smaller
than 1e-2; NMS at IoU 0.5 within each class; keep the 100 best, in decreasing score.
"""
from typing import NamedTuple

import jax
import jax.numpy as jnp

from cnn_jax.ops import boxes as box_ops
from cnn_jax.ops.rpn import BELOW_LOW, balanced_sample, match, sampled_indices, usable_gt
from cnn_jax.ops.yolo import top_k_per_class_nms

BOX_WEIGHTS = (10.0, 10.0, 5.0, 5.0)


class RoISamples(NamedTuple):
  """`rois` `[B, 4]`, `labels` `[B]` int32 (0 background), `targets` `[B, 4]`, `valid` `[B]`."""
  rois: jax.Array
  labels: jax.Array
  targets: jax.Array
  valid: jax.Array


class Detections(NamedTuple):
  """`boxes` `[D, 4]`, `scores` `[D]`, `labels` `[D]` int32, `valid` `[D]` (padding: 0 / False)."""
  boxes: jax.Array
  scores: jax.Array
  labels: jax.Array
  valid: jax.Array


def sample_proposals(key: jax.Array, proposals: jax.Array, proposal_valid: jax.Array,
                     gt_boxes: jax.Array, gt_labels: jax.Array, gt_valid: jax.Array,
                     batch_size: int = 512, positive_fraction: float = 0.25,
                     fg_iou: float = 0.5, bg_iou: float = 0.5,
                     weights=BOX_WEIGHTS) -> RoISamples:
  """The box head's training RoIs of one image (module docstring), `batch_size` rows.

  Args:
    proposals: `[P, 4]` with proposal_valid `[P]` (the RPN's, gradient stopped by the caller).
    gt_boxes: `[G, 4]` xyxy, gt_labels `[G]` int in [1, num_classes), gt_valid `[G]`.
  Rows beyond the available candidates have valid=False (when fewer than batch_size exist).
  Degenerate ground truths (zero width or height) count as padding (ops.rpn.usable_gt).
  """
  if gt_boxes.shape[0] == 0:
    gt_boxes = jnp.zeros((1, 4), proposals.dtype)
    gt_labels, gt_valid = jnp.zeros((1,), jnp.int32), jnp.zeros((1,), bool)
  gt_valid = usable_gt(gt_boxes, gt_valid)
  cand = jnp.concatenate([proposals, gt_boxes.astype(proposals.dtype)])
  cand_valid = jnp.concatenate([proposal_valid, gt_valid])
  matches = match(box_ops.box_iou(gt_boxes, cand), fg_iou, bg_iou, False, gt_valid, cand_valid)
  safe = jnp.maximum(matches, 0)
  labels = jnp.where(matches >= 0, gt_labels[safe], jnp.where(matches == BELOW_LOW, 0, -1))
  labels = jnp.where(cand_valid, labels, -1).astype(jnp.int32)
  pos, neg = balanced_sample(key, labels, batch_size, positive_fraction)
  idx, ok = sampled_indices(pos, neg, min(batch_size, cand.shape[0]))
  rois = cand[idx]
  targets = box_ops.encode(gt_boxes[safe[idx]], rois, weights)
  return RoISamples(rois, jnp.where(ok, labels[idx], 0), jnp.where(ok[:, None], targets, 0), ok)


def postprocess_detections(class_logits: jax.Array, box_regression: jax.Array,
                           proposals: jax.Array, proposal_valid: jax.Array,
                           image_size: tuple[int, int], score_thresh: float = 0.05,
                           nms_thresh: float = 0.5, detections_per_img: int = 100,
                           min_size: float = 1e-2, weights=BOX_WEIGHTS) -> Detections:
  """Final detections of one image (module docstring), `detections_per_img` rows.

  Args:
    class_logits: `[P, C]` (class 0 = background). box_regression: `[P, C * 4]` deltas.
    proposals: `[P, 4]` with proposal_valid `[P]`. image_size: (height, width) to clip to.
  """
  p, c = class_logits.shape
  boxes = box_ops.decode(box_regression.reshape(p, c, 4), proposals[:, None, :], weights)
  boxes = box_ops.clip_boxes(boxes, image_size)[:, 1:].reshape(-1, 4)
  scores = jax.nn.softmax(class_logits, axis=-1)[:, 1:].reshape(-1)
  labels = jnp.tile(jnp.arange(1, c, dtype=jnp.int32), p)
  keep = ((scores > score_thresh) & box_ops.remove_small_boxes(boxes, min_size)
          & jnp.repeat(proposal_valid, c - 1))
  # ops.yolo's early-exit scan: the indices of batched_nms(...)[:D] (equal index for index,
  # tests/test_yolo.py), visiting boxes in score order until D are kept; dropped rows are NaN.
  index = top_k_per_class_nms(boxes, jnp.where(keep, scores, jnp.nan), labels, nms_thresh,
                              detections_per_img, score_thresh)
  ok, safe = index >= 0, jnp.maximum(index, 0)
  return Detections(jnp.where(ok[:, None], boxes[safe], 0), jnp.where(ok, scores[safe], 0),
                    jnp.where(ok, labels[safe], 0), ok)


def fpn_levels(boxes: jax.Array, k_min: int, k_max: int, canonical_scale: float = 224.0,
               canonical_level: int = 4, eps: float = 1e-6) -> jax.Array:
  """Pyramid level index `[K]` int32 in [0, k_max - k_min] of each box `[K, 4]` (FPN eq. 1).

  torchvision's LevelMapper: k = floor(k0 + log2(sqrt(w h) / s0) + eps), clamped to
  [k_min, k_max], minus k_min; k0 = canonical_level (4), s0 = canonical_scale (224, the
  ImageNet crop), level k has stride 2^k.
  """
  k = jnp.floor(canonical_level + jnp.log2(jnp.sqrt(box_ops.box_area(boxes)) / canonical_scale)
                + eps)
  return (jnp.clip(k, k_min, k_max) - k_min).astype(jnp.int32)
