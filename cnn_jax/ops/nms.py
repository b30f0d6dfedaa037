"""Non-maximum suppression with static shapes: greedy, per-class (batched), soft, the course's.

The course's procedure, for one class with detection probabilities p_c:

    1. discard every box with p_c <= 0.6;
    2. while boxes remain: take the box with the largest p_c and output it; discard every
       remaining box whose IoU with it is > 0.5.

`nms` is step 2 with any threshold (step 1 is `score_threshold`), `course_nms` the exact recipe.
Results are padded to a fixed `max_output_size`: `indices` into the input, in decreasing
score order, -1 after the first `count` entries.

Rules, chosen to equal `torchvision.ops.nms` / `batched_nms` for every IoU threshold:
- score ties: the lower input index comes first (a stable sort, as torchvision's CPU kernel);
- IoU ties: a box is suppressed when IoU > iou_threshold; `suppress_equal=True` makes it >=;
- boxes with NaN scores, `valid=False`, or score <= score_threshold never enter;
- degenerate boxes (zero area, x2 < x1, NaN) have IoU 0 with everything (`ops.boxes`), so
  they are never suppressed, only kept in score order (torchvision: NaN IoU, same outcome).

Cost. Class-agnostic: one pass over the N sorted boxes per kept box, O(N * kept) work in
`kept` steps of a `lax.while_loop` that stops when no candidate is left or max_output_size is
reached. Per-class (`labels`): boxes are grouped by class and each kept box sweeps only a
static window as long as the largest class, O(L * kept) work (torchvision's per-class loop,
without its data-dependent shapes); all classes are finished before the top max_output_size
are taken. `pre_nms_top_k` bounds N first. Everything works under `jit` and `vmap` (a batch
of images); under `vmap` the per-class path's `cond`/`switch` become selects that compute
every window size, so for large batches `jax.lax.map` over the images can be faster.
"""
import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp

from cnn_jax.ops import boxes as box_ops


class NMSResult(NamedTuple):
  """`indices` `[K]` int32 into the input boxes (-1 padded, decreasing score); `count` `[]`."""
  indices: jax.Array
  count: jax.Array

  @property
  def mask(self) -> jax.Array:
    """`[K]` bool: True for the first `count` (real) entries."""
    return self.indices >= 0


class SoftNMSResult(NamedTuple):
  """Soft-NMS output: `indices` `[K]` (-1 padded), decayed `scores` `[K]` (0 padded), `count`."""
  indices: jax.Array
  scores: jax.Array
  count: jax.Array


def _candidates(boxes, scores, valid, score_threshold, pre_nms_top_k):
  """Sorts by decreasing score (stable), optionally keeps the top k: (order, boxes, alive)."""
  ok = ~jnp.isnan(scores)
  if valid is not None:
    ok &= valid
  if score_threshold is not None:
    ok &= scores > score_threshold
  key = jnp.where(ok, scores, -jnp.inf)
  if pre_nms_top_k is not None and pre_nms_top_k < scores.shape[0]:
    _, order = jax.lax.top_k(key, pre_nms_top_k)  # ties: lower index first, like the sort
  else:
    order = jnp.argsort(key, descending=True, stable=True)
  return order.astype(jnp.int32), box_ops.sanitize(boxes[order]), ok[order]


def _row_iou(sboxes, areas, j):
  """IoU `[M]` of sorted box j with all sorted boxes, in torchvision's nms operation order."""
  b = sboxes[j]
  w = jnp.maximum(jnp.minimum(b[2], sboxes[:, 2]) - jnp.maximum(b[0], sboxes[:, 0]), 0)
  h = jnp.maximum(jnp.minimum(b[3], sboxes[:, 3]) - jnp.maximum(b[1], sboxes[:, 1]), 0)
  inter = w * h
  union = areas[j] + areas - inter
  return jnp.where(union > 0, inter / jnp.where(union > 0, union, 1), 0)


def nms(boxes: jax.Array, scores: jax.Array, iou_threshold: float,
        max_output_size: int | None = None, *, labels: jax.Array | None = None,
        valid: jax.Array | None = None, score_threshold: float | None = None,
        pre_nms_top_k: int | None = None, suppress_equal: bool = False) -> NMSResult:
  """Greedy NMS: keep the best box, drop the rest that overlap it by IoU > threshold, repeat.

  Args:
    boxes: `[N, 4]` xyxy. scores: `[N]`.
    iou_threshold: suppress when IoU > iou_threshold (>= with suppress_equal).
    max_output_size: K, the static output length (default N). Stops after K kept boxes
      (the post-NMS top-k).
    labels: optional `[N]` int classes: boxes only suppress boxes of their own class (per-class
      NMS, torchvision's batched_nms).
    valid: optional `[N]` bool mask of real (non-padding) boxes.
    score_threshold: drop boxes with score <= this before NMS.
    pre_nms_top_k: run NMS on the k best-scoring boxes only.
    suppress_equal: the IoU tie rule (see module docstring).
  Returns:
    NMSResult(indices `[K]` int32 padded with -1, count `[]` int32).
  """
  boxes, scores = jnp.asarray(boxes), jnp.asarray(scores)
  n = boxes.shape[0]
  k = n if max_output_size is None else max_output_size
  if n == 0:
    return NMSResult(jnp.full((k,), -1, jnp.int32), jnp.int32(0))
  order, sboxes, alive = _candidates(boxes, scores, valid, score_threshold, pre_nms_top_k)
  suppresses = ((lambda iou: iou >= iou_threshold) if suppress_equal
                else (lambda iou: iou > iou_threshold))
  if labels is None:
    return _global_greedy(order, sboxes, alive, suppresses, k)
  return _per_class_greedy(order, sboxes, alive, jnp.asarray(labels)[order], scores, suppresses, k)


def _global_greedy(order, sboxes, alive, suppresses, k):
  """Greedy NMS over boxes sorted by score: each kept box sweeps all the others."""
  m = order.shape[0]
  areas = box_ops.box_area(sboxes)
  positions = jnp.arange(m)

  def cond(state):
    count, alive, _ = state
    return (count < k) & jnp.any(alive)

  def body(state):
    count, alive, out = state
    j = jnp.argmax(alive)  # first alive box in sorted order = highest remaining score
    alive = alive & ~suppresses(_row_iou(sboxes, areas, j)) & (positions != j)
    return count + 1, alive, out.at[count].set(order[j])

  out = jnp.full((k,), -1, jnp.int32)
  count, _, out = jax.lax.while_loop(cond, body, (jnp.int32(0), alive, out))
  return NMSResult(out, count)


def _windows(m: int) -> list[int]:
  """Static window lengths tried for the per-class sweep: m, m/4, m/16, ... (>= 64)."""
  sizes = [m]
  while sizes[-1] // 4 >= 64:
    sizes.append(sizes[-1] // 4)
  return sizes


def _per_class_greedy(order, sboxes, alive, slabels, scores, suppresses, k):
  """Per-class greedy NMS: classes are laid out contiguously, a box only sweeps its own class.

  Boxes are re-sorted by (label, score), so a kept box only needs the next L boxes, L the
  largest class: the sweep uses the smallest static window >= L (`lax.switch` over
  `_windows`), so the work is O(kept * L) instead of O(kept * N). All classes are processed,
  then the kept boxes are ordered by score and the first k returned.
  """
  m = order.shape[0]
  by_class = jnp.argsort(slabels, stable=True)  # stable: scores stay sorted within a class
  order, sboxes = order[by_class], sboxes[by_class]
  alive, slabels = alive[by_class], slabels[by_class]
  areas = box_ops.box_area(sboxes)
  largest = jnp.max(jnp.searchsorted(slabels, slabels, side='right') - jnp.arange(m), initial=0)
  sizes = _windows(m)

  def sweep(window):
    def body(p, state):
      alive, kept = state

      def keep(state):
        alive, kept = state
        start = jnp.minimum(p, m - window)  # the window [start, start + window) holds p's class
        boxes_w = jax.lax.dynamic_slice_in_dim(sboxes, start, window)
        areas_w = jax.lax.dynamic_slice_in_dim(areas, start, window)
        b = sboxes[p]
        w = jnp.maximum(jnp.minimum(b[2], boxes_w[:, 2]) - jnp.maximum(b[0], boxes_w[:, 0]), 0)
        h = jnp.maximum(jnp.minimum(b[3], boxes_w[:, 3]) - jnp.maximum(b[1], boxes_w[:, 1]), 0)
        inter = w * h
        union = areas[p] + areas_w - inter
        iou = jnp.where(union > 0, inter / jnp.where(union > 0, union, 1), 0)
        same = jax.lax.dynamic_slice_in_dim(slabels, start, window) == slabels[p]
        later = start + jnp.arange(window) > p
        alive_w = jax.lax.dynamic_slice_in_dim(alive, start, window)
        alive_w = alive_w & ~(suppresses(iou) & same & later)
        return jax.lax.dynamic_update_slice_in_dim(alive, alive_w, start, 0), kept.at[p].set(True)

      return jax.lax.cond(alive[p], keep, lambda state: state, (alive, kept))

    return jax.lax.fori_loop(0, m, body, (alive, jnp.zeros(m, bool)))[1]

  branch = jnp.sum(jnp.asarray([s >= largest for s in sizes], jnp.int32)) - 1
  kept = jax.lax.switch(branch, [functools.partial(sweep, s) for s in sizes])
  # Back to input order, then by decreasing score, ties by input index (torchvision's order).
  kept_input = jnp.zeros(scores.shape[0], bool).at[order].set(kept)
  ranked = jnp.argsort(jnp.where(kept_input, scores, -jnp.inf), descending=True, stable=True)
  ranked = ranked[jnp.argsort(~kept_input[ranked], stable=True)]  # kept -inf scores first too
  count = jnp.minimum(jnp.sum(kept), k).astype(jnp.int32)
  ranked = jnp.pad(ranked[:k].astype(jnp.int32), (0, max(k - ranked.shape[0], 0)))
  out = jnp.where(jnp.arange(k) < count, ranked, -1)
  return NMSResult(out, count)


def batched_nms(boxes: jax.Array, scores: jax.Array, labels: jax.Array, iou_threshold: float,
                max_output_size: int | None = None, **kwargs) -> NMSResult:
  """Per-class NMS (torchvision's batched_nms): boxes of different labels never suppress each other.

  Exact per class (no coordinate-offset trick); the kept indices of all classes come out
  together in decreasing score order. `kwargs` as in `nms` (valid, score_threshold,
  pre_nms_top_k, suppress_equal).
  """
  return nms(boxes, scores, iou_threshold, max_output_size, labels=labels, **kwargs)


def course_nms(boxes: jax.Array, p_c: jax.Array, max_output_size: int,
               p_threshold: float = 0.6, iou_threshold: float = 0.5,
               valid: jax.Array | None = None) -> NMSResult:
  """The course's procedure (module docstring): discard p_c <= 0.6, then greedy NMS at IoU > 0.5.

  Args: boxes `[N, 4]` xyxy, p_c `[N]` detection probabilities, max_output_size K.
  """
  return nms(boxes, p_c, iou_threshold, max_output_size, valid=valid,
             score_threshold=p_threshold)


def soft_nms(boxes: jax.Array, scores: jax.Array, max_output_size: int | None = None, *,
             method: str = 'gaussian', sigma: float = 0.5, iou_threshold: float = 0.3,
             score_threshold: float = 0.001, labels: jax.Array | None = None,
             valid: jax.Array | None = None) -> SoftNMSResult:
  """Soft-NMS (Bodla et al. 2017): decay overlapping scores instead of discarding the boxes.

  Repeat: output the box with the largest current score s_m (ties: lower input index);
  multiply every remaining score s_i by

      linear:   1 - IoU(m, i)   if IoU(m, i) > iou_threshold, else 1
      gaussian: exp(-IoU(m, i)² / sigma)
      hard:     0               if IoU(m, i) > iou_threshold, else 1   (= greedy NMS)

  and drop boxes whose score falls below score_threshold. With `labels`, only boxes of the
  same class decay.

  Args:
    boxes: `[N, 4]` xyxy. scores: `[N]`. max_output_size: K (default N).
  Returns:
    SoftNMSResult(indices `[K]` -1 padded, scores `[K]` decayed scores at selection, count).
  """
  if method not in ('linear', 'gaussian', 'hard'):
    raise ValueError(f"method must be 'linear', 'gaussian' or 'hard', got {method!r}")
  boxes, scores = jnp.asarray(boxes), jnp.asarray(scores)
  labels = None if labels is None else jnp.asarray(labels)
  n = boxes.shape[0]
  k = n if max_output_size is None else max_output_size
  if n == 0:
    return SoftNMSResult(jnp.full((k,), -1, jnp.int32), jnp.zeros((k,), scores.dtype), jnp.int32(0))
  sboxes = box_ops.sanitize(boxes)
  areas = box_ops.box_area(sboxes)
  alive = ~jnp.isnan(scores) & (scores >= score_threshold)
  if valid is not None:
    alive &= valid
  positions = jnp.arange(n)

  def cond(state):
    count, alive, *_ = state
    return (count < k) & jnp.any(alive)

  def body(state):
    count, alive, current, out_i, out_s = state
    j = jnp.argmax(jnp.where(alive, current, -jnp.inf))
    iou = _row_iou(sboxes, areas, j)
    if method == 'linear':
      decay = jnp.where(iou > iou_threshold, 1 - iou, 1)
    elif method == 'gaussian':
      decay = jnp.exp(-(iou * iou) / sigma)
    else:
      decay = jnp.where(iou > iou_threshold, 0, 1)
    if labels is not None:
      decay = jnp.where(labels == labels[j], decay, 1)
    out_i, out_s = out_i.at[count].set(j.astype(jnp.int32)), out_s.at[count].set(current[j])
    current = current * decay
    alive = alive & (positions != j) & (current >= score_threshold)
    return count + 1, alive, current, out_i, out_s

  state = (jnp.int32(0), alive, scores, jnp.full((k,), -1, jnp.int32),
           jnp.zeros((k,), scores.dtype))
  count, _, _, out_i, out_s = jax.lax.while_loop(cond, body, state)
  return SoftNMSResult(out_i, out_s, count)
