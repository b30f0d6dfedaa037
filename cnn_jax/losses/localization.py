"""The course's localization loss, masked by p_c, and the landmark loss (pure jnp).

Target y = [p_c, bx, by, bh, bw, c1..cn] (models.localization); the network's raw output is
decoded as p̂_c = sigmoid, b̂ = sigmoid(4 values), ĉ = softmax. Per example:

  teaching form (the course's all-L2 loss):
      p_c = 1:  L = (p̂_c - p_c)² + Σ_k (b̂_k - b_k)² + Σ_j (ĉ_j - c_j)²
      p_c = 0:  L = (p̂_c - p_c)²
  practical form ("in practice"): logistic loss for p_c, a box loss, softmax cross-entropy:
      L = BCE(p̂_c, p_c) + p_c · [w_box · box(b̂, b) + w_cls · CE(ĉ, class)]
      box: 'l2' Σ_k (b̂_k - b_k)²  |  'smooth_l1' Σ_k smoothL1_β(b̂_k - b_k)  |
           'giou' 1 - GIoU of the two boxes in pixels-free units (the unit square)

With p_c = 0 only the p_c term is left: the box and class terms are selected away by
`jnp.where`, so their gradients with respect to the box and class outputs are exactly 0 (not
merely small) for those examples — tests/test_localization.py checks it.

Reduction (`normalize`): the p_c term is averaged over the batch; the masked terms over the
examples that have an object ('present', so an image without objects does not dilute the
box gradient: a classic porting bug) or over the whole batch ('batch', the course's
per-example sum then mean).

Landmarks: L points as normalised (x / W, y / H); `landmark_loss` is the mean over valid
points of the squared Euclidean distance ('l2') or of smooth-L1 per coordinate, averaged over
examples with at least one valid point.
"""
import jax
import jax.numpy as jnp

from cnn_jax.losses.boxes import generalized_box_iou_loss, smooth_l1_loss
from cnn_jax.ops import boxes as box_ops

FORMS = ('teaching', 'practical')
BOX_LOSSES = ('l2', 'smooth_l1', 'giou')
NORMALIZE = ('present', 'batch')


def _unit_xyxy(box: jax.Array) -> jax.Array:
  """(bx, by, bh, bw) fractions -> xyxy in the unit square (aspect of the image ignored)."""
  return box_ops.convert(jnp.stack([box[..., 0], box[..., 1], box[..., 3], box[..., 2]], -1),
                         'cxcywh', 'xyxy')


def box_term(pred_box: jax.Array, box: jax.Array, kind: str = 'l2',
             beta: float = 1.0 / 9) -> jax.Array:
  """Per-example box loss of (bx, by, bh, bw) [N, 4] pairs -> [N] (see the module docstring)."""
  if kind == 'l2':
    return jnp.sum((pred_box - box) ** 2, -1)
  if kind == 'smooth_l1':
    return jnp.sum(smooth_l1_loss(pred_box, box, beta), -1)
  if kind == 'giou':
    return generalized_box_iou_loss(_unit_xyxy(pred_box), _unit_xyxy(box))
  raise ValueError(f'Unknown box loss {kind!r}; choose one of {list(BOX_LOSSES)} '
                   '(config.loss.box).')


def localization_terms(y_raw: jax.Array, present: jax.Array, box: jax.Array, label: jax.Array,
                       form: str = 'practical', box_loss: str = 'l2',
                       beta: float = 1.0 / 9) -> dict:
  """Per-example terms [N] of the chosen form: 'p_c', 'box', 'class' (the last two 0 where
  present is False).

  Args:
    y_raw: [N, 5 + n] raw network outputs.
    present: [N] bool (p_c of the target).
    box: [N, 4] target (bx, by, bh, bw) fractions (anything where not present).
    label: [N] int class (anything where not present).
  """
  if form not in FORMS:
    raise ValueError(f'Unknown loss form {form!r}; choose one of {list(FORMS)} (config.loss.form).')
  present = present.astype(bool)
  p = present.astype(y_raw.dtype)
  pred_box = jax.nn.sigmoid(y_raw[:, 1:5])
  # absent rows get a harmless target, so no term is ever NaN before it is selected away
  safe_box = jnp.where(present[:, None], box, jnp.full_like(box, 0.5))
  safe_label = jnp.where(present, label, 0)
  logits = y_raw[:, 5:]
  if form == 'teaching':
    pc = (jax.nn.sigmoid(y_raw[:, 0]) - p) ** 2
    bx = jnp.sum((pred_box - safe_box) ** 2, -1)
    onehot = jax.nn.one_hot(safe_label, logits.shape[-1], dtype=y_raw.dtype)
    cls = jnp.sum((jax.nn.softmax(logits, -1) - onehot) ** 2, -1)
  else:
    # BCE from the logit: log(1 + e^{-z}) for p = 1, log(1 + e^{z}) for p = 0
    pc = jax.nn.softplus(y_raw[:, 0]) - p * y_raw[:, 0]
    bx = box_term(pred_box, safe_box, box_loss, beta)
    cls = -jnp.take_along_axis(jax.nn.log_softmax(logits, -1), safe_label[:, None], -1)[:, 0]
  zero = jnp.zeros_like(pc)
  return {'p_c': pc, 'box': jnp.where(present, bx, zero), 'class': jnp.where(present, cls, zero)}


def localization_loss(y_raw, present, box, label, form: str = 'practical', box_loss: str = 'l2',
                      box_weight: float = 1.0, class_weight: float = 1.0,
                      normalize: str = 'present', beta: float = 1.0 / 9,
                      weights: jax.Array | None = None) -> tuple[jax.Array, dict]:
  """Scalar loss and its parts {'p_c', 'box', 'class'} (each already reduced).

  loss = mean_N(p_c term) + (box_weight · Σ box + class_weight · Σ class) / D, D = the
  number of present examples (at least 1) for normalize='present', N for 'batch'.
  `weights` [N] (e.g. the eval padding mask) weights every example (default 1)."""
  if normalize not in NORMALIZE:
    raise ValueError(f'Unknown normalize {normalize!r}; choose one of {list(NORMALIZE)} '
                     '(config.loss.normalize).')
  terms = localization_terms(y_raw, present, box, label, form, box_loss, beta)
  w = jnp.ones_like(terms['p_c']) if weights is None else weights.astype(terms['p_c'].dtype)
  n = jnp.maximum(jnp.sum(w), 1.0)
  d = jnp.maximum(jnp.sum(w * present), 1.0) if normalize == 'present' else n
  parts = {'p_c': jnp.sum(w * terms['p_c']) / n, 'box': jnp.sum(w * terms['box']) / d,
           'class': jnp.sum(w * terms['class']) / d}
  return parts['p_c'] + box_weight * parts['box'] + class_weight * parts['class'], parts


def landmark_loss(pred: jax.Array, target: jax.Array, valid: jax.Array | None = None,
                  kind: str = 'l2', beta: float = 0.01) -> jax.Array:
  """Mean landmark loss over valid points of normalised points pred, target [N, L, 2]
  (valid [N, L] bool; default all): 'l2' squared distance |p̂ - p|², 'smooth_l1' per
  coordinate (β in normalised units). Averaged per example over its valid points, then over
  the examples with any valid point."""
  if kind == 'l2':
    per_point = jnp.sum((pred - target) ** 2, -1)
  elif kind == 'smooth_l1':
    per_point = jnp.sum(smooth_l1_loss(pred, target, beta), -1)
  else:
    raise ValueError(f"Unknown landmark loss {kind!r}; choose 'l2' or 'smooth_l1' "
                     '(config.loss.landmarks).')
  v = jnp.ones(per_point.shape, pred.dtype) if valid is None else valid.astype(pred.dtype)
  per_example = jnp.sum(v * per_point, -1) / jnp.maximum(jnp.sum(v, -1), 1.0)
  has = (jnp.sum(v, -1) > 0).astype(pred.dtype)
  return jnp.sum(has * per_example) / jnp.maximum(jnp.sum(has), 1.0)
