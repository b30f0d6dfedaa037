"""Anchor (prior) shapes by k-means with the distance d = 1 - IoU (YOLOv2, §2 "Dimension Clusters").

Boxes are compared by shape only, as if they shared a centre:

    IoU(a, b) = min(wa, wb) min(ha, hb) / (wa ha + wb hb - min(wa, wb) min(ha, hb))

Euclidean k-means on (w, h) lets big boxes dominate the error; 1 - IoU does not. The YOLOv2
paper (Table 1) reports the average best IoU of the training boxes with their nearest
centroid for k = 1..9 (61.0 at k = 5 on VOC); `anchor_curve` gives the same curve for any
box set. `best_possible_recall` is YOLOv5's check (a box is reachable when some anchor is
within a factor `ratio` of it in both width and height).

    wh = boxes[valid][:, 2:] - boxes[valid][:, :2]            # [N, 2] pixels
    anchors, mean_iou = kmeans_anchors(wh, 5, jax.random.key(0))

Everything is jittable (static k and iteration count); padding rows are excluded with `valid`.
"""
from typing import NamedTuple

import jax
import jax.numpy as jnp


class KMeansResult(NamedTuple):
  """anchors `[k, 2]` (w, h) sorted by area; mean_iou `[]` over the valid boxes; assignment `[N]`."""
  anchors: jax.Array
  mean_iou: jax.Array
  assignment: jax.Array


def wh_iou(wh1: jax.Array, wh2: jax.Array) -> jax.Array:
  """IoU of centred boxes `[N, 2]` x `[K, 2]` (w, h) -> `[N, K]` (the formula above)."""
  inter = (jnp.minimum(wh1[:, None, 0], wh2[None, :, 0]) *
           jnp.minimum(wh1[:, None, 1], wh2[None, :, 1]))
  union = (wh1[:, 0] * wh1[:, 1])[:, None] + (wh2[:, 0] * wh2[:, 1])[None, :] - inter
  return jnp.where(union > 0, inter / jnp.where(union > 0, union, 1.0), 0.0)


def kmeans_anchors(wh: jax.Array, k: int, key: jax.Array, iterations: int = 100,
                   valid: jax.Array | None = None) -> KMeansResult:
  """Lloyd's k-means with d = 1 - IoU on box shapes.

  Args:
    wh: `[N, 2]` box widths and heights (> 0 for valid rows).
    k: number of anchors (static).
    key: picks the k initial centroids among the valid boxes (k-means++ seeding with the
      1 - IoU distance, so restarts with other keys are rarely needed).
    iterations: Lloyd steps (static); a cluster that loses all its boxes keeps its centroid.
    valid: optional `[N]` bool, rows to use (padding excluded).
  Returns:
    KMeansResult; centroids are the mean (w, h) of their boxes, as in YOLOv2's clustering.
  """
  wh = jnp.asarray(wh, jnp.float32)
  n = wh.shape[0]
  valid = jnp.ones((n,), bool) if valid is None else jnp.asarray(valid, bool)
  w = valid.astype(jnp.float32)

  def seed(carry, key_i):
    centroids, i = carry
    d = 1.0 - jnp.max(jnp.where(jnp.arange(k) < i, wh_iou(wh, centroids), 0.0), axis=1)
    p = jnp.where(i == 0, w, w * d * d)
    p = jnp.where(p.sum() > 0, p, w)
    pick = jax.random.choice(key_i, n, p=p / p.sum())
    return (centroids.at[i].set(wh[pick]), i + 1), None

  (centroids, _), _ = jax.lax.scan(seed, (jnp.ones((k, 2), jnp.float32), 0),
                                   jax.random.split(key, k))

  def lloyd(centroids, _):
    assign = jnp.argmax(wh_iou(wh, centroids), axis=1)
    member = jax.nn.one_hot(assign, k) * w[:, None]          # [N, k]
    count = member.sum(0)
    mean = (member.T @ wh) / jnp.maximum(count, 1.0)[:, None]
    return jnp.where(count[:, None] > 0, mean, centroids), None

  centroids, _ = jax.lax.scan(lloyd, centroids, None, length=iterations)
  centroids = centroids[jnp.argsort(centroids[:, 0] * centroids[:, 1])]
  iou = wh_iou(wh, centroids)
  best = jnp.max(iou, axis=1)
  mean_iou = jnp.sum(best * w) / jnp.maximum(w.sum(), 1.0)
  return KMeansResult(centroids, mean_iou, jnp.argmax(iou, axis=1).astype(jnp.int32))


def mean_best_iou(wh: jax.Array, anchors: jax.Array, valid: jax.Array | None = None) -> jax.Array:
  """Average over the valid boxes of the IoU with the best-fitting anchor (YOLOv2's Avg IoU)."""
  w = jnp.ones(wh.shape[0]) if valid is None else jnp.asarray(valid, jnp.float32)
  return jnp.sum(jnp.max(wh_iou(wh, anchors), axis=1) * w) / jnp.maximum(w.sum(), 1.0)


def best_possible_recall(wh: jax.Array, anchors: jax.Array, ratio: float = 4.0,
                         valid: jax.Array | None = None) -> jax.Array:
  """Fraction of valid boxes with an anchor within a factor `ratio` in width AND height
  (YOLOv5's autoanchor check: max(r, 1/r) < ratio for r = w / w_a and h / h_a)."""
  r = wh[:, None, :] / anchors[None, :, :]
  worst = jnp.max(jnp.maximum(r, 1.0 / r), axis=-1)          # [N, K]
  reachable = jnp.min(worst, axis=1) < ratio
  w = jnp.ones(wh.shape[0]) if valid is None else jnp.asarray(valid, jnp.float32)
  return jnp.sum(reachable * w) / jnp.maximum(w.sum(), 1.0)


def anchor_curve(wh: jax.Array, ks, key: jax.Array, iterations: int = 100,
                 valid: jax.Array | None = None) -> dict[int, float]:
  """{k: average best IoU} for each k (YOLOv2's Figure 2 / Table 1)."""
  fit = jax.jit(kmeans_anchors, static_argnums=(1, 3))
  return {int(k): float(fit(wh, int(k), key, iterations, valid).mean_iou) for k in ks}
