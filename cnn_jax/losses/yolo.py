"""The YOLOv2 loss (darknet's region layer, as the course describes it), term by term.

For predictor (cell, anchor) k of an image, with 1_k^obj = 1 when `ops.yolo.build_targets`
gave it an object and p_k = σ(to_k):

    object    = Σ_k 1_k^obj (p_k - ĉ_k)²                  ĉ_k = IoU(pred box, truth) ('rescore')
                                                                 or 1
    no_object = Σ_k 1_k^noobj p_k²                        1_k^noobj = not obj and the predicted
                                                          box's best IoU with every truth
                                                          <= ignore_threshold (0.6): a good box
                                                          in the wrong predictor is not punished
    coord     = Σ_k 1_k^obj s_k [(σ(tx) - x̂)² + (σ(ty) - ŷ)² + (tw - ŵ)² + (th - ĥ)²]
                                                          x̂, ŷ: the centre's offset in its cell;
                                                          ŵ = log(bw / pw); s_k = 2 - bw bh / (W H)
                                                          with 'scale_small_boxes', else 1
    class     = Σ_k 1_k^obj CE(softmax(logits_k), label_k)   ('softmax_ce'; or 'l2' on the
                                                          softmax vs one-hot, as YAD2K)

    loss = object_scale object + noobject_scale no_object + coord_scale coord + class_scale class

Each sum runs over the predictors of one image and is averaged over the batch (not summed,
unlike YAD2K: the scale does not depend on the batch size). Defaults are YOLOv2's
(object 5, no-object 1, coord 1, class 1, ignore 0.6, rescore on).
"""
import dataclasses

import jax
import jax.numpy as jnp

from cnn_jax.ops import boxes as box_ops
from cnn_jax.ops import yolo

CLASS_LOSSES = ('softmax_ce', 'l2')


@dataclasses.dataclass(frozen=True)
class YoloLossConfig:
  """The loss's scales and rules (module docstring)."""
  object_scale: float = 5.0
  noobject_scale: float = 1.0
  coord_scale: float = 1.0
  class_scale: float = 1.0
  ignore_threshold: float = 0.6
  rescore: bool = True
  scale_small_boxes: bool = True
  class_loss: str = 'softmax_ce'

  def __post_init__(self):
    if self.class_loss not in CLASS_LOSSES:
      raise ValueError(f'Unknown class_loss {self.class_loss!r}; choose one of '
                       f'{list(CLASS_LOSSES)} (config.loss.class_loss).')


def yolo_loss_terms(raw: jax.Array, boxes: jax.Array, labels: jax.Array, valid: jax.Array,
                    anchors: jax.Array, stride: float, image_size: tuple[int, int],
                    cfg: YoloLossConfig = YoloLossConfig()) -> dict:
  """The four unscaled terms of ONE image (module docstring).

  Args:
    raw: `[S_h, S_w, A, 5 + C]` network output. boxes `[N, 4]` xyxy, labels `[N]`, valid `[N]`:
      the padded ground truth. anchors `[A, 2]` pixels. image_size: (H, W).
  Returns:
    {'object', 'no_object', 'coord', 'class'}: scalars.
  """
  grid, a = raw.shape[:2], raw.shape[2]
  t = yolo.build_targets(boxes, labels, valid, anchors, grid, stride)
  obj = t['object'].astype(raw.dtype)
  pred = yolo.decode(raw, anchors, stride)
  p = pred['objectness']
  iou_all = box_ops.box_iou(pred['boxes'].reshape(-1, 4), boxes)          # [G, N]
  best = jnp.max(jnp.where(valid[None, :], iou_all, 0.0), axis=1).reshape(p.shape)
  noobj = (1.0 - obj) * (best <= cfg.ignore_threshold)
  if cfg.rescore:
    own = box_ops.paired_iou(pred['boxes'], t['box'])
    target = jax.lax.stop_gradient(own)
  else:
    target = jnp.ones_like(p)
  object_term = jnp.sum(obj * (p - target) ** 2)
  no_object = jnp.sum(noobj * p ** 2)
  if cfg.scale_small_boxes:
    h, w = image_size
    wh = t['box'][..., 2:] - t['box'][..., :2]
    weight = 2.0 - wh[..., 0] * wh[..., 1] / (h * w)
  else:
    weight = jnp.ones_like(p)
  xy = jnp.sum((jax.nn.sigmoid(raw[..., :2]) - t['offset']) ** 2, -1)
  twh = jnp.sum((raw[..., 2:4] - t['log_wh']) ** 2, -1)
  coord = jnp.sum(obj * weight * (xy + twh))
  logits = raw[..., 5:]
  if cfg.class_loss == 'softmax_ce':
    ce = -jnp.take_along_axis(jax.nn.log_softmax(logits), t['label'][..., None], -1)[..., 0]
  else:
    onehot = jax.nn.one_hot(t['label'], logits.shape[-1])
    ce = jnp.sum((jax.nn.softmax(logits) - onehot) ** 2, -1)
  return {'object': object_term, 'no_object': no_object, 'coord': coord,
          'class': jnp.sum(obj * ce)}


def yolo_loss(raw: jax.Array, boxes: jax.Array, labels: jax.Array, valid: jax.Array,
              anchors: jax.Array, stride: float, image_size: tuple[int, int],
              cfg: YoloLossConfig = YoloLossConfig()) -> tuple[jax.Array, dict]:
  """Batch loss: raw `[B, S_h, S_w, A, 5 + C]`, boxes `[B, N, 4]`, labels/valid `[B, N]` ->
  (scalar, {term: batch mean of the unscaled term}); terms averaged over the batch."""
  terms = jax.vmap(lambda r, b, l, v: yolo_loss_terms(r, b, l, v, anchors, stride, image_size,
                                                      cfg))(raw, boxes, labels, valid)
  terms = {k: v.mean() for k, v in terms.items()}
  loss = (cfg.object_scale * terms['object'] + cfg.noobject_scale * terms['no_object']
          + cfg.coord_scale * terms['coord'] + cfg.class_scale * terms['class'])
  return loss, terms
