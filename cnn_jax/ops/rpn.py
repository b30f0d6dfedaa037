"""Region proposal network, the pure parts: proposals, anchor labelling, balanced sampling.

Everything is one image at a time with static shapes (padded arrays + validity masks); `vmap`
over a batch. Semantics are torchvision's `RegionProposalNetwork` / `Matcher` /
`BalancedPositiveNegativeSampler`, with every data-dependent shape replaced by a mask.

Proposals (Faster R-CNN §3.1, torchvision's filter_proposals):

    boxes = decode(deltas, anchors)          weights (1, 1, 1, 1), dw/dh clamped at log(1000/16)
    per level l: keep the k_l = min(pre_nms_top_n, n_l) anchors of largest objectness logit
    clip to the image; drop boxes narrower or lower than min_size (1e-3); p = sigmoid(logit)
    NMS at IoU 0.7 (per level: boxes of different levels never suppress each other)
    keep the post_nms_top_n best, in decreasing p

Anchor labelling (torchvision's Matcher, allow_low_quality_matches): each anchor is matched to
the ground truth of highest IoU; IoU >= high -> that match, IoU < low -> background (-1),
between -> ignored (-2); then every anchor whose IoU equals a ground truth's best IoU gets its
own highest-IoU match back (so each ground truth has at least one anchor, ties included).
"""
from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp

from cnn_jax.ops import boxes as box_ops
from cnn_jax.ops.nms import nms

BELOW_LOW = -1   # matched index of background predictions
BETWEEN = -2     # matched index of ignored predictions (low <= IoU < high)


class Proposals(NamedTuple):
  """`boxes` `[K, 4]` xyxy (0 where padding), `scores` `[K]` sigmoid objectness, `valid` `[K]`."""
  boxes: jax.Array
  scores: jax.Array
  valid: jax.Array


def level_top_k(logits: jax.Array, level_sizes: Sequence[int],
                pre_nms_top_n: int) -> tuple[jax.Array, jax.Array]:
  """Indices `[sum_l k_l]` of the k_l = min(pre_nms_top_n, n_l) largest logits of each level.

  `logits` `[sum_l n_l]` is the levels concatenated (n_l = H_l W_l A). Returns (indices into
  logits, level id of each index); within a level in decreasing logit order (torch.topk).
  """
  if sum(level_sizes) != logits.shape[0]:
    raise ValueError(f'level_sizes {tuple(level_sizes)} must sum to the {logits.shape[0]} anchors')
  idx, lvl, start = [], [], 0
  for l, n in enumerate(level_sizes):
    k = min(pre_nms_top_n, n)
    _, top = jax.lax.top_k(logits[start:start + n], k)
    idx.append(top + start)
    lvl.append(jnp.full((k,), l, jnp.int32))
    start += n
  return jnp.concatenate(idx).astype(jnp.int32), jnp.concatenate(lvl)


def proposals(objectness: jax.Array, deltas: jax.Array, anchors: jax.Array,
              level_sizes: Sequence[int], image_size: tuple[int, int], pre_nms_top_n: int,
              post_nms_top_n: int, nms_thresh: float = 0.7, min_size: float = 1e-3,
              score_thresh: float = 0.0) -> Proposals:
  """RPN proposals of one image (module docstring), `post_nms_top_n` rows padded with valid=False.

  Args:
    objectness: `[M]` logits, levels concatenated, each level in (row, column, anchor) order.
    deltas: `[M, 4]` (dx, dy, dw, dh). anchors: `[M, 4]` xyxy (ops.anchors.multilevel_anchors).
    level_sizes: anchors per level, n_l = H_l W_l A_l (static).
    image_size: (height, width) to clip to.
    pre_nms_top_n: per-level top-k before NMS; post_nms_top_n: K, the output length.
    score_thresh: keep p >= this (torchvision's default 0 keeps all).
  """
  idx, lvl = level_top_k(objectness, level_sizes, pre_nms_top_n)
  # Decoding only the kept anchors is the same arithmetic, elementwise, at k/M of the cost.
  boxes = box_ops.clip_boxes(box_ops.decode(deltas[idx], anchors[idx]), image_size)
  scores = jax.nn.sigmoid(objectness[idx])
  keep = box_ops.remove_small_boxes(boxes, min_size) & (scores >= score_thresh)
  labels = lvl if len(level_sizes) > 1 else None
  kept = nms(boxes, scores, nms_thresh, post_nms_top_n, labels=labels, valid=keep)
  ok = kept.mask
  safe = jnp.maximum(kept.indices, 0)
  return Proposals(jnp.where(ok[:, None], boxes[safe], 0), jnp.where(ok, scores[safe], 0), ok)


def match(iou: jax.Array, high: float, low: float, allow_low_quality_matches: bool,
          gt_valid: jax.Array | None = None, pred_valid: jax.Array | None = None) -> jax.Array:
  """Matched ground-truth index `[N]` int32 of every prediction, or BELOW_LOW (-1) / BETWEEN (-2).

  Args:
    iou: `[G, N]` IoU of G ground truths with N predictions (anchors or proposals).
    high, low: IoU >= high is a match, < low background, in between ignored (torchvision's
      Matcher; the RPN uses 0.7 / 0.3 with low-quality matches, the box head 0.5 / 0.5 without).
    allow_low_quality_matches: restore each ground truth's best predictions (module docstring).
    gt_valid: `[G]` bool, False for padding rows (never matched); no valid ground truth makes
      every prediction background, as torchvision's empty-target path.
    pred_valid: `[N]` bool, False for padding predictions (their result is meaningless; mask
      them afterwards).
  """
  g, n = iou.shape
  ok = jnp.ones((g, n), bool)
  if gt_valid is not None:
    ok &= gt_valid[:, None]
  if pred_valid is not None:
    ok &= pred_valid[None, :]
  q = jnp.where(ok, iou, -1.0)
  if g == 0:
    return jnp.full((n,), BELOW_LOW, jnp.int32)
  best_val = jnp.max(q, axis=0)
  best_gt = jnp.argmax(q, axis=0).astype(jnp.int32)  # ties: the first ground truth, as torch
  matches = jnp.where(best_val >= high, best_gt,
                      jnp.where(best_val < low, BELOW_LOW, BETWEEN)).astype(jnp.int32)
  if allow_low_quality_matches:
    best_per_gt = jnp.max(q, axis=1, keepdims=True)
    restore = jnp.any(ok & (q == best_per_gt), axis=0)
    matches = jnp.where(restore, best_gt, matches)
  return matches


def balanced_sample(key: jax.Array, labels: jax.Array, batch_size: int,
                    positive_fraction: float) -> tuple[jax.Array, jax.Array]:
  """Random fg/bg subset with static shapes: masks (positive `[N]`, negative `[N]`).

  labels `[N]`: >= 1 foreground, 0 background, -1 ignored. As torchvision's sampler:
  n_pos = min(int(batch_size * positive_fraction), #fg), n_neg = min(batch_size - n_pos, #bg),
  each a uniformly random subset (rank of an independent uniform draw, separate keys for fg
  and bg), so the masks have n_pos and n_neg True entries.
  """
  pos, neg = labels >= 1, labels == 0
  n_pos = jnp.minimum(int(batch_size * positive_fraction), jnp.sum(pos))
  n_neg = jnp.minimum(batch_size - n_pos, jnp.sum(neg))
  key_pos, key_neg = jax.random.split(key)

  def pick(k, members, count):
    u = jax.random.uniform(k, labels.shape)
    order = jnp.argsort(jnp.where(members, u, 2.0))
    rank = jnp.zeros(labels.shape, jnp.int32).at[order].set(jnp.arange(labels.shape[0],
                                                                        dtype=jnp.int32))
    return members & (rank < count)

  return pick(key_pos, pos, n_pos), pick(key_neg, neg, n_neg)


def sampled_indices(positive: jax.Array, negative: jax.Array,
                    size: int) -> tuple[jax.Array, jax.Array]:
  """The sampled rows as `size` indices `[size]` (positives first) and a validity mask `[size]`."""
  priority = jnp.where(positive, 2, jnp.where(negative, 1, 0))
  vals, idx = jax.lax.top_k(priority, size)
  return idx.astype(jnp.int32), vals > 0


def usable_gt(gt_boxes: jax.Array, gt_valid: jax.Array) -> jax.Array:
  """gt_valid `[G]` and a positive width and height: the ground truths that can be matched.

  A zero-area box has IoU 0 with everything, so the low-quality rule would match it to every
  anchor, and its encoded log-size target is -inf: inside jit it cannot raise, so it is treated
  as padding (the host-side check, data.canvases.check_boxes, refuses such datasets by name).
  """
  return gt_valid & (gt_boxes[:, 2] > gt_boxes[:, 0]) & (gt_boxes[:, 3] > gt_boxes[:, 1])


def rpn_targets(key: jax.Array, anchors: jax.Array, gt_boxes: jax.Array, gt_valid: jax.Array,
                batch_size: int = 256, positive_fraction: float = 0.5, fg_iou: float = 0.7,
                bg_iou: float = 0.3):
  """RPN training targets of one image: (labels `[M]` float 1/0, sampled `[M]` bool, deltas `[M, 4]`).

  Anchors are labelled by `match` (fg_iou / bg_iou, low-quality matches allowed), then
  `balanced_sample` picks batch_size of them; deltas are `encode(matched gt, anchor)`, weights 1.
  gt_boxes `[G, 4]` with gt_valid `[G]`; G = 0 or no valid row trains all sampled as background.
  Degenerate ground truths (x2 <= x1 or y2 <= y1) count as padding (`usable_gt`).
  """
  if gt_boxes.shape[0] == 0:
    gt_boxes, gt_valid = jnp.zeros((1, 4), anchors.dtype), jnp.zeros((1,), bool)
  gt_valid = usable_gt(gt_boxes, gt_valid)
  matches = match(box_ops.box_iou(gt_boxes, anchors), fg_iou, bg_iou, True, gt_valid)
  labels = jnp.where(matches >= 0, 1, jnp.where(matches == BELOW_LOW, 0, -1))
  pos, neg = balanced_sample(key, labels, batch_size, positive_fraction)
  deltas = box_ops.encode(gt_boxes[jnp.maximum(matches, 0)], anchors)
  return (labels == 1).astype(jnp.float32), pos | neg, deltas
