"""Faster R-CNN's two losses, on static-shape batches with masks (torchvision's numbers).

RPN (torchvision's compute_loss), over the S anchors sampled in the whole batch:

    L_obj = 1/S sum_sampled BCE(logit, label)
    L_box = 1/S sum_sampled positives smooth_l1(delta - target; beta = 1/9)

Box head (torchvision's fastrcnn_loss), over the R sampled RoIs of the batch:

    L_cls = 1/R sum CE(logits, label)
    L_box = 1/R sum_{label > 0} smooth_l1(deltas[label] - target; beta = 1/9)

(the box term is divided by all R RoIs, not by the foreground count, as torchvision.)
"""
import jax
import jax.numpy as jnp
import optax

from cnn_jax.losses.boxes import smooth_l1_loss


def rpn_loss(objectness: jax.Array, deltas: jax.Array, labels: jax.Array, sampled: jax.Array,
             targets: jax.Array) -> tuple[jax.Array, jax.Array]:
  """(L_obj, L_box) of the RPN; all inputs `[..., M]` (`[..., M, 4]` for deltas and targets).

  labels: 1.0 foreground / 0.0 background; sampled: bool mask of the anchors the sampler kept.
  """
  count = jnp.maximum(jnp.sum(sampled), 1)
  bce = optax.sigmoid_binary_cross_entropy(objectness, labels)
  obj = jnp.sum(jnp.where(sampled, bce, 0)) / count
  pos = sampled & (labels > 0.5)
  box = jnp.sum(jnp.where(pos[..., None], smooth_l1_loss(deltas, targets, 1.0 / 9), 0)) / count
  return obj, box


def fastrcnn_loss(class_logits: jax.Array, box_regression: jax.Array, labels: jax.Array,
                  targets: jax.Array, valid: jax.Array) -> tuple[jax.Array, jax.Array]:
  """(L_cls, L_box) of the box head.

  class_logits `[..., R, C]`, box_regression `[..., R, C * 4]`, labels `[..., R]` int
  (0 background), targets `[..., R, 4]` for the labelled class, valid `[..., R]`.
  """
  count = jnp.maximum(jnp.sum(valid), 1)
  ce = optax.softmax_cross_entropy_with_integer_labels(class_logits, labels)
  cls = jnp.sum(jnp.where(valid, ce, 0)) / count
  c = class_logits.shape[-1]
  per_class = box_regression.reshape(*box_regression.shape[:-1], c, 4)
  chosen = jnp.take_along_axis(per_class, labels[..., None, None], axis=-2)[..., 0, :]
  pos = valid & (labels > 0)
  box = jnp.sum(jnp.where(pos[..., None], smooth_l1_loss(chosen, targets, 1.0 / 9), 0)) / count
  return cls, box


def faster_rcnn_losses(outputs: dict) -> dict:
  """torchvision's four losses {rpn_objectness, rpn_box, classifier, box_reg} from the
  training outputs of `models.faster_rcnn.FasterRCNN` (its docstring lists the keys)."""
  obj, rpn_box = rpn_loss(outputs['rpn_objectness'], outputs['rpn_deltas'],
                          outputs['rpn_labels'], outputs['rpn_sampled'], outputs['rpn_targets'])
  cls, box = fastrcnn_loss(outputs['class_logits'], outputs['box_regression'],
                           outputs['roi_labels'], outputs['roi_targets'], outputs['roi_valid'])
  return dict(rpn_objectness=obj, rpn_box=rpn_box, classifier=cls, box_reg=box)
