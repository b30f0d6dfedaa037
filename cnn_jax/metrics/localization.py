"""Localization and landmark metrics, per example (so `train.evaluate.masked_means` can sum
them over a padded eval stream and divide once).

Localization, from raw y [N, 5 + n] (ops.localization.decode) and targets present [N],
box [N, 4] (bx, by, bh, bw fractions), label [N]; image size (H, W) for IoU in pixels:

  p_c correct      (p̂_c >= 0.5) == present                                  every example
  class correct    argmax ĉ == label                                         present only
  IoU              IoU(predicted box, true box) in pixels                    present only
  localized        p̂_c >= 0.5 and class right and IoU >= 0.5                 present only
  correct          present: localized; absent: p̂_c < 0.5                     every example

`localization_accuracy` = mean of 'correct' over all canvases (with and without an object);
means over present examples only are ratios of sums: `ratio(sums, 'iou', 'present')`.

Landmarks (NME, normalised mean error), for points [N, L, 2] in pixels:

  NME = mean over valid points of ‖p̂ - p‖₂ / d,   d per example, named by the caller:
  'box_diagonal' (sqrt(w² + h²) of the object's box; `box_diagonal`) or the distance between
  two named reference points ('inter_point', like the inter-ocular distance of faces:
  `inter_point_distance`). NMEs with different normalisers are not comparable.
"""
import jax
import jax.numpy as jnp

from cnn_jax.ops import boxes as box_ops
from cnn_jax.ops.localization import box_to_xyxy, decode


def localization_per_example(y_raw: jax.Array, present: jax.Array, box: jax.Array,
                             label: jax.Array, size: tuple[int, int],
                             iou_threshold: float = 0.5) -> dict:
  """Per-example float32 [N] values of the module table, plus 'present' (1/0), each of the
  present-only ones already multiplied by present."""
  out = decode(y_raw)
  present = present.astype(bool)
  p = present.astype(jnp.float32)
  says = out['p_c'] >= 0.5
  iou = box_ops.paired_iou(box_to_xyxy(out['box'], size), box_to_xyxy(box, size))
  cls_ok = out['class'] == label
  localized = says & cls_ok & (iou >= iou_threshold)
  return {'present': p,
          'pc_correct': (says == present).astype(jnp.float32),
          'class_correct': p * cls_ok,
          'iou': p * iou,
          'localized': p * localized,
          'correct': jnp.where(present, localized, ~says).astype(jnp.float32)}


def ratio(means: dict, name: str, over: str = 'present') -> jax.Array:
  """mean(name) / mean(over): a present-only mean from the all-example means."""
  return means[name] / jnp.maximum(means[over], 1e-12)


def summarize(means: dict) -> dict:
  """The reported numbers from the means of `localization_per_example`:
  localization_accuracy, pc_accuracy, class_accuracy, mean_iou, localized_present."""
  return {'localization_accuracy': means['correct'], 'pc_accuracy': means['pc_correct'],
          'class_accuracy': ratio(means, 'class_correct'), 'mean_iou': ratio(means, 'iou'),
          'localized_present': ratio(means, 'localized')}


def box_diagonal(boxes: jax.Array) -> jax.Array:
  """sqrt(w² + h²) of xyxy boxes [..., 4] -> [...] (the 'box_diagonal' NME normaliser)."""
  wh = boxes[..., 2:] - boxes[..., :2]
  return jnp.sqrt(jnp.sum(wh ** 2, -1))


def inter_point_distance(points: jax.Array, i: int, j: int) -> jax.Array:
  """‖points[..., i, :] - points[..., j, :]‖ -> [...] (an 'inter_point' normaliser, e.g. the
  two outer eye corners of a face, or 'left' and 'right' of a canvas digit)."""
  return jnp.sqrt(jnp.sum((points[..., i, :] - points[..., j, :]) ** 2, -1))


def nme_per_example(pred: jax.Array, target: jax.Array, normalizer: jax.Array,
                    valid: jax.Array | None = None) -> jax.Array:
  """Per-example NME [N]: mean over valid points of ‖p̂ - p‖₂ / normalizer (pixels in,
  pred, target [N, L, 2], normalizer [N] > 0)."""
  err = jnp.sqrt(jnp.sum((pred - target) ** 2, -1))
  v = jnp.ones(err.shape, err.dtype) if valid is None else valid.astype(err.dtype)
  return jnp.sum(v * err, -1) / jnp.maximum(jnp.sum(v, -1), 1.0) / normalizer
