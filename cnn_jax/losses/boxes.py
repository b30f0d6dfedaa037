"""Box regression losses: pure functions of (predicted boxes, target boxes).

All take xyxy boxes `[..., 4]` (broadcastable) and return the per-box loss `[...]` with
`reduction='none'`, or its 'mean' / 'sum'. The IoU-family losses are 1 - (the similarity
from `cnn_jax.ops.boxes.paired_iou`), with torchvision's eps placement (eps = 1e-7 in the
IoU denominator and the enclosing-box terms), so they equal torchvision's
`generalized_box_iou_loss`, `distance_box_iou_loss`, `complete_box_iou_loss` on valid boxes,
and are finite (never NaN, finite gradients) on degenerate ones.
"""
import jax
import jax.numpy as jnp

from cnn_jax.ops import boxes as box_ops


def _reduce(loss: jax.Array, reduction: str) -> jax.Array:
  if reduction == 'none':
    return loss
  if reduction == 'mean':
    return jnp.mean(loss)
  if reduction == 'sum':
    return jnp.sum(loss)
  raise ValueError(f"reduction must be 'none', 'mean' or 'sum', got {reduction!r}")


def iou_loss(boxes1: jax.Array, boxes2: jax.Array, reduction: str = 'none',
             eps: float = 1e-7) -> jax.Array:
  """L = 1 - IoU, IoU = area(A ∩ B) / (area(A ∪ B) + eps). In [0, 1]."""
  return _reduce(1 - box_ops.paired_iou(boxes1, boxes2, 'iou', eps=eps), reduction)


def generalized_box_iou_loss(boxes1: jax.Array, boxes2: jax.Array, reduction: str = 'none',
                             eps: float = 1e-7) -> jax.Array:
  """L = 1 - GIoU (Rezatofighi et al. 2019). In [0, 2]; still has a gradient when A ∩ B = ∅."""
  return _reduce(1 - box_ops.paired_iou(boxes1, boxes2, 'giou', eps=eps), reduction)


def distance_box_iou_loss(boxes1: jax.Array, boxes2: jax.Array, reduction: str = 'none',
                          eps: float = 1e-7) -> jax.Array:
  """L = 1 - DIoU = 1 - IoU + ρ²(centres) / (c² + eps) (Zheng et al. 2020). In [0, 2]."""
  sim = box_ops.paired_iou(boxes1, boxes2, 'diou', eps=eps, enclosing_eps=eps)
  return _reduce(1 - sim, reduction)


def complete_box_iou_loss(boxes1: jax.Array, boxes2: jax.Array, reduction: str = 'none',
                          eps: float = 1e-7) -> jax.Array:
  """L = 1 - CIoU = 1 - DIoU + α v, v the aspect-ratio term, α not differentiated."""
  sim = box_ops.paired_iou(boxes1, boxes2, 'ciou', eps=eps, enclosing_eps=eps)
  return _reduce(1 - sim, reduction)


def smooth_l1_loss(pred: jax.Array, target: jax.Array, beta: float = 1.0 / 9,
                   reduction: str = 'none') -> jax.Array:
  """Huber-like loss of Fast R-CNN box deltas, elementwise `[...] -> [...]` (or reduced).

      L(d) = 0.5 d² / beta   if |d| < beta,   |d| - 0.5 beta otherwise,   d = pred - target

  beta = 1/9 is torchvision's Faster R-CNN setting; beta = 0 is plain L1.
  """
  d = jnp.abs(pred - target)
  if beta <= 0:
    return _reduce(d, reduction)
  return _reduce(jnp.where(d < beta, 0.5 * d ** 2 / beta, d - 0.5 * beta), reduction)
