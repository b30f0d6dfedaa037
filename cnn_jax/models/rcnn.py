"""R-CNN and Fast R-CNN on given proposals (e.g. data.selective_search), static shapes, jitted.

The lineage (course §3): all three classify proposals into C classes (0 = background) and
regress a class-specific box per proposal; they differ in where features come from.

  R-CNN (Girshick et al. 2014): every proposal is cropped from the IMAGE, dilated so that
    `context` pixels of surround remain at the warped size (the paper's p = 16 at 227 px),
    warped to `warp_size` x `warp_size` (bilinear, ops.roi.roi_align on the image, aligned),
    and run through its own small convnet (`CropNet`): cost grows with proposals x convnet.
    Here trained end to end with softmax + smooth-L1 (Fast R-CNN's multi-task loss) instead
    of the paper's separate SVMs and pool5 regressors, so that only the crop-and-warp differs.
  Fast R-CNN (Girshick 2015): one backbone pass per image -> feature map F (stride 8); every
    proposal is pooled from F by RoIAlign 7x7 and classified by the two-fc box head. This is
    `FastRCNN`, a FasterRCNN without the RPN: the backbone and box head are FasterRCNN's own
    (`_features`, `_box_head`: same parameter names, so weights move between the two).
  Faster R-CNN (models.faster_rcnn): the proposals come from a network (RPN) on F too.

Inputs: a batch dict {'image' [N, H, W, C] float, 'proposals' [N, P, 4] xyxy px,
'proposal_valid' [N, P]} plus, in training, {'boxes' [N, G, 4], 'labels' [N, G] in 1..C-1,
'boxes_valid' [N, G]}. Training (train=True) samples `box_batch_size_per_image` RoIs per image
from proposals + ground truth (ops.roi_heads.sample_proposals: IoU >= 0.5 foreground, at most
25% of them) and returns class_logits `[N, R, C]`, box_regression `[N, R, 4C]`, roi_labels,
roi_targets, roi_valid (losses.faster_rcnn.fastrcnn_loss). Eval returns padded detections
(ops.roi_heads.postprocess_detections: score > 0.05, per-class NMS 0.5, 100 per image):
boxes `[N, D, 4]`, scores, labels, valid.
"""
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from cnn_jax.models.faster_rcnn import FasterRCNN
from cnn_jax.ops import roi_heads
from cnn_jax.ops.roi import roi_align


def _sample(module, batch, key):
  """Training RoIs of a batch (vmap of ops.roi_heads.sample_proposals)."""
  n = batch['image'].shape[0]
  keys = jax.random.split(key, n)
  return jax.vmap(lambda k, p, pv, b, l, v: roi_heads.sample_proposals(
      k, p, pv, b, l, v, module.box_batch_size_per_image, module.box_positive_fraction,
      module.box_fg_iou_thresh, module.box_bg_iou_thresh))(
          keys, batch['proposals'], batch['proposal_valid'], batch['boxes'],
          batch['labels'].astype(jnp.int32), batch['boxes_valid'])


def _outputs(module, logits, regression, rois, rois_valid, size, samples=None):
  """Training outputs (samples given) or the padded detections."""
  if samples is not None:
    return dict(class_logits=logits, box_regression=regression, roi_labels=samples.labels,
                roi_targets=samples.targets, roi_valid=samples.valid)
  det = jax.vmap(lambda l, r, p, v: roi_heads.postprocess_detections(
      l, r, p, v, size, module.box_score_thresh, module.box_nms_thresh,
      module.box_detections_per_img))(logits, regression, rois, rois_valid)
  return dict(boxes=det.boxes, scores=det.scores, labels=det.labels, valid=det.valid)


def _check(batch):
  if not isinstance(batch, dict) or 'proposals' not in batch:
    raise ValueError('R-CNN / Fast R-CNN take a batch dict with image [N, H, W, C], proposals '
                     '[N, P, 4] and proposal_valid [N, P] (data.selective_search.propose).')
  if batch['image'].ndim != 4 or batch['proposals'].ndim != 3:
    raise ValueError(f"image must be [N, H, W, C] and proposals [N, P, 4]; got "
                     f"{batch['image'].shape} and {batch['proposals'].shape}")


def warp_boxes(boxes: jax.Array, warp_size: int, context: float) -> jax.Array:
  """R-CNN's context dilation: each box `[..., 4]` grown about its centre by the factor
  warp_size / (warp_size - 2 context), so that after warping the box to warp_size px,
  `context` px of surround lie on every side (the paper: 16 px at 227)."""
  factor = warp_size / (warp_size - 2.0 * context)
  centre = (boxes[..., :2] + boxes[..., 2:]) / 2
  half = (boxes[..., 2:] - boxes[..., :2]) / 2 * factor
  return jnp.concatenate([centre - half, centre + half], -1)


class CropNet(nn.Module):
  """R-CNN's per-crop convnet: per entry of `channels` 3x3 conv + ReLU + 2x2 max pool, then
  fc(representation) + ReLU, class logits `[K, C]` and deltas `[K, 4C]` of crops `[K, s, s, ch]`."""
  num_classes: int
  channels: Sequence[int] = (32, 64, 64)
  representation_size: int = 256

  @nn.compact
  def __call__(self, crops: jax.Array) -> tuple[jax.Array, jax.Array]:
    x = crops
    for i, c in enumerate(self.channels):
      x = nn.relu(nn.Conv(c, (3, 3), padding=((1, 1), (1, 1)), name=f'conv{i}')(x))
      x = nn.max_pool(x, (2, 2), (2, 2))
    x = nn.relu(nn.Dense(self.representation_size, name='fc6')(x.reshape(x.shape[0], -1)))
    return (nn.Dense(self.num_classes, name='cls_score')(x),
            nn.Dense(4 * self.num_classes, name='bbox_pred')(x))


class RCNN(nn.Module):
  """R-CNN on given proposals (module docstring); `num_classes` counts the background."""
  num_classes: int = 11
  warp_size: int = 32
  context: float = 2.0
  channels: Sequence[int] = (32, 64, 64)
  representation_size: int = 256
  box_fg_iou_thresh: float = 0.5
  box_bg_iou_thresh: float = 0.5
  box_batch_size_per_image: int = 64
  box_positive_fraction: float = 0.25
  box_score_thresh: float = 0.05
  box_nms_thresh: float = 0.5
  box_detections_per_img: int = 100

  def crops(self, images: jax.Array, rois: jax.Array) -> jax.Array:
    """Dilated, warped crops `[N K, s, s, C]` of rois `[N, K, 4]` from images `[N, H, W, C]`."""
    n, k = rois.shape[:2]
    boxes = warp_boxes(rois, self.warp_size, self.context).reshape(n * k, 4)
    # Bilinear warp: RoIAlign on the image itself (scale 1, pixel centres: aligned=True),
    # 2x2 samples per output pixel average the source when the box is larger than the warp.
    return roi_align(images, boxes, jnp.repeat(jnp.arange(n), k), self.warp_size, 1.0, 2, True)

  @nn.compact
  def __call__(self, batch: dict, train: bool = False, key: jax.Array | None = None):
    _check(batch)
    images = batch['image']
    n, size = images.shape[0], tuple(images.shape[1:3])
    samples = None
    if train:
      samples = _sample(self, batch, self.make_rng('dropout') if key is None else key)
      rois, rois_valid = samples.rois, samples.valid
    else:
      rois, rois_valid = batch['proposals'], batch['proposal_valid']
    k = rois.shape[1]
    logits, regression = CropNet(self.num_classes, self.channels, self.representation_size,
                                 name='crop_net')(self.crops(images, rois))
    return _outputs(self, logits.reshape(n, k, -1), regression.reshape(n, k, -1), rois,
                    rois_valid, size, samples)


class FastRCNN(FasterRCNN):
  """Fast R-CNN: FasterRCNN's backbone and RoIAlign box head on given proposals, no RPN."""

  @nn.compact
  def __call__(self, batch: dict, train: bool = False, key: jax.Array | None = None):
    _check(batch)
    images = batch['image']
    self._check(images)
    size = tuple(images.shape[1:3])
    feature = self._features(images, train)
    samples = None
    if train:
      samples = _sample(self, batch, self.make_rng('dropout') if key is None else key)
      rois, rois_valid = samples.rois, samples.valid
    else:
      rois, rois_valid = batch['proposals'], batch['proposal_valid']
    logits, regression = self._box_head(feature, rois, size)
    return _outputs(self, logits, regression, rois, rois_valid, size, samples)
