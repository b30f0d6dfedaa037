"""Faster R-CNN (Ren et al. 2015) with static shapes, jitted from image to detections or training outputs.

    model = models.create('faster_rcnn', num_classes=11)        # 10 digits + background
    variables = model.init(key, x)                              # x: [N, H, W, 3], H, W % 32 == 0
    det = model.apply(variables, x)                             # dict of [N, 100, ...] arrays
    out = model.apply(variables, x, targets=(boxes, labels, valid), key=k, train=True)
    losses = losses.faster_rcnn.faster_rcnn_losses(out)       # the four losses

The course's pipeline, one feature level (C4-style, as torchvision with a plain backbone):

    backbone -> feature map F (stride s)
    RPN head: 3x3 conv + ReLU, then 1x1 convs -> A objectness logits and 4A deltas per cell
    proposals = ops.rpn.proposals(...)          (decode, clip, top-k, NMS 0.7, top-N)
    RoIAlign(F, proposals; 7x7, sampling ratio 2, aligned False)   torchvision's MultiScaleRoIAlign
    TwoMLPHead: flatten -> fc6 -> ReLU -> fc7 -> ReLU (representation_size)
    predictor: class logits [C] and class-specific deltas [4C]
    ops.roi_heads.postprocess_detections (score 0.05, per-class NMS 0.5, 100 detections)

Training (`targets` given) returns what torchvision's four losses need
(`losses.faster_rcnn.faster_rcnn_losses`): RPN outputs with the labels, mask and targets of
256 sampled anchors per image, box-head outputs on 512 sampled RoIs per image with their
labels and targets; proposals carry no gradient (torchvision detaches them too).

Inputs are float32 NHWC images whose height and width are multiples of `size_divisible` (32,
the padding torchvision's GeneralizedRCNNTransform applies; images that are already multiples
are not padded, so the two agree). Normalisation and resizing are the caller's (the data
pipeline's). Outputs are padded: `valid` marks the real rows. Backbone: `backbone=None` is a
small from-scratch stack of 3x3 stride-2 convs (`SmallBackbone`), or any zoo name, used
headless (`models.create(name, num_classes=None)`), taking `backbone_stage`'s activation.
"""
import math
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from cnn_jax.ops import anchors as anchor_ops
from cnn_jax.ops import roi_heads, rpn
from cnn_jax.ops.roi import roi_align

_conv_init = nn.initializers.normal(0.01)  # torchvision's RPN head init: N(0, 0.01), bias 0


class SmallBackbone(nn.Module):
  """Per entry c of `channels` a stage: 3x3 stride-2 conv + ReLU, then `depth - 1` 3x3 stride-1
  conv + ReLU, all c wide: `[N, H, W, C] -> [N, H/2^L, W/2^L, c_L]`.

  depth=1, norm=False is the stack the torchvision parity fixture uses. `norm` puts a batch
  norm (momentum 0.9, as PyTorch's 0.1) between each conv and its ReLU, the conv then without
  bias; the extra stride-1 convs grow the receptive field (2^l px per conv at stage l) to cover
  whole digits at stride 8.
  """
  channels: Sequence[int] = (32, 64, 64, 128)
  depth: int = 1
  norm: bool = False

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False, return_stages: bool = False):
    """The last map; with `return_stages`, `(it, {'stage1': stride 2, 'stage2': stride 4, ...})`."""
    if self.depth < 1:
      raise ValueError(f'SmallBackbone depth must be >= 1 (convs per stage), got {self.depth}')
    stages = {}
    for i, c in enumerate(self.channels):
      for j in range(self.depth):
        # Explicit (1, 1) padding: torch's padding=1; flax 'SAME' pads (0, 1) at stride 2.
        x = nn.Conv(c, (3, 3), strides=2 if j == 0 else 1, padding=((1, 1), (1, 1)),
                    use_bias=not self.norm, name=f'conv{i}' if j == 0 else f'conv{i}_{j}')(x)
        if self.norm:
          x = nn.BatchNorm(use_running_average=not train, momentum=0.9,
                           name=f'bn{i}' if j == 0 else f'bn{i}_{j}')(x)
        x = nn.relu(x)
      stages[f'stage{i + 1}'] = x
    return (x, stages) if return_stages else x


class RPNHead(nn.Module):
  """3x3 conv + ReLU, then objectness `[N, H W A]` and deltas `[N, H W A, 4]` ((row, col, anchor) order)."""
  num_anchors: int

  @nn.compact
  def __call__(self, feature: jax.Array) -> tuple[jax.Array, jax.Array]:
    n, h, w, c = feature.shape
    t = nn.relu(nn.Conv(c, (3, 3), padding=((1, 1), (1, 1)), kernel_init=_conv_init,
                        name='conv')(feature))
    obj = nn.Conv(self.num_anchors, (1, 1), kernel_init=_conv_init, name='cls_logits')(t)
    deltas = nn.Conv(4 * self.num_anchors, (1, 1), kernel_init=_conv_init, name='bbox_pred')(t)
    return obj.reshape(n, h * w * self.num_anchors), deltas.reshape(n, h * w * self.num_anchors, 4)


class FasterRCNN(nn.Module):
  """Faster R-CNN; `num_classes` counts the background (class 0). Fields are torchvision's defaults."""
  num_classes: int = 11
  backbone: str | None = None
  backbone_stage: str = 'stage3'
  backbone_channels: Sequence[int] = (32, 64, 64, 128)
  backbone_depth: int = 1
  backbone_norm: bool = False
  anchor_sizes: Sequence[float] = (32.0, 64.0, 128.0)
  aspect_ratios: Sequence[float] = (0.5, 1.0, 2.0)
  size_divisible: int = 32
  rpn_pre_nms_top_n_train: int = 2000
  rpn_post_nms_top_n_train: int = 2000
  rpn_pre_nms_top_n_test: int = 1000
  rpn_post_nms_top_n_test: int = 1000
  rpn_nms_thresh: float = 0.7
  rpn_fg_iou_thresh: float = 0.7
  rpn_bg_iou_thresh: float = 0.3
  rpn_batch_size_per_image: int = 256
  rpn_positive_fraction: float = 0.5
  box_fg_iou_thresh: float = 0.5
  box_bg_iou_thresh: float = 0.5
  box_batch_size_per_image: int = 512
  box_positive_fraction: float = 0.25
  box_score_thresh: float = 0.05
  box_nms_thresh: float = 0.5
  box_detections_per_img: int = 100
  representation_size: int = 1024
  roi_output_size: int = 7
  sampling_ratio: int = 2
  aligned: bool = False
  fpn_stages: Sequence[str] = ()
  fpn_channels: int = 256
  fpn_canonical_scale: float = 224.0
  fpn_canonical_level: int = 4

  def _check(self, images):
    if images.ndim != 4:
      raise ValueError(f'images must be [N, H, W, C], got shape {images.shape}')
    h, w = images.shape[1:3]
    d = self.size_divisible
    if h < d or w < d or h % d or w % d:
      raise ValueError(f'image size {h}x{w}: height and width must be multiples of '
                       f'size_divisible={d} (at least {d}); pad the images (bottom/right).')

  def _features(self, images, train) -> list:
    """The maps the RPN runs on, finest first: [backbone_stage's], or the FPN's levels."""
    if self.backbone is None:
      net = SmallBackbone(self.backbone_channels, self.backbone_depth, self.backbone_norm,
                          name='backbone')
    else:
      from cnn_jax import models  # models/__init__ imports the registry, which names this file
      net = models.create(self.backbone, num_classes=None).clone(parent=self, name='backbone')
    last, stages = net(images, train=train, return_stages=True)
    if self.backbone is None and not self.fpn_stages:
      return [last]                          # the small backbone ends at its last stage
    wanted = tuple(self.fpn_stages) or (self.backbone_stage,)
    for stage in wanted:
      if stage not in stages:
        field = 'fpn_stages' if self.fpn_stages else 'backbone_stage'
        raise ValueError(f'{field}: {stage!r} not in the backbone\'s stages {sorted(stages)}')
    if not self.fpn_stages:
      return [stages[self.backbone_stage]]
    from cnn_jax.models.fpn import FPN
    return FPN(self.fpn_channels, name='fpn')([stages[k] for k in self.fpn_stages])

  def _anchors(self, size, levels):
    """Anchors `[M, 4]` of all levels and the per-level counts (one size per level with FPN)."""
    grids = [tuple(f.shape[1:3]) for f in levels]
    if self.fpn_stages:
      if len(self.anchor_sizes) != len(levels):
        raise ValueError(f'with fpn_stages {tuple(self.fpn_stages)} there are {len(levels)} '
                         f'levels (+1 pooled): anchor_sizes needs one size per level, got '
                         f'{tuple(self.anchor_sizes)}')
      sizes = [(s,) for s in self.anchor_sizes]
    else:
      sizes = [self.anchor_sizes]
    anchors = anchor_ops.multilevel_anchors(size, grids, sizes,
                                            [self.aspect_ratios] * len(levels))
    a = len(self.aspect_ratios) * len(sizes[0])
    return anchors, [h * w * a for h, w in grids]

  def _roi_features(self, levels, rois, image_shape):
    """RoIAlign crops `[N K, s, s, C]` of rois `[N, K, 4]`, torchvision's MultiScaleRoIAlign:
    each level's scale is the power of 2 nearest feature / image size; with several levels
    (FPN, the pooled level left out) each roi reads the level `ops.roi_heads.fpn_levels` gives."""
    n, k = rois.shape[:2]
    flat, index = rois.reshape(n * k, 4), jnp.repeat(jnp.arange(n), k)
    if self.fpn_stages:
      levels = levels[:-1]
    scales = [2.0 ** round(math.log2(f.shape[1] / image_shape[0])) for f in levels]
    crops = [roi_align(f, flat, index, self.roi_output_size, s, self.sampling_ratio,
                       self.aligned) for f, s in zip(levels, scales)]
    if len(crops) == 1:
      return crops[0]
    # Static shapes: every level crops every roi, each roi keeps its own level's crop.
    lvl = roi_heads.fpn_levels(flat, round(-math.log2(scales[0])), round(-math.log2(scales[-1])),
                               self.fpn_canonical_scale, self.fpn_canonical_level)
    return jnp.take_along_axis(jnp.stack(crops), lvl[None, :, None, None, None], 0)[0]

  def _box_head(self, levels, rois, image_shape):
    """Class logits `[N, K, C]` and deltas `[N, K, 4C]` of rois `[N, K, 4]`."""
    n, k = rois.shape[:2]
    crops = self._roi_features(levels, rois, image_shape)
    # Flattened in NHWC order (h, w, c); torchvision's is (c, h, w): the converter permutes fc6.
    x = crops.reshape(n * k, -1)
    x = nn.relu(nn.Dense(self.representation_size, name='fc6')(x))
    x = nn.relu(nn.Dense(self.representation_size, name='fc7')(x))
    logits = nn.Dense(self.num_classes, name='cls_score')(x)
    deltas = nn.Dense(4 * self.num_classes, name='bbox_pred')(x)
    return logits.reshape(n, k, -1), deltas.reshape(n, k, -1)

  @nn.compact
  def __call__(self, images: jax.Array, train: bool = False, targets=None,
               key: jax.Array | None = None):
    """Detections dict (boxes `[N, D, 4]`, scores, labels, valid, proposals `[N, P, 4]`,
    proposal_scores, proposal_valid), or with `targets = (boxes [N, G, 4], labels [N, G],
    valid [N, G])` and `key` the training outputs (rpn_objectness `[N, M]`, rpn_deltas,
    rpn_labels, rpn_sampled, rpn_targets, class_logits `[N, R, C]`, box_regression,
    roi_labels, roi_targets, roi_valid) for `losses.faster_rcnn.faster_rcnn_losses`.

    For the supervised runner, `images` may be a batch dict {'image', 'boxes', 'labels',
    'boxes_valid'}: with train=True it is the training path (targets from the dict, key from
    the 'dropout' rng stream the runner passes), with train=False the detection path."""
    if isinstance(images, dict):
      if train and targets is None:
        targets = (images['boxes'], images['labels'], images['boxes_valid'])
        if key is None:
          key = self.make_rng('dropout')
      images = images['image']
    self._check(images)
    size = tuple(images.shape[1:3])
    levels = self._features(images, train)
    anchors, level_sizes = self._anchors(size, levels)
    per_cell = len(self.aspect_ratios) * (1 if self.fpn_stages else len(self.anchor_sizes))
    head = RPNHead(per_cell, name='rpn_head')
    rpn_out = [head(f) for f in levels]     # one head shared by the levels (torchvision's)
    objectness = jnp.concatenate([o for o, _ in rpn_out], 1)
    deltas = jnp.concatenate([d for _, d in rpn_out], 1)
    training = targets is not None
    pre = self.rpn_pre_nms_top_n_train if training else self.rpn_pre_nms_top_n_test
    post = self.rpn_post_nms_top_n_train if training else self.rpn_post_nms_top_n_test
    props = jax.vmap(lambda o, d: rpn.proposals(
        jax.lax.stop_gradient(o), jax.lax.stop_gradient(d), anchors, level_sizes, size,
        pre, post, self.rpn_nms_thresh))(objectness, deltas)
    if not training:
      logits, regression = self._box_head(levels, props.boxes, size)
      det = jax.vmap(lambda l, r, p, v: roi_heads.postprocess_detections(
          l, r, p, v, size, self.box_score_thresh, self.box_nms_thresh,
          self.box_detections_per_img))(logits, regression, props.boxes, props.valid)
      return dict(boxes=det.boxes, scores=det.scores, labels=det.labels, valid=det.valid,
                  proposals=props.boxes, proposal_scores=props.scores,
                  proposal_valid=props.valid)
    if key is None:
      raise ValueError('training (targets given) needs key= for the anchor and RoI samplers')
    gt_boxes, gt_labels, gt_valid = targets
    n = images.shape[0]
    keys = jax.random.split(key, (n, 2))
    labels, sampled, rpn_t = jax.vmap(lambda k, b, v: rpn.rpn_targets(
        k, anchors, b, v, self.rpn_batch_size_per_image, self.rpn_positive_fraction,
        self.rpn_fg_iou_thresh, self.rpn_bg_iou_thresh))(keys[:, 0], gt_boxes, gt_valid)
    samples = jax.vmap(lambda k, p, pv, b, l, v: roi_heads.sample_proposals(
        k, p, pv, b, l, v, self.box_batch_size_per_image, self.box_positive_fraction,
        self.box_fg_iou_thresh, self.box_bg_iou_thresh))(
            keys[:, 1], props.boxes, props.valid, gt_boxes, gt_labels.astype(jnp.int32), gt_valid)
    logits, regression = self._box_head(levels, samples.rois, size)
    return dict(rpn_objectness=objectness, rpn_deltas=deltas, rpn_labels=labels,
                rpn_sampled=sampled, rpn_targets=rpn_t, class_logits=logits,
                box_regression=regression, roi_labels=samples.labels,
                roi_targets=samples.targets, roi_valid=samples.valid)
